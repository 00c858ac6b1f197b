// Package environments holds Lantern's language runtimes, the programs the
// pool manager starts as generic instances and specializes with a
// function. Each speaks the Fission environment contract (see
// platform/api/runtime), so Fission functions run unchanged:
//
//   - python/server.py: Flask on gevent's pywsgi, run with /usr/bin/python3;
//   - nodejs/server.js: Express 4, run with node (npm ci first);
//   - binary: a Go package serving executables, CGI style.
//
// An instance listens on 127.0.0.1:$PORT (default 8888) and loads code from
// $USERFUNC_DIR (default /userfunc). setup.sh installs what the Python and
// Node.js runtimes need on a Debian 12 machine.
//
// This package has no code: its tests start the real runtimes and check
// the contract over HTTP, with fixtures in testdata/.
package environments
