'use strict';
// Websocket options in Chromium (Go server only): permessage-deflate agreed on
// /compressed_echo and not on /echo, as the handshake's answer shows on the
// wire (Chromium's own record of it, through the DevTools protocol), with an
// exact echo of large compressible and small messages through sockjs-client.
const { test, expect, openHarness } = require('./lib/fixtures');

const WAIT_MS = 15000;

test.skip((process.env.E2E_SERVER || 'go').toLowerCase() !== 'go', 'the Go test server has /compressed_echo');

test.beforeEach(async ({ page, pageServer, sockjsServer }) => {
  await openHarness(page, { pageServer, sockjsServer });
});

/** Records every websocket handshake answer Chromium receives. */
async function recordHandshakes(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  const answers = [];
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => answers.push(e.response));
  return answers;
}

/** The answer's headers with lowercase names. */
function lowerHeaders(h) {
  const out = {};
  for (const [k, v] of Object.entries(h || {})) out[k.toLowerCase()] = v;
  return out;
}

for (const { service, compressed } of [
  { service: '/compressed_echo', compressed: true },
  { service: '/echo', compressed: false },
]) {
  test(`${service}: permessage-deflate ${compressed ? 'agreed' : 'not agreed'}, echo exact`, async ({ page, sockjsServer }) => {
    const answers = await recordHandshakes(page);
    const c = await page.evaluate(([u, ms]) => window.E2E.connect(u, ['websocket'], ms),
      [`${sockjsServer.origin}${service}`, WAIT_MS]);
    expect(c.transport).toBe('websocket');

    const big = 'Sockline compresses this line. '.repeat(2000); // 62 KB, above the threshold
    const small = 'small';
    const r = await page.evaluate(([id, msgs, ms]) => window.E2E.roundTrip(id, msgs, ms), [c.id, [big, small, big], WAIT_MS]);
    expect(r.mismatches).toEqual([]);

    expect(answers.length, 'one websocket handshake').toBe(1);
    const h = lowerHeaders(answers[0].headers);
    expect(answers[0].status).toBe(101);
    const ext = h['sec-websocket-extensions'] || '';
    if (compressed) {
      expect(ext, 'Sec-WebSocket-Extensions answered').toMatch(/^permessage-deflate\b/);
    } else {
      expect(ext, 'no extension agreed').toBe('');
    }
  });
}
