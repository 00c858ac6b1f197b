#!/usr/bin/env bash
# Makes the Lantern runtimes usable on a Debian 12 machine (run as root).
# Idempotent: installs only what is missing or out of date.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python=/usr/bin/python3

if "$python" -c 'import flask, gevent' 2>/dev/null; then
	echo "python: flask and gevent present"
else
	echo "python: installing python3-flask python3-gevent"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends python3-flask python3-gevent
	"$python" -c 'import flask, gevent'
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "nodejs: node and npm are required (Node.js 18 or later)" >&2
	exit 1
fi
nodejs="$here/nodejs"
if [ ! -d "$nodejs/node_modules" ] || [ "$nodejs/package-lock.json" -nt "$nodejs/node_modules" ]; then
	echo "nodejs: npm ci"
	(cd "$nodejs" && npm ci --no-audit --no-fund --loglevel=error)
	touch "$nodejs/node_modules"
else
	echo "nodejs: node_modules up to date"
fi
