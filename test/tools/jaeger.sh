#!/usr/bin/env bash
# Builds Jaeger v1.76.0 (the v2 "jaeger" binary) into .tools/jaeger-1.76.0/jaeger,
# relative to the repository root, unless it is already there.
#
# Jaeger is built from the Go module proxy inside a throwaway module under
# .tools/build/jaeger, so the repository's own go.mod is never touched.
# `go install pkg@version` does not work for Jaeger (its go.mod has replace
# directives), hence the throwaway module. Takes about 5 minutes on 2 cores.
#
# Usage: bash test/tools/jaeger.sh          # build if missing, print the path
#        JAEGER_FORCE=1 bash test/tools/jaeger.sh   # rebuild
set -euo pipefail

JAEGER_VERSION="${JAEGER_VERSION:-v1.76.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="$ROOT/.tools/jaeger-${JAEGER_VERSION#v}"
OUT="$OUT_DIR/jaeger"
BUILD_DIR="$ROOT/.tools/build/jaeger"

log() { printf '[jaeger.sh] %s\n' "$*" >&2; }

if [[ -x "$OUT" && "${JAEGER_FORCE:-0}" != "1" ]]; then
	log "already built: $OUT"
	echo "$OUT"
	exit 0
fi

command -v go >/dev/null || { log "go is not on PATH"; exit 1; }

mkdir -p "$BUILD_DIR" "$OUT_DIR"
cd "$BUILD_DIR"
# Keep the throwaway module out of any enclosing workspace.
export GOWORK=off
export GOFLAGS="${GOFLAGS:-} -mod=mod"

if [[ ! -f go.mod ]]; then
	log "creating throwaway module in $BUILD_DIR"
	go mod init lantern.local/jaeger-build 2>&1 | sed "s/^/  /" >&2
fi

start=$(date +%s)
log "go get -tool github.com/jaegertracing/jaeger/cmd/jaeger@${JAEGER_VERSION} (downloads modules)"
go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@${JAEGER_VERSION}"
log "modules ready after $(( $(date +%s) - start ))s; compiling (a few minutes)"

tmp="$OUT.tmp.$$"
trap 'rm -f "$tmp"' EXIT
go build -trimpath -o "$tmp" \
	-ldflags "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=${JAEGER_VERSION}" \
	github.com/jaegertracing/jaeger/cmd/jaeger
mv -f "$tmp" "$OUT"
trap - EXIT

log "built $OUT in $(( $(date +%s) - start ))s ($(du -h "$OUT" | cut -f1))"
log "version: $("$OUT" version 2>/dev/null | head -n 1 || true)"
echo "$OUT"
