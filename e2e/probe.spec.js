'use strict';
// `sockline probe` through the real proxies of lib/proxy.js (E2E_PROXY): the
// diagnosis it prints per transport must name what the proxy does (the
// upgrade stripped by nginx's defaults, streaming held back by a buffering
// proxy), transports the proxy carries must pass, and -idle, longer than the
// proxies' read timeout (set low here), must find no cut: the server's
// heartbeats keep the path busy. Without E2E_PROXY it is skipped.
const os = require('os');
const path = require('path');
const fs = require('fs');
const { execFileSync, execFile } = require('child_process');
const { test, expect } = require('./lib/fixtures');
const { proxySetup, PROXY_TIMEOUT_S } = require('./lib/proxy');

const PROXY = proxySetup();
const TRANSPORTS = ['websocket', 'xhr-streaming', 'eventsource', 'xhr-polling'];

// What probe must report per set-up: a transport not listed passes (and
// stays up through the idle period); a listed one fails with that
// diagnosis kind.
const EXPECTED = {
  nginx: {},
  haproxy: {},
  'nginx-default': { websocket: 'upgrade stripped' },
  'nginx-buffered': { websocket: 'upgrade stripped', 'xhr-streaming': 'response buffered', eventsource: 'response buffered' },
};

// sockline returns the path of the CLI: E2E_SOCKLINE_BIN, or built once here.
function sockline() {
  if (process.env.E2E_SOCKLINE_BIN) return process.env.E2E_SOCKLINE_BIN;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'e2e-sockline-'));
  const bin = path.join(dir, 'sockline');
  execFileSync('go', ['build', '-o', bin, './cmd/sockline'], { cwd: path.join(__dirname, '..'), stdio: 'inherit' });
  process.env.E2E_SOCKLINE_BIN = bin;
  return bin;
}

function probe(args) {
  return new Promise((resolve) => {
    execFile(sockline(), ['probe', ...args], { timeout: 120000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

test.describe('sockline probe through the proxy', () => {
  test.skip(!PROXY, 'E2E_PROXY only (probe through a real proxy)');
  test.setTimeout(180000);

  test('names what the proxy breaks and survives idling past its read timeout', async ({ sockjsServer }, testInfo) => {
    const idle = `${PROXY_TIMEOUT_S + 3}s`;
    const r = await probe(['-json', '-timeout', '5s', '-idle', idle, `${sockjsServer.origin}/echo`]);
    testInfo.annotations.push({ type: 'probe', description: r.stdout });
    let rep;
    try {
      rep = JSON.parse(r.stdout);
    } catch (e) {
      throw new Error(`probe printed no JSON (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
    }
    expect(rep.info_diagnosis, `/info through ${PROXY}`).toBeUndefined();
    expect(rep.results.map((x) => x.transport)).toEqual(TRANSPORTS);
    const want = EXPECTED[PROXY];
    for (const res of rep.results) {
      const kind = want[res.transport];
      const what = `${PROXY} ${res.transport}: ${JSON.stringify(res)}`;
      if (kind) {
        expect(res.ok, what).toBe(false);
        expect(res.diagnosis && res.diagnosis.kind, what).toBe(kind);
        expect(res.diagnosis.hint, what).toBeTruthy();
      } else {
        expect(res.ok, what).toBe(true);
        expect(res.diagnosis, what).toBeUndefined();
        expect(res.idle_ok, `${what}: quiet for ${idle}, longer than the proxy's ${PROXY_TIMEOUT_S} s read timeout`).toBe(true);
      }
    }
    console.log(`E2E-PROBE setup=${PROXY} ` + rep.results.map((x) =>
      `${x.transport}=${x.ok ? 'ok' : x.diagnosis ? x.diagnosis.kind : 'failed'}`).join(' '));
    expect(r.code, 'exit status: 0 when a transport works').toBe(0);
  });
});
