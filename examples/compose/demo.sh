#!/bin/sh
# docker-compose's demo agent: holds an X.509-SVID and no provider key. Sends one
# request keybroker allows (research) and one it denies (intern), then prints what the
# provider received: the injected key by fingerprint, nothing the agent sent as a credential.
set -eu
GATEWAY=${GATEWAY:-https://envoy:10000}
call() { # name
  curl -sS --cacert /pki/demo.local-ca.crt --cert "/pki/$1.crt" --key "/pki/$1.key" \
    -H 'content-type: application/json' -H 'authorization: Bearer sk-agent-placeholder-not-a-key' \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}' \
    -w '\n-> HTTP %{http_code}\n' "$GATEWAY/openai/v1/chat/completions"
}
tries=0
until curl -s -o /dev/null --cacert /pki/demo.local-ca.crt --cert /pki/research.crt --key /pki/research.key "$GATEWAY/" 2>/dev/null || [ "$tries" -ge 30 ]; do tries=$((tries + 1)); sleep 1; done
echo "== research (allowed):"; call research
echo "== intern (denied):"; call intern
echo "== what the provider received:"; curl -sS http://fake-provider:8080/received
