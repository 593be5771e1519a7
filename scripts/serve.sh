#!/usr/bin/env bash
# Installs dependencies, builds the release binary and starts the gateway on its embedded defaults
# (127.0.0.1:8080, ./modelgate.db created on first start). Extra arguments go to `modelgate serve`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" release
exec "$root/build/release/modelgate" serve "$@"
