module.exports = async function (context) {
  return {
    status: 200,
    body: 'Hello, ' + (context.request.query.name || 'world') + '!\n',
    headers: { 'X-Test': 'async' },
  };
};
