#!/usr/bin/env bash
# Installs Debian's nginx and haproxy for the browser suite's proxy runs
# (E2E_PROXY=nginx|nginx-default|haproxy), only when they are missing. The
# tests run the binaries themselves on free loopback ports with their own
# configuration in a temporary directory; this only provides the binaries and
# never starts (or leaves enabled) the system services. Idempotent; exits
# non-zero when it cannot install.
set -euo pipefail

pkgs=()
[ -x /usr/sbin/nginx ] || pkgs+=(nginx)
[ -x /usr/sbin/haproxy ] || pkgs+=(haproxy)
if [ "${#pkgs[@]}" -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-proxies: ${pkgs[*]} missing and apt-get is not available" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-proxies: need root (or sudo) to apt-get install ${pkgs[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
log=$(mktemp)
policy_added=""
cleanup() {
  rm -f "$log"
  if [ -n "$policy_added" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT
# Debian's packages start their services (nginx on port 80) from postinst;
# a policy-rc.d that answers 101 forbids that while we install.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  policy_added=1
fi
echo "install-proxies: installing Debian's ${pkgs[*]} (apt-get)..." >&2
if ! { $SUDO apt-get update -qq && \
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-proxies: apt-get install ${pkgs[*]} FAILED" >&2
  exit 1
fi
# Where systemd runs, make sure the services are neither running nor enabled.
if command -v systemctl >/dev/null 2>&1; then
  for s in "${pkgs[@]}"; do $SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true; done
fi
echo "install-proxies: $(/usr/sbin/nginx -v 2>&1); $(/usr/sbin/haproxy -v 2>&1 | head -1)" >&2
