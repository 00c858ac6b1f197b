#!/usr/bin/env bash
# Builds a real Kubernetes API for the tests from the Go module proxy:
#   .tools/kube-<K>/kube-apiserver, .tools/kube-<K>/kubectl,
#   .tools/kube-<K>/kube-controller-manager                   (k8s.io/kubernetes v<K>)
#   .tools/etcd-<E>/etcd                                      (go.etcd.io/etcd v<E>)
#   .tools/helm-<H>/helm                                      (helm.sh/helm/v3 v<H>)
# relative to the repository root, each only if it is not there yet (cached by
# version, each binary on its own). Prints the three folders, one a line.
#
# `go install k8s.io/kubernetes/cmd/...@v` is refused (its go.mod has replace
# directives into ./staging), so the Kubernetes binaries are built in a
# throwaway module that requires k8s.io/kubernetes and replaces every staging
# module with its published v0.<minor>.<patch> twin; etcd likewise (see
# /work/shared/docs/backends.md). The repository's go.mod is never touched.
# A cold build of kube-apiserver takes about 9 minutes on 2 cores;
# kube-controller-manager about 3 more (with kube-apiserver's packages already
# in the build cache); etcd about 1 minute, helm about 1 minute.
#
# Usage: bash test/tools/kube.sh               # build what is missing
#        KUBE_FORCE=1 bash test/tools/kube.sh  # rebuild all
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The versions the tests look for (test/kubeenv), read from there.
ver() { sed -n "s/^[[:space:]]*$1 *= *\"\(.*\)\"/\1/p" "$ROOT/test/kubeenv/kubeenv.go"; }
KUBE_VERSION="${KUBE_VERSION:-$(ver KubeVersion)}"
ETCD_VERSION="${ETCD_VERSION:-$(ver EtcdVersion)}"
HELM_VERSION="${HELM_VERSION:-$(ver HelmVersion)}"
[[ -n "$KUBE_VERSION" && -n "$ETCD_VERSION" && -n "$HELM_VERSION" ]] || { echo "[kube.sh] no versions in test/kubeenv/kubeenv.go" >&2; exit 1; }
KUBE_DIR="$ROOT/.tools/kube-${KUBE_VERSION}"
ETCD_DIR="$ROOT/.tools/etcd-${ETCD_VERSION}"
HELM_DIR="$ROOT/.tools/helm-${HELM_VERSION}"

log() { printf '[kube.sh] %s\n' "$*" >&2; }
command -v go >/dev/null || { log "go is not on PATH"; exit 1; }

# Outside the repository's module and any workspace.
export GOWORK=off
export GOFLAGS="${GOFLAGS:-}"
force="${KUBE_FORCE:-0}"

# Each build goes to a scratch folder beside its output and ends with an atomic
# rename, so an interrupted build never leaves a half-written binary behind.
scratch=()
cleanup() { for d in "${scratch[@]:-}"; do if [[ -n "$d" ]]; then rm -rf "$d"; fi; done; }
trap cleanup EXIT
newscratch() { # dir -> sets tmp to a new scratch folder inside dir
	mkdir -p "$1"
	tmp="$(mktemp -d "$1/.build.XXXXXX")"
	scratch+=("$tmp")
}

build_etcd() {
	local out="$ETCD_DIR/etcd"
	if [[ -x "$out" && "$force" != "1" ]]; then log "already built: $out"; return; fi
	local start tmp
	start=$(date +%s)
	newscratch "$ETCD_DIR"
	log "building etcd v${ETCD_VERSION} (~1 min)"
	(
		cd "$tmp"
		cat >go.mod <<EOF
module lantern.local/etcdbuild

go 1.24

require (
	go.etcd.io/etcd/api/v3 v${ETCD_VERSION}
	go.etcd.io/etcd/client/pkg/v3 v${ETCD_VERSION}
	go.etcd.io/etcd/client/v3 v${ETCD_VERSION}
	go.etcd.io/etcd/pkg/v3 v${ETCD_VERSION}
	go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
)
EOF
		cat >tools.go <<'EOF'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
EOF
		go mod tidy >/dev/null
		go build -trimpath -o "$tmp/etcd.bin" go.etcd.io/etcd/server/v3
	)
	mv -f "$tmp/etcd.bin" "$out"
	log "built $out in $(( $(date +%s) - start ))s"
}

build_kube() {
	local bins=(kube-apiserver kubectl kube-controller-manager) missing=() b
	for b in "${bins[@]}"; do
		if [[ ! -x "$KUBE_DIR/$b" || "$force" == "1" ]]; then missing+=("$b"); fi
	done
	if [[ ${#missing[@]} -eq 0 ]]; then log "already built: ${bins[*]} in $KUBE_DIR"; return; fi
	local start tmp modfile staging minor
	start=$(date +%s)
	newscratch "$KUBE_DIR"
	minor="$(cut -d. -f2 <<<"$KUBE_VERSION")"
	staging="0.${KUBE_VERSION#*.}"
	log "downloading k8s.io/kubernetes v${KUBE_VERSION}"
	modfile="$(cd "$tmp" && go mod download -json "k8s.io/kubernetes@v${KUBE_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
	[[ -f "$modfile" ]] || { log "no go.mod for k8s.io/kubernetes v${KUBE_VERSION}"; exit 1; }
	(
		cd "$tmp"
		{
			printf 'module lantern.local/kubebuild\n\ngo 1.25\n\nrequire k8s.io/kubernetes v%s\n\n' "$KUBE_VERSION"
			# Every `k8s.io/x => ./staging/src/k8s.io/x` becomes `k8s.io/x => k8s.io/x v0.M.P`.
			awk '{ if ($1 == "replace") { $1 = ""; $0 = $0 } } $2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }' "$modfile" | sort -u |
				while read -r m; do printf 'replace %s => %s v%s\n' "$m" "$m" "$staging"; done
		} >go.mod
		{
			printf '//go:build tools\n\npackage tools\n\nimport (\n'
			for b in "${missing[@]}"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$b"; done
			printf ')\n'
		} >tools.go
		log "go mod tidy (downloads ~140 MB of modules on a cold cache)"
		go mod tidy >/dev/null
		local ld="-s -w -X k8s.io/component-base/version.gitVersion=v${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
		for b in "${missing[@]}"; do
			log "compiling $b (kube-apiserver ~9 min on 2 cores with a cold build cache, kube-controller-manager ~3 min more)"
			go build -trimpath -ldflags "$ld" -o "$tmp/$b.bin" "k8s.io/kubernetes/cmd/$b"
		done
	)
	for b in "${missing[@]}"; do mv -f "$tmp/$b.bin" "$KUBE_DIR/$b"; done
	log "built ${missing[*]} in $KUBE_DIR in $(( $(date +%s) - start ))s"
}

build_helm() {
	local out="$HELM_DIR/helm"
	if [[ -x "$out" && "$force" != "1" ]]; then log "already built: $out"; return; fi
	local start tmp
	start=$(date +%s)
	newscratch "$HELM_DIR"
	log "building helm v${HELM_VERSION} (~1 min)"
	(cd "$tmp" && GOBIN="$tmp" go install -trimpath "helm.sh/helm/v3/cmd/helm@v${HELM_VERSION}")
	mv -f "$tmp/helm" "$out"
	log "built $out in $(( $(date +%s) - start ))s"
}

build_etcd
build_helm
build_kube
echo "$KUBE_DIR"
echo "$ETCD_DIR"
echo "$HELM_DIR"
