#!/usr/bin/env bash
# keybroker's gRPC API (proto/): `buf lint` (STANDARD rules) and `buf breaking` (FILE
# rules) against the API as it is on the base ref — main, or on main itself with no
# uncommitted change to the API, the commit before. buf comes from the @bufbuild/buf npm package.
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=node_modules/.bin/buf
base=${1:-main}
# On main itself with nothing changed, the change to guard is the last commit.
if [ "$(git rev-parse HEAD)" = "$(git rev-parse --verify -q "$base" || true)" ] && git diff --quiet HEAD -- proto buf.yaml; then
  base=HEAD~1
fi

"$BUF" lint
echo "buf lint: ok"

against=$(mktemp -d)
trap 'rm -rf "$against"' EXIT
if git cat-file -e "$base:buf.yaml" 2>/dev/null; then
  paths=()
  for p in buf.yaml proto third_party/envoy-api; do git cat-file -e "$base:$p" 2>/dev/null && paths+=("$p"); done
  git archive "$base" "${paths[@]}" | tar -x -C "$against"
  "$BUF" breaking --against "$against"
  echo "buf breaking against $base ($(git rev-parse --short "$base")): ok"
else
  echo "buf breaking: $base has no buf.yaml yet, so no earlier API to compare with"
fi
