#!/usr/bin/env bash
# Installs Debian's redis-server for the cluster tests, only when it is
# missing. The tests start their own server on a free loopback port; this
# only provides the binary. Idempotent; exits non-zero when it cannot install.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-redis: redis-server is missing and apt-get is not available" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-redis: need root (or sudo) to apt-get install redis-server" >&2; exit 1; }
  SUDO="sudo"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "install-redis: installing Debian's redis-server (apt-get)..." >&2
if ! { $SUDO apt-get update -qq && \
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-redis: apt-get install redis-server FAILED" >&2
  exit 1
fi
# Debian's package starts a system service on port 6379; the tests do not
# use it, and it must not be mistaken for theirs.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
echo "install-redis: $(redis-server --version)" >&2
