const { Readable } = require('node:stream');

module.exports = async () => {
  let i = 0;
  const body = new Readable({
    read() {
      if (i === 3) return this.push(null);
      const n = i++;
      setTimeout(() => this.push(`chunk ${n}\n`), n === 0 ? 0 : 300);
    },
  });
  return { status: 200, body, headers: { 'Content-Type': 'text/plain' } };
};
