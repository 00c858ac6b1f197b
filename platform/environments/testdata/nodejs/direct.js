module.exports = async (context) => {
  const res = context.response;
  res.status(206).set('X-Test', 'direct');
  res.write('written ');
  setTimeout(() => res.end('by the function\n'), 20);
};
