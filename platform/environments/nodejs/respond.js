'use strict';

// Calls a user function in one of the Fission shapes and sends its result.
//
//   async (context) => ({status, body, headers})   context = {request, response}
//   () => result                                   zero arguments
//   (context, callback) => callback(status, body, headers)
//   (context) => { context.response.send(...) }    answers itself, returns undefined
//
// A body that is a string or Buffer is sent as is, a Readable (or web
// ReadableStream) is piped chunk by chunk, anything else is sent as JSON.

const { Readable } = require('node:stream');

function isReadable(body) {
  return body instanceof Readable || (body !== null && typeof body === 'object' && typeof body.pipe === 'function');
}

function isWebStream(body) {
  return typeof ReadableStream !== 'undefined' && body instanceof ReadableStream;
}

function describe(err) {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}

const HERE = __dirname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const OWN_FRAME = new RegExp(`^\\s+at .*(node:internal/|${HERE}/(respond|loader|server)\\.js)`);

// cleanStack is err's stack without the frames of Node and of this runtime.
function cleanStack(err) {
  if (!(err instanceof Error) || !err.stack) return describe(err);
  return err.stack
    .split('\n')
    .filter((line) => !OWN_FRAME.test(line))
    .join('\n');
}

// fail answers 500 for an error the function raised, and logs it.
function fail(res, err) {
  const stack = cleanStack(err);
  console.error(stack);
  if (res.writableEnded) return;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(500).type('text/plain').send(`function raised ${describe(err)}\n\n${stack}\n`);
}

function pipe(res, stream) {
  stream.on('error', (err) => {
    console.error(`function body stream failed: ${(err && err.stack) || err}`);
    if (res.headersSent) res.destroy();
    else res.status(500).type('text/plain').send(`function body stream failed: ${describe(err)}\n`);
  });
  res.on('close', () => {
    if (typeof stream.destroy === 'function' && !stream.destroyed) stream.destroy();
  });
  stream.pipe(res);
}

// send writes one result, unless the function already answered itself.
function send(res, status, body, headers) {
  if (res.headersSent || res.writableEnded) return;
  if (headers && typeof headers === 'object') res.set(headers);
  res.status(Number(status) || 200);
  if (body === undefined || body === null) res.end();
  else if (typeof body === 'string' || Buffer.isBuffer(body)) res.send(body);
  else if (body instanceof Uint8Array) res.send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  else if (isReadable(body)) pipe(res, body);
  else if (isWebStream(body)) pipe(res, Readable.fromWeb(body));
  else res.json(body);
}

function isResult(v) {
  return (
    v !== null &&
    typeof v === 'object' &&
    !Buffer.isBuffer(v) &&
    !isReadable(v) &&
    ('status' in v || 'body' in v || 'headers' in v)
  );
}

function sendReturned(fn, res, result) {
  if (result === undefined || result === null) {
    // A function taking the context may still answer on its own.
    if (fn.length === 0) send(res, 200);
    return;
  }
  if (isResult(result)) send(res, result.status, result.body, result.headers);
  else send(res, 200, result);
}

// invoke calls fn for one request; it rejects if fn throws.
function invoke(fn, req, res) {
  const context = { request: req, response: res };
  if (fn.length >= 2) {
    let called = false;
    const callback = (status, body, headers) => {
      if (called) return;
      called = true;
      try {
        send(res, status, body, headers);
      } catch (err) {
        fail(res, err);
      }
    };
    return Promise.resolve()
      .then(() => fn(context, callback))
      .then(() => undefined);
  }
  return Promise.resolve()
    .then(() => fn(context))
    .then((result) => sendReturned(fn, res, result));
}

module.exports = { invoke, fail, send, cleanStack };
