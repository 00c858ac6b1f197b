# Lantern — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/lantern-faas/lantern/platform/internal/version.Version=$(VERSION)
BIN := bin
DATA_DIR ?= .data
E2E_TIMEOUT ?= 20m

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: setup
setup: ## Install what the runtimes need (python3-flask, python3-gevent, npm packages)
	@bash platform/environments/setup.sh

.PHONY: tools
tools: setup tools-kube ## Install and build the real backends the tests use (Prometheus, NATS, Jaeger, InfluxDB, etcd + kube-apiserver + kube-controller-manager + kubectl + helm)
	@command -v promtool >/dev/null && [ -x /usr/bin/prometheus ] || { echo "installing prometheus (Debian)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@[ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null || { echo "installing nats-server (Debian)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server >/dev/null; }
	@bash test/tools/jaeger.sh
	@bash test/tools/influxdb.sh

.PHONY: tools-kube
tools-kube: ## Build etcd, kube-apiserver, kube-controller-manager, kubectl and helm into .tools (~10 minutes once), install openssl and iproute2: the Kubernetes tests and benchmarks
	@command -v ip >/dev/null || { echo "installing iproute2 (Debian): the test node gives pods addresses with ip"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2 >/dev/null; }
	@command -v openssl >/dev/null || { echo "installing openssl (Debian)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null; }
	@bash test/tools/kube.sh >/dev/null

.PHONY: build
build: ## Build bin/lanternd and bin/lantern
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./platform/cmd/lanternd ./platform/cmd/lantern

.PHONY: run
run: setup build ## Start lanternd on its embedded defaults and show a function working
	@bash test/fixtures/quickstart/run.sh $(BIN) $(DATA_DIR)

.PHONY: lint
lint: ## go vet and gofmt
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files "*.go")); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: test-unit
test-unit: tools ## Unit tests with the race detector (the runtimes' contract tests need setup)
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/)

.PHONY: test-e2e
test-e2e: tools build ## End-to-end tests against real binaries, runtimes and backends
	$(GO) test -race -count=1 -timeout $(E2E_TIMEOUT) ./test/...

.PHONY: test
test: lint test-unit test-e2e ## Everything: lint, unit and end-to-end tests

.PHONY: bench
bench: setup build tools-kube ## Benchmarks side by side with baselines, on local processes and on Kubernetes (BENCH_ONLY=local or kube: one section); report in .bench/
	$(GO) run ./test/bench -out .bench -lanternd $(BIN)/lanternd $(if $(BENCH_ONLY),-only $(BENCH_ONLY))

.PHONY: bench-kube
bench-kube: ## Only the Kubernetes benchmarks (pods, kubectl changes, memory with 1,000 functions) and the local cold starts they compare with
	@$(MAKE) --no-print-directory bench BENCH_ONLY=kube

.PHONY: clean
clean: ## Remove binaries, data and reports
	rm -rf $(BIN) $(DATA_DIR) .bench
