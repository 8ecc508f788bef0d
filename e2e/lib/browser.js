'use strict';
// Debian's chromium, launched by Playwright (browser downloads are not possible here).
const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
// E2E_TLS=1: both servers use throw-away self-signed certificates.
if (process.env.E2E_TLS) CHROMIUM_ARGS.push('--ignore-certificate-errors');

module.exports = { CHROMIUM, CHROMIUM_ARGS };
