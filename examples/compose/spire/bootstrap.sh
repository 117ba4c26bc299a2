#!/bin/sh
# Bootstraps a SPIRE agent with a real join token, then registers the demo workloads.
#   bootstrap.sh          on a host with the server's API socket: writes $BOOTSTRAP_DIR/agent.conf
# Needs: SPIRE_SERVER_SOCKET, BOOTSTRAP_DIR; TRUST_DOMAIN (default demo.local);
# SPIRE_SERVER_ADDRESS, SPIRE_SERVER_PORT (what the agent dials; default spire-server:8081);
# AGENT_DATA_DIR, AGENT_SOCKET (default /var/lib/spire/agent, /run/spire/sockets/agent.sock).
# The tests run this same script against a local spire-server.
set -eu
: "${SPIRE_SERVER_SOCKET:?}" "${BOOTSTRAP_DIR:?}"
TD=${TRUST_DOMAIN:-demo.local}
SERVER=${SPIRE_SERVER:-spire-server}
NODE_ID="spiffe://$TD/node/compose-agent"

tries=0
until "$SERVER" healthcheck -socketPath "$SPIRE_SERVER_SOCKET" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then echo "SPIRE server at $SPIRE_SERVER_SOCKET is not healthy after 60 s" >&2; exit 1; fi
  sleep 1
done

token=$("$SERVER" token generate -socketPath "$SPIRE_SERVER_SOCKET" -spiffeID "$NODE_ID" -ttl 3600 | sed -n 's/^Token: //p')
[ -n "$token" ] || { echo "spire-server token generate returned no token" >&2; exit 1; }

register() { # spiffe-id selector
  "$SERVER" entry show -socketPath "$SPIRE_SERVER_SOCKET" -spiffeID "$1" | grep -q "$1" ||
    "$SERVER" entry create -socketPath "$SPIRE_SERVER_SOCKET" -parentID "$NODE_ID" -spiffeID "$1" -selector "$2" >/dev/null
}
# Envoy (uid 101) gets the gateway's SVID; an agent process running as uid 1000 gets research's.
register "spiffe://$TD/envoy/egress" unix:uid:101
register "spiffe://$TD/agent/research" unix:uid:1000

mkdir -p "$BOOTSTRAP_DIR"
umask 077
sed -e "s|@JOIN_TOKEN@|$token|" \
    -e "s|@TRUST_DOMAIN@|$TD|" \
    -e "s|@SERVER_ADDRESS@|${SPIRE_SERVER_ADDRESS:-spire-server}|" \
    -e "s|@SERVER_PORT@|${SPIRE_SERVER_PORT:-8081}|" \
    -e "s|@DATA_DIR@|${AGENT_DATA_DIR:-/var/lib/spire/agent}|" \
    -e "s|@SOCKET@|${AGENT_SOCKET:-/run/spire/sockets/agent.sock}|" \
    "$(dirname "$0")/agent.conf" > "$BOOTSTRAP_DIR/agent.conf"
echo "join token issued for $NODE_ID; agent config in $BOOTSTRAP_DIR/agent.conf" >&2
