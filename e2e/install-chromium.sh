#!/usr/bin/env bash
# Installs Debian's chromium for the e2e suite, only when /usr/bin/chromium is
# missing (Playwright's own browser download cannot reach its host here).
# Idempotent and quiet; exits non-zero with a message when it cannot install.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: $CHROMIUM is missing and apt-get is not available" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-chromium: need root (or sudo) to apt-get install chromium" >&2
    exit 1
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "install-chromium: installing Debian's chromium (apt-get)..." >&2
if ! { $SUDO apt-get update -qq && \
       DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-chromium: apt-get install chromium FAILED" >&2
  exit 1
fi

if [ ! -x "$CHROMIUM" ]; then
  cat "$log" >&2
  echo "install-chromium: apt-get finished but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "install-chromium: $("$CHROMIUM" --version 2>/dev/null || echo installed)" >&2
