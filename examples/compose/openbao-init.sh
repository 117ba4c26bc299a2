#!/bin/sh
# docker-compose's one-shot OpenBao setup: the demo provider keys in KV v2, a policy
# that reads only them, and an AppRole for keybroker whose role-id and secret-id are
# written to CREDENTIALS_DIR, readable by keybroker's group only.
#
# Needs: BAO_ADDR, BAO_TOKEN, BAO_CACERT, CREDENTIALS_DIR, OPENAI_KEY, ANTHROPIC_KEY;
# KEYBROKER_GID (default 1337). The tests run this same script against a local OpenBao.
set -eu
: "${BAO_ADDR:?}" "${BAO_TOKEN:?}" "${BAO_CACERT:?}" "${CREDENTIALS_DIR:?}" "${OPENAI_KEY:?}" "${ANTHROPIC_KEY:?}"
BAO=${BAO:-bao}

tries=0
until "$BAO" status >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then echo "OpenBao at $BAO_ADDR did not answer within 60 s" >&2; exit 1; fi
  sleep 1
done

"$BAO" kv put -mount=secret openai/prod value="$OPENAI_KEY" >/dev/null
"$BAO" kv put -mount=secret anthropic/prod value="$ANTHROPIC_KEY" >/dev/null
"$BAO" policy write keybroker - >/dev/null <<'POLICY'
path "secret/data/openai/*"        { capabilities = ["read"] }
path "secret/data/anthropic/*"     { capabilities = ["read"] }
path "secret/metadata/openai/*"    { capabilities = ["read"] }
path "secret/metadata/anthropic/*" { capabilities = ["read"] }
POLICY
"$BAO" auth list -format=json | grep -q '"approle/"' || "$BAO" auth enable approle >/dev/null
"$BAO" write auth/approle/role/keybroker token_policies=keybroker token_ttl=20m token_max_ttl=1h >/dev/null

umask 027
mkdir -p "$CREDENTIALS_DIR"
"$BAO" read -field=role_id auth/approle/role/keybroker/role-id > "$CREDENTIALS_DIR/role-id"
"$BAO" write -f -field=secret_id auth/approle/role/keybroker/secret-id > "$CREDENTIALS_DIR/secret-id"
if [ "$(id -u)" -eq 0 ]; then chgrp "${KEYBROKER_GID:-1337}" "$CREDENTIALS_DIR/role-id" "$CREDENTIALS_DIR/secret-id"; fi
chmod 0440 "$CREDENTIALS_DIR/role-id" "$CREDENTIALS_DIR/secret-id"
echo "OpenBao ready: keys in secret/openai/prod and secret/anthropic/prod; AppRole keybroker in $CREDENTIALS_DIR" >&2
