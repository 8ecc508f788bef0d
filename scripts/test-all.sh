#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: Go vet and tests (with
# the race detector), fuzzing, and the browser end-to-end suites. It installs
# what they need when missing: Node packages (npm ci), Debian's redis-server
# (Redis, Redis Cluster and Sentinel tests), rabbitmq-server (the STOMP broker
# relay), chromium (the browser suites), nginx and haproxy (the runs through
# real proxies). NATS runs in-process (github.com/nats-io/nats-server/v2).
#
# After the installs and go vet, two lanes run side by side, each a list of
# suites one after the other, so that CI stays under 45 minutes on two cores:
#   go:      go test -race ./..., the chaos test on a Redis Cluster, with
#            direct connections between the nodes and on NATS, fuzzing,
#            then the browser suite through nginx (README set-up, defaults);
#   browser: the browser suites (one node, two cluster nodes on Redis and on a
#            Redis Cluster, STOMP on two nodes and through the RabbitMQ relay,
#            HTTPS and HTTP/2), then HAProxy and the buffering nginx.
# Every suite picks free loopback ports, so none shares one with another. A
# line of each suite's output goes to the terminal with its name in front;
# the whole output is in e2e/test-results/ci-logs/. At the end: each suite's
# time, the proxies' time to first message and probe findings, and the
# failures.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== installing what the tests need (when missing)"
bash scripts/install-redis.sh
bash scripts/install-rabbitmq.sh   # the STOMP broker relay's tests start their own RabbitMQ node
bash e2e/install-chromium.sh
bash scripts/install-proxies.sh    # nginx and haproxy for the runs through real proxies
# Before the Go tests: the Go client's tests run sockjs-node from node_modules.
npm ci --no-audit --no-fund --loglevel=error

echo "== go vet"
go vet ./...

logs="$PWD/e2e/test-results/ci-logs"
rm -rf "$logs"
mkdir -p "$logs"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# The browser suites share these builds instead of building their own.
go build -o "$bin/testserver" ./examples/testserver
go build -o "$bin/chat" ./examples/chat
go build -o "$bin/sockline" ./cmd/sockline   # probe.spec.js: sockline probe through each proxy
export E2E_GO_TESTSERVER_BIN="$bin/testserver" E2E_GO_CHAT_BIN="$bin/chat" E2E_SOCKLINE_BIN="$bin/sockline"

# suite NAME COMMAND...: runs one suite, its output prefixed with its name on
# the terminal and whole in $logs/NAME.log; a failure is recorded, not fatal
# to the lane.
suite() {
  local name=$1 start=$SECONDS status=ok
  shift
  echo "[$name] starting"
  if ! "$@" 2>&1 | sed -u "s/^/[$name] /" | tee "$logs/$name.log"; then
    status=FAILED
    echo "$name" >>"$logs/failed"
  fi
  echo "$name $status $((SECONDS - start))" >>"$logs/times"
  echo "[$name] $status in $((SECONDS - start)) s"
}

pw() { npx playwright test -c e2e/playwright.config.js "$@"; }

# proxy SETUP [ARGS...]: the browser suite through a real proxy (e2e/lib/proxy.js);
# its traces in e2e/test-results/$OUT (default proxy-SETUP).
proxy() {
  local setup=$1
  shift
  E2E_PROXY="$setup" E2E_OUTPUT_DIR="$PWD/e2e/test-results/${OUT:-proxy-$setup}" pw "$@"
}

lane_go() {
  suite go-test go test -race -count=1 -timeout 20m ./...
  suite chaos-redis-cluster env CHAOS_LOGS="$logs/chaos" CHAOS_ENGINE=redis-cluster go test -race -count=1 -timeout 10m -run TestChaos ./cluster/chaos/
  suite chaos-direct env CHAOS_LOGS="$logs/chaos" CHAOS_DIRECT=1 go test -race -count=1 -timeout 10m -run TestChaos ./cluster/chaos/
  suite chaos-nats env CHAOS_LOGS="$logs/chaos" CHAOS_ENGINE=nats go test -race -count=1 -timeout 10m -run TestChaos ./cluster/chaos/
  suite fuzz bash scripts/fuzz.sh
  suite proxy-nginx proxy nginx e2e/transports.spec.js e2e/probe.spec.js
  suite proxy-nginx-default proxy nginx-default e2e/transports.spec.js e2e/probe.spec.js
  # STOMP through the README's nginx and HAProxy set-ups, on the transports
  # that pass them all (the iframe and jsonp ones run without a proxy).
  OUT=proxy-nginx-stomp suite proxy-nginx-stomp proxy nginx e2e/stomp.spec.js -g "STOMP over (websocket|xhr-streaming|xhr-polling|eventsource) "
  OUT=proxy-haproxy-stomp suite proxy-haproxy-stomp proxy haproxy e2e/stomp.spec.js -g "STOMP over (websocket|xhr-streaming|xhr-polling|eventsource) "
}

lane_browser() {
  suite e2e env E2E_OUTPUT_DIR="$PWD/e2e/test-results/default" npx playwright test -c e2e/playwright.config.js
  suite e2e-cluster env E2E_CLUSTER=2 E2E_OUTPUT_DIR="$PWD/e2e/test-results/cluster" npx playwright test -c e2e/playwright.config.js e2e/transports.spec.js
  suite e2e-stomp-cluster env E2E_CLUSTER=2 E2E_OUTPUT_DIR="$PWD/e2e/test-results/stomp-cluster" npx playwright test -c e2e/playwright.config.js e2e/stomp.spec.js e2e/stomp-recovery.spec.js
  suite e2e-stomp-relay bash scripts/e2e-relay.sh
  suite e2e-redis-cluster env E2E_CLUSTER=2 E2E_ENGINE=redis-cluster E2E_OUTPUT_DIR="$PWD/e2e/test-results/redis-cluster" npx playwright test -c e2e/playwright.config.js e2e/transports.spec.js
  suite e2e-tls env E2E_TLS=1 E2E_OUTPUT_DIR="$PWD/e2e/test-results/tls" npx playwright test -c e2e/playwright.config.js e2e/transports.spec.js
  # STOMP over HTTPS/HTTP-2 on the three transports a page mostly gets (the
  # others run on HTTP/1.1 above; over TLS they take about 5 more minutes).
  suite e2e-tls-stomp env E2E_TLS=1 E2E_OUTPUT_DIR="$PWD/e2e/test-results/tls-stomp" npx playwright test -c e2e/playwright.config.js e2e/stomp.spec.js -g "STOMP over (websocket|xhr-streaming|xhr-polling) "
  suite proxy-haproxy proxy haproxy e2e/transports.spec.js e2e/probe.spec.js
  # sockline probe must name the buffering of a proxy that holds whole
  # responses (no browser, no sockjs-client timeouts: deterministic, fatal).
  OUT=probe-nginx-buffered suite probe-nginx-buffered proxy nginx-buffered e2e/probe.spec.js
  # A measurement, not a set-up to support: nginx's defaults ignoring
  # X-Accel-Buffering (as a proxy or CDN that buffers regardless would);
  # sockjs-client must fall back to polling within its own timeouts.
  # Reported, not fatal: the same-origin htmlfile row's walk down
  # sockjs-client's list (about 2 s) once stalled past 15 s on a loaded box.
  if ! proxy nginx-buffered e2e/transports.spec.js -g "time to first message" >"$logs/proxy-nginx-buffered.log" 2>&1; then
    echo "NOTE: the nginx-buffered measurement had failures (see $logs/proxy-nginx-buffered.log); not fatal" >&2
  fi
}
started=$SECONDS
lane_go &
go_pid=$!
lane_browser &
browser_pid=$!
wait "$go_pid" || true
wait "$browser_pid" || true

echo "== time per suite (s), in the order they ended; both lanes took $((SECONDS - started)) s"
sed 's/^/   /' "$logs/times"
echo "== time to first message per proxy set-up and transport (used: the transport sockjs-client ended up using)"
for p in proxy-nginx proxy-nginx-default proxy-haproxy proxy-nginx-buffered; do
  grep -ho 'E2E-TIMING.*' "$logs/$p.log" | sed 's/^/   /' || true
done
echo "== sockline probe's findings per proxy set-up"
for p in proxy-nginx proxy-nginx-default proxy-haproxy probe-nginx-buffered; do
  grep -ho 'E2E-PROBE.*' "$logs/$p.log" | sed 's/^/   /' || true
done
if [ -s "$logs/failed" ]; then
  # The tail of a run is often all a reader gets: name what failed in each suite here.
  while read -r name; do
    echo "== what failed in $name"
    grep -E -e '--- FAIL|_test\.go:[0-9]+: |^\[[^]]*\] (FAIL|panic:|WARNING: DATA RACE)|✘|Error:|timed out' "$logs/$name.log" | tail -40 | sed 's/^/   /' || true
  done <"$logs/failed"
  echo "FAILED: $(tr '\n' ' ' <"$logs/failed")(whole output in $logs/; browser traces in e2e/test-results/)" >&2
  exit 1
fi
echo "== every suite passed"
