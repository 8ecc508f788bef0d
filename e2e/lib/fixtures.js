'use strict';
// Playwright fixtures: the page server and the SockJS server under test
// (worker-scoped: started once, kept alive across tests), a network recorder
// that sees every request of the page and its iframes plus WebSockets, and a
// console collector. On failure the console log, the network log and the
// server's output are saved next to the screenshot in e2e/test-results/.
const fs = require('fs');
const path = require('path');
const base = require('@playwright/test');
const { startPageServer, createTestServer, PAGES } = require('./servers');

const HARNESS_SOURCE = fs.readFileSync(path.join(PAGES, 'harness.js'), 'utf8');

// Receiving and sending endpoints of the SockJS protocol: /{prefix}/{server}/{session}/{endpoint}
const ENDPOINT_RE = /\/[^/.]+\/[^/.]+\/(websocket|xhr_streaming|xhr_send|xhr|eventsource|htmlfile|jsonp_send|jsonp)\/?$/;
const RECEIVERS = ['websocket', 'xhr_streaming', 'xhr', 'eventsource', 'htmlfile', 'jsonp'];
const SENDERS = ['xhr_send', 'jsonp_send'];

function safe(fn, fallback) {
  try { return fn(); } catch (_) { return fallback; }
}

class NetRecorder {
  constructor(page) {
    this.entries = [];
    page.on('request', (r) => {
      const frame = safe(() => r.frame(), null);
      this.entries.push({
        kind: 'http',
        method: r.method(),
        url: r.url(),
        resourceType: r.resourceType(),
        frameUrl: frame ? safe(() => frame.url(), '') : '',
        parentFrameUrl: frame ? safe(() => (frame.parentFrame() ? frame.parentFrame().url() : ''), '') : '',
        navigation: safe(() => r.isNavigationRequest(), false),
      });
    });
    page.on('requestfailed', (r) => {
      this.entries.push({ kind: 'failed', method: r.method(), url: r.url(), error: safe(() => r.failure().errorText, '') });
    });
    page.on('websocket', (ws) => {
      this.entries.push({ kind: 'ws', method: 'GET', url: ws.url(), frameUrl: '', parentFrameUrl: '' });
    });
  }

  reset() { this.entries = []; }

  /** Requests to the given server (host:port), each tagged with its SockJS endpoint. */
  sockjs(origin) {
    const host = new URL(origin).host;
    return this.entries
      .filter((e) => e.kind !== 'failed' && safe(() => new URL(e.url).host, '') === host)
      .map((e) => {
        const p = new URL(e.url).pathname;
        let endpoint = 'other';
        const m = ENDPOINT_RE.exec(p);
        if (m) endpoint = m[1];
        else if (/\/iframe[0-9a-z_.-]*\.html$/.test(p)) endpoint = 'iframe';
        else if (/\/info\/?$/.test(p)) endpoint = 'info';
        return Object.assign({ endpoint, path: p }, e);
      });
  }

  text() {
    return this.entries.map((e) => {
      const where = e.frameUrl ? ` frame=${e.frameUrl}` : '';
      return `${e.kind} ${e.method || ''} ${e.url}${e.resourceType ? ` [${e.resourceType}]` : ''}${where}${e.error ? ` error=${e.error}` : ''}`;
    }).join('\n');
  }
}

const test = base.test.extend({
  pageServer: [async ({}, use) => {
    const ps = await startPageServer();
    await use(ps);
    await ps.close();
  }, { scope: 'worker' }],

  sockjsServer: [async ({ pageServer }, use) => {
    const srv = await createTestServer(pageServer);
    await srv.start();
    await use(srv);
    await srv.stop();
  }, { scope: 'worker', timeout: 30000 }],

  // A test that kills the server (restart scenario) must not take the rest
  // of the suite down with it: bring it back before the next test.
  serverUp: [async ({ sockjsServer }, use, testInfo) => {
    if (!sockjsServer.alive()) await sockjsServer.start();
    const mark = sockjsServer.log.length;
    await use(sockjsServer);
    if (testInfo.status !== 'passed' && testInfo.status !== 'skipped') {
      const file = testInfo.outputPath('server.log');
      fs.writeFileSync(file, `${sockjsServer.logText()}\n(lines from this test start at ${mark})\n`);
      await testInfo.attach('server.log', { path: file, contentType: 'text/plain' });
    }
  }, { auto: true }],

  net: async ({ page }, use) => {
    // created by the page fixture below; exposed for the tests
    await use(page.__net);
  },

  consoleLog: async ({ page }, use) => {
    await use(page.__console);
  },

  page: async ({ page }, use, testInfo) => {
    const lines = [];
    page.__console = lines;
    page.on('console', (msg) => {
      const loc = safe(() => msg.location(), {});
      lines.push(`[${msg.type()}] ${msg.text()}${loc && loc.url ? `  (${loc.url}:${loc.lineNumber})` : ''}`);
    });
    page.on('pageerror', (err) => lines.push(`[pageerror] ${err && err.stack ? err.stack : err}`));
    page.on('crash', () => lines.push('[crash] page crashed'));
    page.__net = new NetRecorder(page);
    await use(page);
    if (testInfo.status !== 'passed' && testInfo.status !== 'skipped') {
      const consoleFile = testInfo.outputPath('console.log');
      fs.writeFileSync(consoleFile, lines.join('\n') + '\n');
      await testInfo.attach('console.log', { path: consoleFile, contentType: 'text/plain' });
      const netFile = testInfo.outputPath('network.log');
      fs.writeFileSync(netFile, page.__net.text() + '\n');
      await testInfo.attach('network.log', { path: netFile, contentType: 'text/plain' });
    }
  },
});

/**
 * Loads the harness. Cross-origin (default): index.html from the page server.
 * sameOrigin: the SockJS server's own /echo/iframe.html (which loads sockjs.js
 * from the page server), with the harness evaluated into it.
 */
async function openHarness(page, { pageServer, sockjsServer, sameOrigin = false }) {
  if (sameOrigin) {
    await page.goto(`${sockjsServer.origin}/echo/iframe.html`);
    await page.waitForFunction(() => typeof window.SockJS === 'function', null, { timeout: 15000 });
    await page.evaluate(HARNESS_SOURCE);
  } else {
    await page.goto(`${pageServer.origin}/index.html`);
  }
  await page.waitForFunction(() => !!window.E2E, null, { timeout: 15000 });
  page.__net.reset();
}

/**
 * page.evaluate that also ends with the error as soon as any frame of the page
 * (iframes included) throws an uncaught error, instead of running into the
 * in-page deadline.
 */
async function evalWatch(page, fn, arg) {
  let onError;
  const failed = new Promise((_, reject) => {
    onError = (err) => reject(new Error(`uncaught error in a frame of the page: ${err && err.stack ? err.stack : err}`));
    page.on('pageerror', onError);
  });
  try {
    return await Promise.race([page.evaluate(fn, arg), failed]);
  } finally {
    page.off('pageerror', onError);
  }
}

/** window.__pwned in the page and in every frame (iframes included). */
async function pwnedFrames(page) {
  const hits = [];
  for (const frame of page.frames()) {
    const v = await frame.evaluate(() => window.__pwned).catch(() => undefined);
    if (v !== undefined) hits.push({ frame: frame.url(), value: v });
  }
  return hits;
}

module.exports = {
  test,
  expect: base.expect,
  openHarness,
  evalWatch,
  pwnedFrames,
  RECEIVERS,
  SENDERS,
  HARNESS_SOURCE,
};
