module.exports = async (context) => {
  if (context.request.query.ok) return { body: 'still serving\n' };
  throw new TypeError('boom');
};
