const fs = require('node:fs');
const path = require('node:path');

const data = fs.readFileSync(path.join(__dirname, 'data.txt'), 'utf8').trim();

module.exports = async () => ({ body: `only file: ${data}\n` });
