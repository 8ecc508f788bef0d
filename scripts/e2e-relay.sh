#!/usr/bin/env bash
# The browser STOMP suite (e2e/stomp.spec.js) against the testserver's /stomp
# relaying its broker destinations to a real RabbitMQ (the STOMP broker relay,
# stomp/relay): starts a private RabbitMQ node with its STOMP plugin on free
# loopback ports (internal/testrabbit/rabbitnode), runs the suite with
# E2E_STOMP_RELAY, and stops the node. Needs rabbitmq-server
# (scripts/install-rabbitmq.sh) and what the browser suite needs.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
go build -o "$tmp/rabbitnode" ./internal/testrabbit/rabbitnode
mkfifo "$tmp/in"
# The node stops when its standard input closes: keep it open until cleanup.
"$tmp/rabbitnode" <"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
node_pid=$!
exec 3>"$tmp/in"
addr=""
for _ in $(seq 1 120); do
  addr=$(awk '/^STOMP /{print $2}' "$tmp/out")
  [ -n "$addr" ] && break
  if ! kill -0 "$node_pid" 2>/dev/null; then
    echo "rabbitnode exited:" >&2; cat "$tmp/err" >&2; exit 1
  fi
  sleep 0.5
done
if [ -z "$addr" ]; then echo "RabbitMQ did not start within 60 s:" >&2; cat "$tmp/err" >&2; exit 1; fi
echo "RabbitMQ STOMP at $addr"
E2E_STOMP_RELAY="$addr" E2E_OUTPUT_DIR="$PWD/e2e/test-results/stomp-relay" \
  npx playwright test -c e2e/playwright.config.js e2e/stomp.spec.js
