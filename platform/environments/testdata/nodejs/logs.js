module.exports = async (context) => {
  const rid = context.request.headers['x-lantern-request-id'] || '-';
  console.log(`function stdout line ${rid}`);
  console.error(`function stderr line ${rid}`);
  return { status: 200, body: `logged ${rid}\n` };
};
