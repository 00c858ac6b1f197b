module.exports = async (context) => {
  return { body: 'never' ;
};
