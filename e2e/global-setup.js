'use strict';
// Runs once before the suite: checks the browser, and for E2E_SERVER=go builds
// the Go test programs once into a temporary directory. The binaries' paths are
// handed to the test workers through environment variables.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { ROOT, serverKind } = require('./lib/servers');
const { CHROMIUM } = require('./lib/browser');

function goBuild(outDir, name, pkg) {
  const out = path.join(outDir, name);
  const started = Date.now();
  try {
    execFileSync('go', ['build', '-o', out, pkg], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300000,
    });
  } catch (e) {
    const msg = [e.message, e.stdout && e.stdout.toString(), e.stderr && e.stderr.toString()]
      .filter(Boolean).join('\n');
    throw new Error(`e2e: go build ${pkg} failed:\n${msg}`);
  }
  console.log(`e2e: built ${pkg} in ${Date.now() - started} ms`);
  return out;
}

function hasGoPackage(rel) {
  const dir = path.join(ROOT, rel);
  return fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('.go'));
}

module.exports = async function globalSetup() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`e2e: no browser at ${CHROMIUM}; run "bash e2e/install-chromium.sh" (or set E2E_CHROMIUM)`);
  }
  const kind = serverKind();
  console.log(`e2e: server under test: ${kind}; browser: ${CHROMIUM}`);
  if (kind !== 'go') return undefined;

  let tmp = null;
  if (!process.env.E2E_GO_TESTSERVER_BIN) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sockline-e2e-'));
    if (!hasGoPackage('examples/testserver')) {
      throw new Error('e2e: ./examples/testserver has no Go files yet; use E2E_SERVER=node to run against the sockjs-node peer');
    }
    process.env.E2E_GO_TESTSERVER_BIN = goBuild(tmp, 'testserver', './examples/testserver');
    if (hasGoPackage('examples/chat')) {
      process.env.E2E_GO_CHAT_BIN = goBuild(tmp, 'chat', './examples/chat');
    }
  }
  return async () => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  };
};
