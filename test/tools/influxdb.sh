#!/usr/bin/env bash
# Builds InfluxDB 1.8.3 (influxd) into .tools/influxdb-1.8.3/influxd, relative
# to the repository root, unless it is already there.
#
# InfluxDB 1.8.3 is pure Go and `go install pkg@version` works for it, so it is
# built straight from the Go module proxy; the repository's go.mod is never
# touched. Newer 1.x and 2.x need Flux's Rust library and cannot be built here
# (see /work/shared/docs/backends.md). Takes about 2 minutes on 2 cores with an
# empty module cache.
#
# Usage: bash test/tools/influxdb.sh                 # build if missing, print the path
#        INFLUXDB_FORCE=1 bash test/tools/influxdb.sh  # rebuild
set -euo pipefail

INFLUXDB_VERSION="${INFLUXDB_VERSION:-1.8.3}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="$ROOT/.tools/influxdb-${INFLUXDB_VERSION}"
OUT="$OUT_DIR/influxd"

log() { printf '[influxdb.sh] %s\n' "$*" >&2; }

if [[ -x "$OUT" && "${INFLUXDB_FORCE:-0}" != "1" ]]; then
	log "already built: $OUT"
	echo "$OUT"
	exit 0
fi

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }

# Build in a scratch GOBIN so an interrupted build never leaves a half-written
# binary at $OUT: the final step is an atomic rename.
mkdir -p "$OUT_DIR"
tmp_bin="$(mktemp -d "$OUT_DIR/.build.XXXXXX")"
trap 'rm -rf "$tmp_bin"' EXIT

# Outside the repository's module and any workspace.
cd "$tmp_bin"
export GOWORK=off
export GOFLAGS="${GOFLAGS:-}"

start=$(date +%s)
log "go install github.com/influxdata/influxdb/cmd/influxd@v${INFLUXDB_VERSION} (downloads modules, then compiles; ~2 min)"
# Print the modules as they are downloaded so the wait is visible.
set +e
GOBIN="$tmp_bin" go install -x -trimpath \
	-ldflags "-X main.version=${INFLUXDB_VERSION}" \
	"github.com/influxdata/influxdb/cmd/influxd@v${INFLUXDB_VERSION}" 2>&1 |
	awk -v start="$start" '
		/^go: downloading / { print "[influxdb.sh]   " $0 > "/dev/stderr"; next }
		/^WORK=/ { print "[influxdb.sh] compiling" > "/dev/stderr"; next }
		/^(mkdir|cat|cd|echo|EOF|rm|mv|cp|#|\/|packagefile|importmap|modinfo|build_id) / { n++; if (n % 200 == 0) print "[influxdb.sh]   ... " n " build steps" > "/dev/stderr"; next }
		/^go: / || /error/ { print "[influxdb.sh]   " $0 > "/dev/stderr" }
	'
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 || ! -x "$tmp_bin/influxd" ]]; then
	log "build failed (exit $status)"
	exit 1
fi
mv -f "$tmp_bin/influxd" "$OUT"

log "built $OUT in $(( $(date +%s) - start ))s ($(du -h "$OUT" | cut -f1))"
log "version: $("$OUT" version 2>/dev/null | head -n 1 || true)"
echo "$OUT"
