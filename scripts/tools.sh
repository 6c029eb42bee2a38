#!/usr/bin/env bash
# Installs the pinned build tools Updraft needs, from package registries only.
# Idempotent: each step checks what is already there and returns at once.
#
#   scripts/tools.sh          install/check everything
#   scripts/tools.sh env      print the environment the build uses
#
# Tools land in .tools/ (git-ignored) unless a matching version is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
WORKER_BUILD_VERSION=0.8.7 # released together with the `worker` crate pinned in Cargo.toml

say() { printf '\033[1m[tools]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[tools] error:\033[0m %s\n' "$*" >&2; exit 1; }

# The version of a package recorded in Cargo.lock.
lock_version() {
  awk -v name="$1" '$1=="name" && $3=="\""name"\"" {getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock
}

ensure_wasm_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    say "adding rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

# npm tools (wrangler, miniflare, esbuild, binaryen's wasm-opt, node 22), pinned
# by package-lock.json. Reinstalled only when the lockfile changed.
ensure_node_modules() {
  local stamp=node_modules/.updraft-lock.sha256
  local want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/node ]; then
    return
  fi
  say "installing npm packages from package-lock.json (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
}

# The admin UI's npm packages (Vite, TypeScript, Preact, uPlot, playwright-core),
# pinned by admin-ui/package-lock.json, in admin-ui/node_modules.
ensure_admin_ui_modules() {
  local stamp=admin-ui/node_modules/.updraft-lock.sha256
  local want
  want=$(sha256sum admin-ui/package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  say "installing the admin UI's npm packages from admin-ui/package-lock.json (npm ci)"
  (cd admin-ui && PATH="$ROOT/node_modules/.bin:$PATH" npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
}

# The browser the UI tests drive (tests/helpers/ui.mjs): Debian's chromium.
# UPDRAFT_CHROMIUM points at another build of it instead.
ensure_chromium() {
  local want=${UPDRAFT_CHROMIUM:-/usr/bin/chromium}
  [ -x "$want" ] && return
  if [ -n "${UPDRAFT_CHROMIUM:-}" ]; then die "UPDRAFT_CHROMIUM=$want is not an executable"; fi
  command -v apt-get >/dev/null || die "/usr/bin/chromium is missing and there is no apt-get: install chromium, or set UPDRAFT_CHROMIUM"
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  say "installing Debian's chromium (apt-get; the admin UI's browser tests drive it)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
  [ -x "$want" ] || die "apt-get installed chromium but $want is missing"
}

# $1 binary name, $2 wanted version: prints the path of a matching binary, if any.
find_versioned() {
  local bin=$1 want=$2 cand
  for cand in "$TOOLS/cargo/bin/$bin" "$(command -v "$bin" 2>/dev/null || true)"; do
    [ -n "$cand" ] && [ -x "$cand" ] || continue
    if "$cand" --version 2>/dev/null | grep -qw "$want"; then echo "$cand"; return; fi
  done
}

ensure_wasm_bindgen() {
  local want
  want=$(lock_version wasm-bindgen)
  [ -n "$want" ] || die "wasm-bindgen is not in Cargo.lock; run 'cargo generate-lockfile'"
  if [ -z "$(find_versioned wasm-bindgen "$want")" ]; then
    say "installing wasm-bindgen-cli $want (matches Cargo.lock; takes a few minutes once)"
    # Not --locked: the CLI's own lockfile pins crates that no longer build on current Rust.
    cargo install wasm-bindgen-cli --version "=$want" --root "$TOOLS/cargo" --force
  fi
  local got
  got=$(find_versioned wasm-bindgen "$want")
  [ -n "$got" ] || die "wasm-bindgen-cli version mismatch: Cargo.lock wants $want, installed: $("$TOOLS/cargo/bin/wasm-bindgen" --version 2>&1 || echo none)"
}

ensure_worker_build() {
  local worker
  worker=$(lock_version worker)
  [ "$worker" = "$WORKER_BUILD_VERSION" ] ||
    die "worker crate is $worker in Cargo.lock but worker-build is pinned to $WORKER_BUILD_VERSION in scripts/tools.sh; keep them equal"
  if [ -z "$(find_versioned worker-build "$WORKER_BUILD_VERSION")" ]; then
    say "installing worker-build $WORKER_BUILD_VERSION (takes a few minutes once)"
    cargo install worker-build --version "=$WORKER_BUILD_VERSION" --root "$TOOLS/cargo" --locked --force
  fi
  [ -n "$(find_versioned worker-build "$WORKER_BUILD_VERSION")" ] || die "worker-build $WORKER_BUILD_VERSION did not install"
}

print_env() {
  local wb
  wb=$(find_versioned wasm-bindgen "$(lock_version wasm-bindgen)")
  echo "export PATH=\"$ROOT/node_modules/.bin:$TOOLS/cargo/bin:\$PATH\""
  echo "export WASM_BINDGEN_BIN=\"$wb\""
  echo "export WASM_OPT_BIN=\"$ROOT/node_modules/.bin/wasm-opt\""
  echo "export ESBUILD_BIN=\"$ROOT/node_modules/.bin/esbuild\""
  echo "export WORKER_BUILD_BIN=\"$(find_versioned worker-build "$WORKER_BUILD_VERSION")\""
}

case "${1:-install}" in
  install)
    ensure_wasm_target
    ensure_node_modules
    ensure_admin_ui_modules
    ensure_chromium
    ensure_wasm_bindgen
    ensure_worker_build
    mkdir -p "$TOOLS"
    print_env > "$TOOLS/env.sh"
    ;;
  env) print_env ;;
  *) die "usage: scripts/tools.sh [install|env]" ;;
esac
