'use strict';
// Recovery over STOMP: an unchanged @stomp/stompjs 7 page over sockjs-client
// with reconnectDelay subscribes to a topic with history (the test server's
// /stomp keeps history on every /topic/), remembers the x-stream-offset and
// x-stream-epoch of the last MESSAGE, and on each (re)connect subscribes
// again from the next offset. The server cuts its connection mid-stream
// (SEND /app/cut) while another connection keeps publishing: the page shows
// every message exactly once, in order. With E2E_CLUSTER=2 the reconnect
// may land on the other node (history in Redis).
const path = require('path');
const { test, expect, openHarness } = require('./lib/fixtures');

const WAIT_MS = 20000;
const STOMPJS = path.join(__dirname, '..', 'node_modules', '@stomp', 'stompjs', 'bundles', 'stomp.umd.js');

const HELPER = `
window.REC = (() => {
  function client(url, transport, reconnectDelay, onConnect) {
    const c = new StompJs.Client({
      webSocketFactory: () => new SockJS(url, null, { transports: [transport], timeout: 5000 }),
      reconnectDelay,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
    });
    c.onConnect = () => onConnect(c);
    c.activate();
    return c;
  }
  const st = { got: [], connects: 0, closes: 0, recovered: [], receipts: [] };
  return {
    st,
    // the subscriber: subscribes from its last position on every connect
    subscriber(url, transport, topic) {
      let last = null; // { offset, epoch }
      const c = client(url, transport, 200, (cl) => {
        st.connects++;
        const headers = { receipt: 'sub-' + st.connects };
        if (last) {
          headers['x-stream-offset'] = 'offset=' + (last.offset + 1);
          headers['x-stream-epoch'] = last.epoch;
        } else {
          headers['x-stream-offset'] = 'next';
        }
        cl.watchForReceipt(headers.receipt, (f) => {
          st.receipts.push(headers.receipt);
          if (f.headers['x-stream-recovered']) st.recovered.push(f.headers['x-stream-recovered']);
        });
        cl.subscribe(topic, (m) => {
          last = { offset: Number(m.headers['x-stream-offset']), epoch: m.headers['x-stream-epoch'] };
          st.got.push(m.body);
        }, headers);
      });
      c.onWebSocketClose = () => { st.closes++; };
      window.REC.sub = c;
    },
    publisher(url, transport) {
      return new Promise((resolve) => { window.REC.pub = client(url, transport, 0, () => resolve()); });
    },
    publish(topic, from, to) {
      for (let k = from; k < to; k++) window.REC.pub.publish({ destination: topic, body: String(k) });
    },
    cut() { window.REC.sub.publish({ destination: '/app/cut', body: '' }); },
    // presence: a member connection per name, and a watcher of the joins,
    // leaves and members
    member(url, transport, login, topic) {
      return new Promise((resolve) => {
        const c = new StompJs.Client({
          webSocketFactory: () => new SockJS(url, null, { transports: [transport], timeout: 5000 }),
          connectHeaders: { login }, reconnectDelay: 0,
        });
        c.onConnect = () => {
          c.watchForReceipt('m', () => resolve());
          c.subscribe(topic, () => {}, { 'x-presence': 'true', receipt: 'm' });
        };
        c.activate();
        (window.REC.members = window.REC.members || {})[login] = c;
      });
    },
    leave(login) { return window.REC.members[login].deactivate(); },
    watch(url, transport, name) {
      const w = { events: [], members: null };
      window.REC.watcher = w;
      return new Promise((resolve) => {
        const c = client(url, transport, 0, (cl) => {
          cl.watchForReceipt('w', () => resolve());
          cl.subscribe('/topic/presence.' + name, (m) => w.events.push(JSON.parse(m.body)), { receipt: 'w' });
        });
        w.client = c;
      });
    },
    members(name) {
      const w = window.REC.watcher;
      w.members = null;
      const sub = w.client.subscribe('/app/presence/' + name, (m) => {
        w.members = JSON.parse(m.body).map((mb) => mb.info).sort();
        sub.unsubscribe();
      });
    },
  };
})();
`;

test.skip(() => (process.env.E2E_SERVER || 'go') !== 'go', 'the sockjs-node peer has no /stomp service');

test.beforeEach(async ({ page, pageServer, sockjsServer }) => {
  await openHarness(page, { pageServer, sockjsServer });
  await page.addScriptTag({ path: STOMPJS });
  await page.addScriptTag({ content: HELPER });
});

for (const transport of ['websocket', 'xhr-streaming']) {
  test(`stompjs over ${transport} catches up after the server cuts its connection`, async ({ page, sockjsServer }) => {
    const topic = `/topic/rec-${transport.replace(/-/g, '')}-${Date.now() % 1000000}`;
    const url = `${sockjsServer.origin}/stomp`;
    await page.evaluate(([u, tr, t]) => window.REC.subscriber(u, tr, t), [url, transport, topic]);
    await page.waitForFunction(() => window.REC.st.receipts.includes('sub-1'), null, { timeout: WAIT_MS });
    await page.evaluate(([u, tr]) => window.REC.publisher(u, tr), [url, transport]);

    const N = 200;
    await page.evaluate(([t]) => window.REC.publish(t, 0, 50), [topic]);
    await page.waitForFunction(() => window.REC.st.got.length >= 10, null, { timeout: WAIT_MS });
    await page.evaluate(() => window.REC.cut()); // the server drops the subscriber
    await page.waitForFunction(() => window.REC.st.closes >= 1, null, { timeout: WAIT_MS });
    await page.evaluate(([t, n]) => window.REC.publish(t, 50, n), [topic, N]); // during the gap
    await page.waitForFunction(() => window.REC.st.connects >= 2, null, { timeout: WAIT_MS });
    await page.waitForFunction((n) => window.REC.st.got.length >= n, N, { timeout: WAIT_MS });
    await page.waitForTimeout(300); // no duplicate arrives late
    const st = await page.evaluate(() => window.REC.st);
    expect(st.got).toEqual(Array.from({ length: N }, (_, k) => String(k)));
    expect(st.recovered).toEqual(st.connects >= 2 ? Array(st.connects - 1).fill('true') : []);
  });
}

test('presence over STOMP: joins, leaves and members, across nodes with E2E_CLUSTER', async ({ page, sockjsServer }) => {
  const name = `pres${Date.now() % 1000000}`;
  const topic = `/topic/${name}`;
  const url = `${sockjsServer.origin}/stomp`;
  await page.evaluate(([u, n]) => window.REC.watch(u, 'websocket', n), [url, name]);
  for (const login of ['ann', 'bob', 'cat']) {
    await page.evaluate(([u, l, t]) => window.REC.member(u, 'websocket', l, t), [url, login, topic]);
  }
  await page.waitForFunction(() => window.REC.watcher.events.length >= 3, null, { timeout: WAIT_MS });
  await page.evaluate(([n]) => window.REC.members(n), [name]);
  await page.waitForFunction(() => window.REC.watcher.members, null, { timeout: WAIT_MS });
  expect(await page.evaluate(() => window.REC.watcher.members)).toEqual(['ann', 'bob', 'cat']);
  await page.evaluate(() => window.REC.leave('bob'));
  await page.waitForFunction(() => window.REC.watcher.events.length >= 4, null, { timeout: WAIT_MS });
  const events = await page.evaluate(() => window.REC.watcher.events);
  expect(events.slice(0, 3).map((e) => e.joined && e.member.info).sort()).toEqual(['ann', 'bob', 'cat']);
  expect(events[3]).toMatchObject({ topic, joined: false, member: { info: 'bob' } });
  await page.evaluate(([n]) => window.REC.members(n), [name]);
  await page.waitForFunction(() => window.REC.watcher.members, null, { timeout: WAIT_MS });
  expect(await page.evaluate(() => window.REC.watcher.members)).toEqual(['ann', 'cat']);
});
