#!/usr/bin/env bash
# Installs Debian's rabbitmq-server for the STOMP broker relay tests, only
# when it is missing. The tests start their own node (with the STOMP plugin,
# on free loopback ports, with their own epmd); this only provides the
# binaries. Idempotent; exits non-zero when it cannot install.
set -euo pipefail

if command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-rabbitmq: rabbitmq-server is missing and apt-get is not available" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-rabbitmq: need root (or sudo) to apt-get install rabbitmq-server" >&2; exit 1; }
  SUDO="sudo"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "install-rabbitmq: installing Debian's rabbitmq-server (apt-get)..." >&2
if ! { $SUDO apt-get update -qq && \
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends rabbitmq-server; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-rabbitmq: apt-get install rabbitmq-server FAILED" >&2
  exit 1
fi
# Debian's package starts a system node on 5672 (and an epmd on 4369); the
# tests do not use them, and they must not be mistaken for theirs.
if command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true
  $SUDO systemctl disable --now epmd.socket epmd.service >/dev/null 2>&1 || true
fi
echo "install-rabbitmq: $(dpkg-query -W -f='${Package} ${Version}' rabbitmq-server)" >&2
