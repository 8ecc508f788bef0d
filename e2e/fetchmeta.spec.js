'use strict';
// Cross-site session creation without Origin (issue 9, item 2), in a real
// browser, against examples/echo with its safe defaults (-allow-origin names
// the page server's origin only).
//
//   - A page on another site (the page server reached as http://localhost:P,
//     a different site from 127.0.0.1) makes Chromium load session URLs of
//     the echo server by <iframe> (htmlfile), <img> (eventsource) and
//     <script> (jsonp): Chromium sends Sec-Fetch-Site: cross-site, no
//     Origin (and the victim's cookies, where its cookie policy lets them). Every load gets 403, and the attacker's own
//     server then finds no session to drive (xhr_send: 404).
//   - The same loads from the allowed origin (127.0.0.1:P, same-site with the
//     server) are refused too: without Origin the server cannot tell which
//     origin of the site sent them.
//   - sockjs-client on the allowed origin still works over every HTTP
//     transport it may pick there, the iframe-* ones included: their
//     requests carry Origin, or come from the server's own iframe page
//     (Sec-Fetch-Site: same-origin).
//
// The echo binary is built once per worker (E2E_SERVER=go only).
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const { execFileSync } = require('child_process');
const base = require('./lib/fixtures');
const { ROOT, ServerProcess, freePort, serverKind } = require('./lib/servers');

const { expect, openHarness, evalWatch } = base;
const WAIT_MS = 15000;

const test = base.test.extend({
  echoServer: [async ({ pageServer }, use) => {
    if (serverKind() !== 'go') {
      await use(null);
      return;
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sockline-e2e-echo-'));
    const bin = path.join(tmp, 'echo');
    execFileSync('go', ['build', '-o', bin, './examples/echo'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300000 });
    const srv = new ServerProcess({
      name: 'go-echo',
      command: bin,
      args: ['-allow-origin', pageServer.origin],
      port: await freePort(),
      sockjsUrl: pageServer.sockjsUrl,
      readyPath: '/echo/info',
    });
    await srv.start();
    await use(srv);
    await srv.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }, { scope: 'worker', timeout: 320000 }],
});

/** POSTs body to url from Node (the attacker's own server: no browser, no cookies). */
function httpPost(url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.setTimeout(5000, () => req.destroy(new Error(`POST ${url}: no answer in 5 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

const sid = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2)}`;

// The loads a hostile page makes: frames show the browser the answer; an
// <img> or <script> answer is hidden by Chromium's opaque-response blocking
// (the request "fails" without a status or its final headers), so for those
// the proof is that the attacker's xhr_send then finds no session.
const LOADS = [
  { kind: 'htmlfile', tag: 'iframe', path: 'htmlfile?c=cb' },
  { kind: 'eventsource', tag: 'iframe', path: 'eventsource' },
  { kind: 'xhr_streaming (GET)', tag: 'iframe', path: 'xhr_streaming' },
  { kind: 'eventsource by img', tag: 'img', path: 'eventsource' },
  { kind: 'jsonp by script', tag: 'script', path: 'jsonp?c=cb' },
];

/**
 * Serves a page at pageUrl that loads session URLs of the echo server (one
 * fresh id each) and returns, for each, the id, the status the browser got
 * (null when hidden from the page) and the Origin and Sec-Fetch-Site it sent.
 * (Whether the victim's cookies go along depends on the browser's cookie
 * policy, SameSite and third-party cookie blocking; the attack needs them,
 * the refusal does not.)
 */
async function loadFromPage(page, pageServer, pageUrl, echo) {
  const loads = LOADS.map((l) => {
    const id = sid();
    return Object.assign({ id, url: `${echo}/echo/000/${id}/${l.path}` }, l);
  });
  const name = `/loads-${sid()}.html`;
  pageServer.serve(name, `<!doctype html><html><body>
${loads.map((l) => (l.tag === 'img' ? `<img src="${l.url}">` : `<${l.tag} src="${l.url}"></${l.tag}>`)).join('\n')}
</body></html>`);
  const seen = new Map();
  const done = new Promise((resolve) => {
    const settle = async (req, status) => {
      const l = loads.find((x) => x.url === req.url());
      if (!l || seen.has(l)) return;
      seen.set(l, null);
      const h = await req.allHeaders();
      seen.set(l, { status, origin: h.origin, site: h['sec-fetch-site'] });
      if ([...seen.values()].filter(Boolean).length === loads.length) resolve();
    };
    page.on('response', (res) => settle(res.request(), res.status()));
    page.on('requestfailed', (req) => settle(req, null));
  });
  // 'commit': without the refusal, streaming frames would never finish loading
  await page.goto(new URL(name, pageUrl).href, { waitUntil: 'commit' });
  await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(
    `not every load answered in ${WAIT_MS} ms`)), WAIT_MS))]);
  return loads.map((l) => Object.assign({}, l, seen.get(l)));
}

for (const c of [
  { name: 'cross-site', pageOrigin: (ps) => ps.origin.replace('127.0.0.1', 'localhost'), site: 'cross-site' },
  { name: 'same-site, allowed origin', pageOrigin: (ps) => ps.origin, site: 'same-site' },
]) {
  test(`a ${c.name} page cannot open sessions by iframe, img or script loads`, async ({ page, pageServer, echoServer }) => {
    test.skip(!echoServer, 'needs the Go echo example (E2E_SERVER=go)');
    const echo = echoServer.origin;
    const results = await loadFromPage(page, pageServer, c.pageOrigin(pageServer), echo);
    for (const r of results) {
      if (r.tag === 'iframe') {
        expect(r.origin, `${r.kind}: the browser sends no Origin`).toBeUndefined();
        expect(r.site, `${r.kind}: Sec-Fetch-Site`).toBe(c.site);
        expect(r.status, `${r.kind}: refused`).toBe(403);
      }
      // The attacker, who chose the id, tries to drive the session from its server.
      expect(await httpPost(`${echo}/echo/000/${r.id}/xhr_send`, '["as the victim"]'),
        `${r.kind}: xhr_send to the id the page loaded finds no session`).toBe(404);
    }
  });
}

test('sockjs-client on the allowed origin still works over every HTTP transport', async ({ page, pageServer, echoServer, sockjsServer }) => {
  test.skip(!echoServer, 'needs the Go echo example (E2E_SERVER=go)');
  await openHarness(page, { pageServer, sockjsServer });
  for (const t of ['xhr-streaming', 'xhr-polling', 'eventsource', 'iframe-eventsource', 'iframe-htmlfile', 'iframe-xhr-polling']) {
    const c = await evalWatch(page, ([u, name, ms]) => window.E2E.connect(u, [name], ms), [`${echoServer.origin}/echo`, t, WAIT_MS]);
    expect(c.transport, 'the forced transport').toBe(t);
    const r = await evalWatch(page, ([id, ms]) => window.E2E.roundTrip(id, ['hello', 'wörld'], ms), [c.id, WAIT_MS]);
    expect(r.mismatches, `${t}: echoed exactly`).toEqual([]);
    expect(r.received, `${t}: messages back`).toBe(2);
  }
});
