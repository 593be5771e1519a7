#!/usr/bin/env bash
# Installs what modelgate needs to build, run and test: Debian packages, and with --with-node what the
# end-to-end tests add (Node.js, their npm packages, and Debian's chromium for the dashboard test), and
# with --with-load-bench what bench/load/run.sh adds (wrk, Node.js and the pinned Portkey gateway).
# Idempotent: installs only what is missing, so it is cheap to re-run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
with_node=false
with_load_bench=false
for option in "$@"; do
  case $option in
    --with-node) with_node=true ;;
    --with-load-bench) with_load_bench=true ;;
    *) echo "usage: $0 [--with-node] [--with-load-bench]" >&2; exit 2 ;;
  esac
done
needs_node=false
if $with_node || $with_load_bench; then needs_node=true; fi

sudo_cmd=()
[[ "$(id -u)" -ne 0 ]] && sudo_cmd=(sudo)

debian_packages=(
  build-essential cmake ninja-build pkg-config ca-certificates openssl git
  postgresql libpq-dev redis-server libhiredis-dev haproxy  # the PostgreSQL backend; the replicas' shared state and load balancer
  libboost1.81-dev libssl-dev nlohmann-json3-dev libsimdjson-dev libsqlite3-dev sqlite3 libjemalloc-dev
  googletest libgtest-dev libbenchmark-dev
  python3-minimal python3-sentencepiece python3-numpy python3-jsonschema
  clang-14 libclang-rt-14-dev llvm-14  # the fuzz preset: clang, the libFuzzer and sanitizer runtimes, llvm-symbolizer
)
# Only the end-to-end tests need these: the dashboard test drives Debian's headless chromium, and the
# fonts give its screenshot readable text. Serving does not.
node_debian_packages=(chromium fonts-dejavu-core)

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

wanted=("${debian_packages[@]}")
$with_node && wanted+=("${node_debian_packages[@]}")
$with_load_bench && wanted+=(wrk)
missing=()
for package in "${wanted[@]}"; do
  is_installed "$package" || missing+=("$package")
done
# Node.js may come from Debian or elsewhere (NodeSource); only install Debian's when there is none at all.
if $needs_node && ! command -v node >/dev/null; then missing+=(nodejs); fi
if $needs_node && ! command -v npm >/dev/null; then missing+=(npm); fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Runs `npm ARGS...` in DIR unless its node_modules already holds exactly the locked version of every
# package in PACKAGES (a space-separated list).
npm_if_stale() {
  local dir=$1 packages=$2
  shift 2
  if ! (cd "$dir" && PACKAGES="$packages" node -e '
      const lock = require("./package-lock.json").packages;
      const stale = process.env.PACKAGES.split(/\s+/).filter(Boolean).filter((name) => {
        const want = lock["node_modules/" + name].version;
        const have = require("./node_modules/" + name + "/package.json").version;
        return want !== have;
      });
      process.exit(stale.length ? 1 : 0);' 2>/dev/null); then
    echo "install-deps: npm $1 in ${dir#"$root"/}"
    (cd "$dir" && npm "$@" --no-audit --no-fund --loglevel=error)
  fi
}

if $with_node; then
  npm_if_stale "$root/tests/e2e" "openai @anthropic-ai/sdk playwright-core" ci
  # llama.cpp for the engine's cross-check, CPU binaries only. Its lock file holds just the builds this
  # registry serves (no macOS or Windows ones), which `npm ci` refuses as out of sync; `npm install
  # --no-save` follows the lock and leaves it as it is. Without it that test skips, so a registry that
  # cannot be reached is not fatal here.
  npm_if_stale "$root/tests/local_engine/llama_cpp" node-llama-cpp install --no-save --omit=optional ||
    echo "install-deps: node-llama-cpp could not be installed; the llama.cpp cross-check will be skipped"
fi
if $with_load_bench; then
  # Portkey's gateway, the load benchmark's reference, with the @hono/node-server its lock file holds back
  # (bench/load/package.json says why).
  npm_if_stale "$root/bench/load" "@portkey-ai/gateway @hono/node-server" ci
fi
