'use strict';
// The other test-server services and protocol surfaces, each checked once:
// /info per service (fetched cross-origin with credentials, as sockjs-client
// does), JSESSIONID, broadcast across transports, amplify, ticker, raw websocket.
const { test, expect, openHarness } = require('./lib/fixtures');

const WAIT_MS = 15000;

test.beforeEach(async ({ page, pageServer, sockjsServer }) => {
  await openHarness(page, { pageServer, sockjsServer });
});

async function connect(page, url, transport) {
  return page.evaluate(([u, tr, ms]) => window.E2E.connect(u, tr ? [tr] : null, ms), [url, transport || null, WAIT_MS]);
}

const INFO = [
  { service: '/echo', websocket: true, cookie_needed: false },
  { service: '/close', websocket: true, cookie_needed: false },
  { service: '/disabled_websocket_echo', websocket: false, cookie_needed: false },
  { service: '/cookie_needed_echo', websocket: true, cookie_needed: true },
  { service: '/broadcast', websocket: true, cookie_needed: false },
  { service: '/amplify', websocket: true, cookie_needed: false },
  { service: '/ticker', websocket: true, cookie_needed: false },
];

test('/info of every service, cross-origin with credentials', async ({ page, sockjsServer, pageServer }) => {
  for (const want of INFO) {
    const url = `${sockjsServer.origin}${want.service}/info`;
    const [response, got] = await Promise.all([
      page.waitForResponse((r) => r.url().startsWith(url), { timeout: WAIT_MS }),
      page.evaluate((u) => fetch(u, { credentials: 'include', cache: 'no-store' })
        .then(async (r) => ({ status: r.status, body: await r.json() })), url),
    ]);
    const headers = response.headers();
    // a credentialed request only succeeds with the page's origin echoed, never '*'
    expect(headers['access-control-allow-origin'], `${want.service}: CORS origin echoed`).toBe(pageServer.origin);
    expect(headers['access-control-allow-credentials'], `${want.service}: credentials allowed`).toBe('true');
    expect(got.status, want.service).toBe(200);
    expect(got.body, want.service).toMatchObject({ websocket: want.websocket, cookie_needed: want.cookie_needed });
    expect(typeof got.body.entropy, `${want.service}: entropy`).toBe('number');
  }
});

for (const transport of ['websocket', 'xhr-streaming', 'xhr-polling']) {
  test(`/cookie_needed_echo over ${transport}`, async ({ page, context, sockjsServer }) => {
    const c = await connect(page, `${sockjsServer.origin}/cookie_needed_echo`, transport);
    expect(c.transport).toBe(transport);
    const r = await page.evaluate(([id, ms]) => window.E2E.roundTrip(id, ['cookie?'], ms), [c.id, WAIT_MS]);
    expect(r.mismatches).toEqual([]);
    if (transport !== 'websocket') {
      const cookies = await context.cookies(sockjsServer.origin);
      expect(cookies.map((k) => k.name), 'JSESSIONID set by the xhr transport').toContain('JSESSIONID');
    }
  });
}

test('/broadcast reaches every session, across transports', async ({ page, sockjsServer }) => {
  const url = `${sockjsServer.origin}/broadcast`;
  const a = await connect(page, url, 'websocket');
  const b = await connect(page, url, 'xhr-polling');
  const c = await connect(page, url, 'eventsource');
  await page.evaluate((id) => window.E2E.send(id, 'from A'), a.id);
  for (const s of [a, b, c]) {
    const got = await page.evaluate(([id, ms]) => window.E2E.waitMessages(id, 1, ms), [s.id, WAIT_MS]);
    expect(got, `session ${s.transport}`).toEqual(['from A']);
  }
  await page.evaluate((id) => window.E2E.send(id, 'from B'), b.id);
  for (const s of [a, b, c]) {
    const got = await page.evaluate(([id, ms]) => window.E2E.waitMessages(id, 2, ms), [s.id, WAIT_MS]);
    expect(got, `session ${s.transport}`).toEqual(['from A', 'from B']);
  }
});

test('/amplify answers n with 2^n "x"', async ({ page, sockjsServer }) => {
  const c = await connect(page, `${sockjsServer.origin}/amplify`, 'xhr-streaming');
  const got = [];
  let count = 0;
  for (const n of ['3', '10', '0']) {
    await page.evaluate(([id, m]) => window.E2E.send(id, m), [c.id, n]);
    count++;
    const all = await page.evaluate(([id, k, ms]) => window.E2E.waitMessages(id, k, ms), [c.id, count, WAIT_MS]);
    got.push(all[count - 1]);
  }
  expect(got).toEqual(['x'.repeat(8), 'x'.repeat(1024), 'x'.repeat(2)]);
});

test('/ticker sends "tick!" every second', async ({ page, sockjsServer }) => {
  const c = await connect(page, `${sockjsServer.origin}/ticker`, 'websocket');
  const t0 = Date.now();
  const got = await page.evaluate(([id, ms]) => window.E2E.waitMessages(id, 2, ms), [c.id, 5000]);
  expect(got.slice(0, 2)).toEqual(['tick!', 'tick!']);
  expect(Date.now() - t0).toBeGreaterThan(900);
});

test('raw websocket on /echo/websocket echoes; none on /disabled_websocket_echo', async ({ page, sockjsServer }) => {
  const wsBase = sockjsServer.origin.replace(/^http/, 'ws');
  const result = await page.evaluate(([base, ms]) => {
    function raw(url, msg) {
      return new Promise((resolve) => {
        const ws = new WebSocket(url);
        const t = setTimeout(() => { ws.close(); resolve({ error: 'deadline' }); }, ms);
        ws.onopen = () => ws.send(msg);
        ws.onmessage = (e) => { clearTimeout(t); ws.close(); resolve({ data: e.data }); };
        ws.onclose = (e) => { clearTimeout(t); resolve({ closed: e.code }); };
      });
    }
    return Promise.all([
      raw(base + '/echo/websocket', 'raw \u2028 </script> \ud83d\ude00'),
      raw(base + '/disabled_websocket_echo/websocket', 'x'),
    ]);
  }, [wsBase, WAIT_MS]);
  expect(result[0]).toEqual({ data: 'raw \u2028 </script> \ud83d\ude00' });
  expect(result[1].data, 'raw websocket must be off when websocket is disabled').toBeUndefined();
});
