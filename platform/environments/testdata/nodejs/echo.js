module.exports = async (context) => {
  const req = context.request;
  let body = req.body;
  if (Buffer.isBuffer(body)) body = body.toString('utf8');
  else if (typeof body === 'object') body = Object.keys(body).length ? JSON.stringify(body) : '';
  return {
    status: 200,
    body: `${req.method} ${req.originalUrl} ${body}`,
    headers: { 'X-Method': req.method },
  };
};
