'use strict';
// Transport selection when the page does not force one (no `transports` option).
const { test, expect, openHarness, RECEIVERS } = require('./lib/fixtures');

const WAIT_MS = 15000;

test.beforeEach(async ({ page, pageServer, sockjsServer }) => {
  await openHarness(page, { pageServer, sockjsServer });
});

function receivers(net, origin) {
  return [...new Set(net.sockjs(origin).filter((e) => RECEIVERS.includes(e.endpoint)).map((e) => e.endpoint))];
}

test('default on /echo: websocket', async ({ page, net, sockjsServer }) => {
  const c = await page.evaluate(([u, ms]) => window.E2E.connect(u, null, ms), [`${sockjsServer.origin}/echo`, WAIT_MS]);
  expect(c.transport).toBe('websocket');
  expect(receivers(net, sockjsServer.origin)).toEqual(['websocket']);
  const r = await page.evaluate(([id, ms]) => window.E2E.roundTrip(id, ['default transport'], ms), [c.id, WAIT_MS]);
  expect(r.mismatches).toEqual([]);
});

test('default on /disabled_websocket_echo: xhr-streaming, no websocket attempted', async ({ page, net, sockjsServer }) => {
  const base = `${sockjsServer.origin}/disabled_websocket_echo`;
  const info = await page.evaluate((u) => fetch(u + '/info', { credentials: 'include' }).then((r) => r.json()), base);
  expect(info.websocket).toBe(false);
  const c = await page.evaluate(([u, ms]) => window.E2E.connect(u, null, ms), [base, WAIT_MS]);
  expect(c.transport).toBe('xhr-streaming');
  expect(receivers(net, sockjsServer.origin)).toEqual(['xhr_streaming']);
  const r = await page.evaluate(([id, ms]) => window.E2E.roundTrip(id, ['no websocket here'], ms), [c.id, WAIT_MS]);
  expect(r.mismatches).toEqual([]);
});
