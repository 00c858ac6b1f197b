'use strict';

// Lantern Node.js runtime: runs Fission Node.js functions unchanged.
//
// A generic instance listens on 127.0.0.1:$PORT (default 8888). POST
// /v2/specialize (JSON LoadRequest) or POST /specialize (code at
// $USERFUNC_DIR/user) loads the function once; afterwards every method and
// path except GET /healthz calls it. See loader.js for the entrypoint rules
// and respond.js for the handler shapes.
//
// Environment: PORT, USERFUNC_DIR (default /userfunc), LANTERN_HOST (default
// 127.0.0.1), BODY_PARSER_LIMIT (default 32mb: the platform's own request
// limit is the one that matters).
//
// A call with an X-Lantern-Request-Id header is framed on stderr by the log
// marker lines (see markCall in respond.js).

const path = require('node:path');
const express = require('express');
const { loadFunction, LoadError } = require('./loader');
const { invoke, fail, cleanStack, markCall } = require('./respond');

// readJSON reads a specialize body as JSON whatever its Content-Type.
async function readJSON(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text.trim() ? JSON.parse(text) : {};
}

function text(res, status, body) {
  res.status(status).type('text/plain').send(body);
}

function newApp(userfuncDir) {
  const state = { fn: null, busy: false };
  const limit = process.env.BODY_PARSER_LIMIT || '32mb';
  const app = express();
  app.disable('x-powered-by');

  async function specialize(res, filepath, entrypoint) {
    if (!filepath) return text(res, 400, 'bad specialize request: filepath is required\n');
    if (!path.isAbsolute(filepath)) filepath = path.join(userfuncDir, filepath);
    try {
      state.fn = await loadFunction(filepath, entrypoint);
    } catch (err) {
      const msg = err instanceof LoadError ? err.message : `load ${filepath}: ${cleanStack(err)}`;
      console.error(msg);
      return text(res, 500, msg + '\n');
    }
    return res.status(202).end();
  }

  async function specializeRequest(req, res) {
    if (!/^\/v2\//i.test(req.path)) return specialize(res, path.join(userfuncDir, 'user'), '');
    let body;
    try {
      body = await readJSON(req);
    } catch (err) {
      return text(res, 400, `bad specialize request: ${err.message}\n`);
    }
    if (!body || typeof body !== 'object') return text(res, 400, 'bad specialize request: want a JSON object\n');
    return specialize(res, body.filepath, body.functionName);
  }

  app.get('/healthz', (req, res) => res.status(200).end());
  app.post(['/specialize', '/v2/specialize'], async (req, res) => {
    if (state.fn || state.busy) return text(res, 400, 'Not a generic container\n');
    state.busy = true;
    try {
      await specializeRequest(req, res);
    } finally {
      state.busy = false;
    }
  });
  app.use(express.urlencoded({ extended: false, limit }));
  app.use(express.json({ limit }));
  app.use(express.raw({ limit }));
  app.use(express.text({ type: 'text/*', limit }));
  app.use((req, res) => {
    if (!state.fn) return text(res, 500, 'generic container: no function loaded\n');
    markCall(req, res);
    invoke(state.fn, req, res).catch((err) => fail(res, err));
  });
  // Body parser errors: bad JSON, too large.
  app.use((err, req, res, next) => {
    if (res.headersSent) return next(err);
    const status = err.status || err.statusCode || 500;
    text(res, status, `${err.message}\n`);
  });
  return app;
}

function main() {
  const host = process.env.LANTERN_HOST || '127.0.0.1';
  const port = Number(process.env.PORT || 8888);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`bad PORT ${JSON.stringify(process.env.PORT)}: want a number`);
    process.exit(2);
  }
  // The function's stray async errors must not take the instance down.
  process.on('uncaughtException', (err) => console.error('uncaught exception:', err));
  process.on('unhandledRejection', (err) => console.error('unhandled rejection:', err));

  const server = newApp(process.env.USERFUNC_DIR || '/userfunc').listen(port, host, () => {
    // The platform keeps a function's log for the function.
    if (!process.env.LANTERN_RUNTIME_QUIET) console.error(`lantern nodejs runtime listening on ${host}:${port}`);
  });
  server.on('error', (err) => {
    console.error(`listen ${host}:${port}: ${err.message}`);
    process.exit(1);
  });
  // The router owns request timeouts; idle keep-alive outlives its pool's.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65000;
  server.headersTimeout = 66000;
}

if (require.main === module) main();

module.exports = { newApp };
