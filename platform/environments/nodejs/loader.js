'use strict';

// Finds and imports the function an entrypoint names.
//
// Entrypoint rules (filepath is a folder, e.g. an extracted zip):
//   ''         the only .js/.mjs/.cjs file, else package.json "main",
//              else index.js/.mjs/.cjs, else main.js; its default export
//   'file'     file, file.js, file.mjs, file.cjs or folder file/; default export
//   'file.fn'  export fn of that module (also module.exports.fn of CJS)
// A whole entrypoint naming a file ('index.js') wins over the split.
// When filepath is a file it is the module whatever the entrypoint calls it:
// 'x.fn' picks fn, and a single token picks that export if it is a function,
// else the default export.
//
// Every module is loaded with import(), so ESM (.mjs, "type": "module",
// detected module syntax) and CJS both work.

const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const JS_EXT = ['.js', '.mjs', '.cjs'];

// LoadError is a load failure whose message is shown to the user as is.
class LoadError extends Error {}

function stat(p) {
  try {
    return fs.statSync(p);
  } catch {
    return null;
  }
}

function isFile(p) {
  const st = stat(p);
  return st !== null && st.isFile();
}

function listFiles(dir, limit = 20) {
  let names;
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    return '';
  }
  return names.slice(0, limit).join(', ') + (names.length > limit ? ', ...' : '');
}

function packageMain(dir) {
  let pkg;
  try {
    pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  } catch {
    return null;
  }
  if (!pkg || typeof pkg.main !== 'string' || !pkg.main) return null;
  return resolveFile(path.join(dir, pkg.main), false);
}

function indexFile(dir) {
  for (const ext of JS_EXT) {
    if (isFile(path.join(dir, 'index' + ext))) return path.join(dir, 'index' + ext);
  }
  return null;
}

// resolveFile maps a module path to a file the way require() would.
function resolveFile(p, tryPackage = true) {
  if (isFile(p)) return p;
  for (const ext of JS_EXT) {
    if (isFile(p + ext)) return p + ext;
  }
  const st = stat(p);
  if (st === null || !st.isDirectory()) return null;
  return (tryPackage && packageMain(p)) || indexFile(p);
}

function defaultModule(dir) {
  const js = fs
    .readdirSync(dir)
    .filter((n) => JS_EXT.includes(path.extname(n)) && isFile(path.join(dir, n)));
  if (js.length === 1) return path.join(dir, js[0]);
  const file = packageMain(dir) || indexFile(dir) || (isFile(path.join(dir, 'main.js')) && path.join(dir, 'main.js'));
  if (!file) {
    throw new LoadError(`no entrypoint given and no default module in ${dir} (files: ${listFiles(dir)})`);
  }
  return file;
}

// resolveInDir returns {file, func} for an entrypoint in a folder.
function resolveInDir(dir, entrypoint) {
  if (!entrypoint) return { file: defaultModule(dir), func: '' };
  const whole = resolveFile(path.join(dir, entrypoint));
  if (whole) return { file: whole, func: '' };
  const dot = entrypoint.lastIndexOf('.');
  if (dot <= entrypoint.lastIndexOf('/')) {
    throw new LoadError(`module "${entrypoint}" not found in ${dir} (files: ${listFiles(dir)})`);
  }
  const mod = entrypoint.slice(0, dot);
  const func = entrypoint.slice(dot + 1);
  const file = mod ? resolveFile(path.join(dir, mod)) : defaultModule(dir);
  if (!file) throw new LoadError(`module "${mod}" not found in ${dir} (files: ${listFiles(dir)})`);
  return { file, func };
}

// resolveForFile returns {func, orDefault} for an entrypoint of a single file.
function resolveForFile(file, entrypoint) {
  const base = path.basename(file);
  if (!entrypoint || entrypoint === base || entrypoint === base.replace(/\.[^.]*$/, '')) {
    return { func: '', orDefault: false };
  }
  const dot = entrypoint.lastIndexOf('.');
  if (dot < 0) return { func: entrypoint, orDefault: true };
  return { func: entrypoint.slice(dot + 1), orDefault: false };
}

function exportNames(ns) {
  const names = Object.keys(ns).filter((n) => n !== 'default');
  const def = ns.default;
  if (def !== null && (typeof def === 'object' || typeof def === 'function')) {
    names.push(...Object.keys(def).filter((n) => !names.includes(n)));
  }
  if (typeof def === 'function') names.unshift('default');
  return names.join(', ') || 'none';
}

function pick(ns, func, orDefault, file) {
  const def = ns.default;
  if (func) {
    if (typeof ns[func] === 'function') return ns[func];
    if (def !== null && def !== undefined && typeof def[func] === 'function') return def[func];
    if (!orDefault) {
      throw new LoadError(`function "${func}" not found in ${file} (exports: ${exportNames(ns)})`);
    }
  }
  if (typeof def === 'function') return def;
  // Transpiled ESM in CJS clothes: exports.default = fn.
  if (def !== null && def !== undefined && typeof def.default === 'function') return def.default;
  throw new LoadError(`${file} has no default export function (exports: ${exportNames(ns)})`);
}

// loadFunction imports the code at filepath and returns the entrypoint's function.
async function loadFunction(filepath, entrypoint) {
  entrypoint = (entrypoint || '').trim();
  const st = stat(filepath);
  let file;
  let func;
  let orDefault = false;
  if (st !== null && st.isDirectory()) {
    ({ file, func } = resolveInDir(filepath, entrypoint));
  } else if (st !== null && st.isFile()) {
    file = filepath;
    ({ func, orDefault } = resolveForFile(filepath, entrypoint));
  } else {
    throw new LoadError(`load ${filepath}: no such file or directory`);
  }
  const ns = await import(pathToFileURL(file).href);
  return pick(ns, func, orDefault, file);
}

module.exports = { loadFunction, LoadError };
