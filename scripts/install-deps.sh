#!/usr/bin/env bash
# Installs what modelgate needs to build, run and test: Debian packages, and with --with-node the npm
# packages of the end-to-end tests. Idempotent: installs only what is missing, so it is cheap to re-run.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
with_node=false
[[ "${1:-}" == "--with-node" ]] && with_node=true

sudo_cmd=()
[[ "$(id -u)" -ne 0 ]] && sudo_cmd=(sudo)

debian_packages=(
  build-essential cmake ninja-build pkg-config ca-certificates openssl
  libboost1.81-dev libssl-dev nlohmann-json3-dev libsqlite3-dev
  googletest libgtest-dev libbenchmark-dev
  python3-minimal python3-sentencepiece python3-numpy
)

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for package in "${debian_packages[@]}"; do
  is_installed "$package" || missing+=("$package")
done
# Node.js may come from Debian or elsewhere (NodeSource); only install Debian's when there is none at all.
if $with_node && ! command -v node >/dev/null; then missing+=(nodejs); fi
if $with_node && ! command -v npm >/dev/null; then missing+=(npm); fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if $with_node; then
  e2e="$root/tests/e2e"
  # npm ci only when node_modules does not already hold exactly the locked openai version.
  if ! (cd "$e2e" && node -e '
      const want = require("./package-lock.json").packages["node_modules/openai"].version;
      const have = require("./node_modules/openai/package.json").version;
      process.exit(want === have ? 0 : 1);' 2>/dev/null); then
    echo "install-deps: npm ci in tests/e2e"
    (cd "$e2e" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
