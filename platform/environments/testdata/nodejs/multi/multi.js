const { twice } = require('./lib');

module.exports = {
  a: async () => ({ body: 'a\n' }),
  b: async (context) => ({ status: 200, body: { b: twice(context.request.query.n || 1) } }),
};
