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
//
// markCall frames a call with the log marker lines of logs/README.md.

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

// Request markers (logs.ReqStartMarker and logs.ReqEndMarker).
const MARKER_PREFIX = '\x1elantern:';
// Request IDs that fit in a marker: one token of visible ASCII.
const REQUEST_ID = /^[!-~]{1,128}$/;
// W3C traceparent: version-traceid-parentid-flags, more fields after a
// future version.
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$/s;
const ZERO_TRACE_ID = '0'.repeat(32);

// traceID is the trace ID of a valid traceparent header, else ''.
function traceID(traceparent) {
  const m = typeof traceparent === 'string' ? TRACEPARENT.exec(traceparent.trim()) : null;
  if (m === null) return '';
  const [, version, id, more] = m;
  if (version === 'ff' || (version === '00' && more !== undefined) || id === ZERO_TRACE_ID) return '';
  return id;
}

// markCall prints the start marker of a call that has a usable
// X-Lantern-Request-Id, and the end marker once its response is done: sent
// to the end (streams included) or cut off by the client ('close' covers
// both).
//
// Markers go through process.stderr, so they keep their order with what the
// function writes there (console.error); they are written in one call each.
// On Linux, process.stdout on a pipe is asynchronous: the end marker waits
// until what the function wrote to it has reached the pipe. The start marker
// does not wait, so stdout still queued from an earlier call may land after
// it. A function that leaves an unterminated line on stderr gets the marker
// glued to it.
function markCall(req, res) {
  const id = req.headers['x-lantern-request-id'];
  if (typeof id !== 'string' || !REQUEST_ID.test(id)) return;
  // Each pipe is read apart, so each carries its own framing of the call.
  const start = `${MARKER_PREFIX}req-start ${id} ${traceID(req.headers.traceparent)}\n`;
  process.stdout.write(start);
  process.stderr.write(start);
  res.once('close', () => {
    const end = `${MARKER_PREFIX}req-end ${id}\n`;
    process.stdout.write(end);
    process.stderr.write(end);
  });
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

module.exports = { invoke, fail, send, cleanStack, markCall };
