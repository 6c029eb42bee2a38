# Updraft: `make demo` and `make test` work on a fresh machine that reaches only
# the package registries. Every target installs what it needs (scripts/tools.sh).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
PORT ?= 8787
STATE ?= .updraft

# Tool environment (PATH with node 22 and pinned tools, WASM_BINDGEN_BIN, ...).
TOOLENV = source .tools/env.sh
# Local runs never reach out: no wrangler telemetry, no Request.cf download.
export WRANGLER_SEND_METRICS = false
export CLOUDFLARE_CF_FETCH_ENABLED = false

.PHONY: help tools build build-worker build-ui build-native test test-rust test-node serve demo bench clean

help:
	@echo "make demo   set up, build, start the local edge with demo data, print what to try"
	@echo "make test   set up, build and run every suite (what CI runs)"
	@echo "make build  build the worker bundle, the admin UI and native binaries; print their sizes"
	@echo "make serve  run the local edge on 127.0.0.1:\$$PORT (default 8787), state in $(STATE)/"
	@echo "make bench  run the benchmarks (see BENCHMARKS.md)"

tools:
	@scripts/tools.sh

build: tools build-worker build-ui build-native

# The bundle is rebuilt only when a crate it compiles, the lockfile or the
# pinned tools changed (wasm-opt alone takes ~45 s).
WORKER_INPUTS := $(shell find core/src worker/src -name '*.rs') core/Cargo.toml worker/Cargo.toml Cargo.toml Cargo.lock package-lock.json

build-worker: worker/build/index.js
	@scripts/wasm-size.sh

worker/build/index.js: $(WORKER_INPUTS)
	@$(TOOLENV); cd worker && "$$WORKER_BUILD_BIN" --release 2>&1 | grep -v '^\s*$$' | tail -n 20
	@test -f $@ && touch $@

# The admin web UI (admin-ui/): Vite + TypeScript + Preact, pinned by
# admin-ui/package-lock.json, built into admin-ui/dist (wrangler.toml [assets]).
UI_INPUTS := $(shell find admin-ui/src admin-ui/public -type f) admin-ui/index.html admin-ui/vite.config.ts admin-ui/tsconfig.json admin-ui/package-lock.json

build-ui: admin-ui/dist/index.html
	@printf 'admin UI: %s bytes gzipped (admin-ui/dist, %s files)\n' "$$(find admin-ui/dist -type f -name '*.*' ! -name _headers -exec gzip -9c {} \; | wc -c)" "$$(find admin-ui/dist -type f | wc -l)"

admin-ui/dist/index.html: $(UI_INPUTS)
	@$(TOOLENV); cd admin-ui && npm run --silent build -- --logLevel warn
	@test -f $@ && touch $@

build-native:
	cargo build --release --locked -p firmware-agent -p updraft-cli

test: build test-rust test-node

test-rust:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	cargo test --workspace --locked
	cargo check -p updraft-core --target wasm32-unknown-unknown --locked

test-node:
	@$(TOOLENV); node --test --test-concurrency=1 'tests/*.test.mjs'

serve: build
	@$(TOOLENV); scripts/serve.sh

demo: build
	@$(TOOLENV); scripts/demo.sh

bench: build
	@$(TOOLENV); node bench/check-throughput.mjs --seconds 10 --no-ratelimits --campaigns 20
	@$(TOOLENV); node bench/check-throughput.mjs --seconds 10
	python3 bench/agent-footprint.py --size-mib 256 --runs 3
	@$(TOOLENV); node bench/revocation.mjs --devices 200

clean:
	cargo clean
	rm -rf worker/build tests/output admin-ui/dist
