#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: Go vet and tests (with
# the race detector), then the browser end-to-end suite (installing Node
# packages with npm ci and Debian's chromium when it is missing, and
# Debian's redis-server for the tests that need a real Redis).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== tools the Go tests need"
bash scripts/install-redis.sh
# Before the Go tests: the Go client's tests run sockjs-node from node_modules.
npm ci --no-audit --no-fund --loglevel=error

echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 15m ./...
echo "== fuzz every target briefly"
bash scripts/fuzz.sh

echo "== browser end-to-end tests"
bash e2e/install-chromium.sh
npx playwright test -c e2e/playwright.config.js
echo "== browser transport suite against two cluster nodes behind a round-robin proxy"
E2E_CLUSTER=2 npx playwright test -c e2e/playwright.config.js e2e/transports.spec.js
echo "== browser transport suite over HTTPS and HTTP/2 (self-signed certificates)"
E2E_TLS=1 npx playwright test -c e2e/playwright.config.js e2e/transports.spec.js
