module.exports = () => 'zero args\n';
