'use strict';
// @stomp/stompjs 7 over sockjs-client against the test server's /stomp
// service (examples/testserver/services/stomp.go), through websocket,
// xhr-streaming and xhr-polling. The page is the harness page (page origin,
// so every request is cross-origin); the stompjs UMD bundle is added from
// node_modules, and the in-page helper below (window.ST) keeps one stompjs
// Client per connection with what it received.
//
// Per transport: topic fan-out in order with headers preserved, unsubscribe,
// receipts; queue once-only, user and application destinations; ERROR
// frames. Destinations and user names carry a per-test suffix, since the
// server lives across tests. The node peer has no /stomp: skipped there.
const path = require('path');
const { test, expect, openHarness } = require('./lib/fixtures');

const WAIT_MS = 15000;
const STOMPJS = path.join(__dirname, '..', 'node_modules', '@stomp', 'stompjs', 'bundles', 'stomp.umd.js');

// In-page helper: window.ST.
const HELPER = `
window.ST = (() => {
  const conns = {};
  let next = 0;
  function until(cond, ms, what) {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      (function poll() {
        let v;
        try { v = cond(); } catch (e) { return reject(e); }
        if (v) return resolve(v);
        if (Date.now() - t0 > ms) return reject(new Error('timed out waiting for ' + what));
        setTimeout(poll, 10);
      })();
    });
  }
  return {
    connect(url, transport, login, ms) {
      const id = 'c' + (next++);
      const c = { messages: {}, errors: [], closes: [], receipts: [], subs: {}, connected: false, transport: null };
      c.client = new StompJs.Client({
        webSocketFactory: () => {
          const sock = new SockJS(url, null, { transports: [transport], timeout: 5000 });
          c.sock = sock;
          return sock;
        },
        connectHeaders: login ? { login } : {},
        reconnectDelay: 0,
        onConnect: (frame) => { c.connected = true; c.connectedHeaders = frame.headers; c.transport = c.sock.transport; },
        onStompError: (frame) => { c.errors.push({ headers: frame.headers, body: frame.body }); },
        onWebSocketClose: (evt) => { c.closes.push({ code: evt.code, reason: evt.reason }); },
        onUnhandledReceipt: (frame) => { c.receipts.push(frame.headers['receipt-id']); },
      });
      conns[id] = c;
      c.client.activate();
      return until(() => c.connected || c.closes.length, ms, 'CONNECTED').then(() => {
        if (!c.connected) throw new Error('closed before CONNECTED: ' + JSON.stringify(c.closes));
        return { id, transport: c.transport, headers: c.connectedHeaders };
      });
    },
    subscribe(id, dest, headers) {
      const c = conns[id];
      const list = (c.messages[dest] = c.messages[dest] || []);
      const sub = c.client.subscribe(dest, (m) => {
        list.push({ body: m.body, headers: m.headers });
      }, headers || {});
      c.subs[sub.id] = sub;
      return sub.id;
    },
    unsubscribe(id, subId) { conns[id].subs[subId].unsubscribe(); },
    publish(id, destination, body, headers) { conns[id].client.publish({ destination, body, headers: headers || {} }); },
    messages(id, dest) { return (conns[id].messages[dest] || []).slice(); },
    waitMessages(id, dest, n, ms) {
      return until(() => (conns[id].messages[dest] || []).length >= n, ms, n + ' messages on ' + dest)
        .then(() => conns[id].messages[dest].slice());
    },
    waitReceipt(id, receipt, ms) {
      return until(() => conns[id].receipts.includes(receipt), ms, 'RECEIPT ' + receipt).then(() => true);
    },
    waitError(id, ms) {
      const c = conns[id];
      return until(() => c.errors.length && c.closes.length, ms, 'ERROR and close')
        .then(() => ({ errors: c.errors, closes: c.closes }));
    },
    health(id) { const c = conns[id]; return { errors: c.errors.length, closes: c.closes.length, receipts: c.receipts.slice() }; },
    disconnect(id) { return conns[id].client.deactivate(); },
  };
})();
`;

test.skip(() => (process.env.E2E_SERVER || 'go') !== 'go', 'the sockjs-node peer has no /stomp service');

test.beforeEach(async ({ page, pageServer, sockjsServer }) => {
  await openHarness(page, { pageServer, sockjsServer });
  await page.addScriptTag({ path: STOMPJS });
  await page.addScriptTag({ content: HELPER });
});

let seq = 0;
function unique(transport) {
  seq += 1;
  return `${transport.replace(/-/g, '')}${seq}x${Date.now() % 100000}`;
}

async function stompConnect(page, sockjsServer, transport, login) {
  const c = await page.evaluate(([u, tr, l, ms]) => window.ST.connect(u, tr, l, ms),
    [`${sockjsServer.origin}/stomp`, transport, login || '', WAIT_MS]);
  expect(c.transport, 'forced transport').toBe(transport);
  expect(c.headers.version).toBe('1.2');
  return c.id;
}

const ev = (page, fn, ...args) => page.evaluate(fn, args);

// Every transport sockjs-client uses from a page of another origin (plain
// htmlfile works same-origin only; its iframe-htmlfile form runs here). The
// forced transport opens within 5 s (SockJS's timeout option) rather than
// its RTO-based default: there is no fallback to save it on a busy box.
// Through the broker relay (E2E_STOMP_RELAY) the three main transports only:
// the relay sits behind the transport, and RabbitMQ now and then refuses an
// UNSUBSCRIBE that follows its SUBSCRIBE at once even after the SUBSCRIBE's
// RECEIPT (it registers the consumer later still), which the topic scenario
// does: more rows would only run into that more often.
const ALL_STOMP_TRANSPORTS = ['websocket', 'xhr-streaming', 'xhr-polling', 'eventsource', 'iframe-eventsource',
  'iframe-htmlfile', 'iframe-xhr-polling', 'jsonp-polling'];
const STOMP_TRANSPORTS = process.env.E2E_STOMP_RELAY ? ALL_STOMP_TRANSPORTS.slice(0, 3) : ALL_STOMP_TRANSPORTS;

for (const transport of STOMP_TRANSPORTS) {
  test.describe(`STOMP over ${transport}`, () => {
    test('topic fan-out in order with headers, receipts, unsubscribe', async ({ page, sockjsServer }) => {
      const u = unique(transport);
      const topic = `/topic/news-${u}`;
      const a = await stompConnect(page, sockjsServer, transport, `a-${u}`);
      const b = await stompConnect(page, sockjsServer, transport, `b-${u}`);
      for (const id of [a, b]) {
        await ev(page, ([i, t]) => window.ST.subscribe(i, t, { receipt: 'sub-' + i }), id, topic);
        await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'sub-' + i, ms), id, WAIT_MS);
      }
      const N = 50;
      await ev(page, ([i, t, n]) => {
        for (let k = 0; k < n; k++) {
          window.ST.publish(i, t, 'msg ' + k + ' é✓', { 'content-type': 'text/plain;charset=utf-8', 'x-seq': String(k), 'x-odd': 'a:b\\z\nq' });
        }
        window.ST.publish(i, t, 'last', { receipt: 'pub-done' });
      }, a, topic, N);
      await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'pub-done', ms), a, WAIT_MS);
      for (const id of [a, b]) {
        const got = await ev(page, ([i, t, n, ms]) => window.ST.waitMessages(i, t, n, ms), id, topic, N + 1, WAIT_MS);
        expect(got.length).toBe(N + 1);
        got.slice(0, N).forEach((m, k) => {
          expect(m.body).toBe(`msg ${k} é✓`);
          expect(m.headers['x-seq']).toBe(String(k));
          // colon, backslash and LF survive both escapings. (No backslash before
          // a "c", "n" or "r" in the value: stompjs 7.5.0 unescapes with one
          // replace per sequence, \\r \\n \\c before \\\\, so it reads an escaped
          // backslash followed by c as a colon.)
          expect(m.headers['x-odd']).toBe('a:b\\z\nq');
          expect(m.headers['content-type']).toBe('text/plain;charset=utf-8');
          expect(m.headers.destination).toBe(topic);
          expect(m.headers['message-id']).toBeTruthy();
          expect(m.headers.subscription).toBeTruthy();
        });
        expect(got[N].body).toBe('last');
      }
      // b subscribes to another topic and unsubscribes; a publishes there
      const subId = await ev(page, ([i, t]) => window.ST.subscribe(i, t + '-other', {}), b, topic);
      await ev(page, ([i, s]) => window.ST.unsubscribe(i, s), b, subId);
      await ev(page, ([i, t]) => window.ST.publish(i, t + '-other', 'after unsubscribe', { receipt: 'after' }), a, topic);
      await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'after', ms), a, WAIT_MS);
      // a round trip on b's connection orders b's frames after the publish
      await ev(page, ([i, t]) => window.ST.publish(i, t + '-sync', 'x', { receipt: 'sync' }), b, topic);
      await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'sync', ms), b, WAIT_MS);
      expect(await ev(page, ([i, t]) => window.ST.messages(i, t + '-other'), b, topic)).toEqual([]);
    });

    test('queue once-only, user and app destinations', async ({ page, sockjsServer }) => {
      const u = unique(transport);
      const queue = `/queue/jobs-${u}`;
      const alice = `alice-${u}`;
      const c1 = await stompConnect(page, sockjsServer, transport, alice);
      const c2 = await stompConnect(page, sockjsServer, transport, alice);
      const bob = await stompConnect(page, sockjsServer, transport, `bob-${u}`);
      for (const id of [c1, c2]) {
        await ev(page, ([i, q]) => window.ST.subscribe(i, q, { receipt: 'q-' + i }), id, queue);
        await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'q-' + i, ms), id, WAIT_MS);
        await ev(page, ([i]) => window.ST.subscribe(i, '/user/queue/inbox', { receipt: 'in-' + i }), id);
        await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'in-' + i, ms), id, WAIT_MS);
      }
      const N = 20;
      await ev(page, ([i, q, n]) => {
        for (let k = 0; k < n; k++) window.ST.publish(i, q, 'job ' + k);
      }, bob, queue, N);
      // every job reaches exactly one consumer
      await page.waitForFunction(([a, b, q, n]) =>
        window.ST.messages(a, q).length + window.ST.messages(b, q).length >= n, [c1, c2, queue, N], { timeout: WAIT_MS });
      await ev(page, ([i]) => window.ST.publish(i, '/topic/sync', '', { receipt: 'qsync' }), bob);
      await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'qsync', ms), bob, WAIT_MS);
      const got1 = await ev(page, ([i, q]) => window.ST.messages(i, q), c1, queue);
      const got2 = await ev(page, ([i, q]) => window.ST.messages(i, q), c2, queue);
      const all = got1.concat(got2).map((m) => m.body).sort();
      expect(all).toEqual(Array.from({ length: N }, (_, k) => `job ${k}`).sort());
      if (!Number(process.env.E2E_CLUSTER || 0)) {
        // One node hands queue messages out round robin; across nodes
        // (stomp/redisqueue) consumers compete, so only once-only holds.
        expect(got1.length, 'round robin').toBe(N / 2);
      }

      // SEND /user/alice/queue/inbox reaches both of alice's sessions, not bob
      await ev(page, ([i]) => window.ST.subscribe(i, '/user/queue/inbox', {}), bob);
      await ev(page, ([i, a]) => window.ST.publish(i, '/user/' + a + '/queue/inbox', 'hi alice', { 'x-from': 'bob' }), bob, alice);
      for (const id of [c1, c2]) {
        const m = await ev(page, ([i, ms]) => window.ST.waitMessages(i, '/user/queue/inbox', 1, ms), id, WAIT_MS);
        expect(m[0].body).toBe('hi alice');
        expect(m[0].headers['x-from']).toBe('bob');
        expect(m[0].headers.destination).toBe('/user/queue/inbox');
      }

      // /app/echo answers on the sender's /user/queue/echo only
      for (const id of [c1, c2]) {
        await ev(page, ([i]) => window.ST.subscribe(i, '/user/queue/echo', { receipt: 'e-' + i }), id);
        await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'e-' + i, ms), id, WAIT_MS);
      }
      await ev(page, ([i]) => window.ST.publish(i, '/app/echo', 'echo me ✓', { 'x-k': 'v' }), c1);
      const echo = await ev(page, ([i, ms]) => window.ST.waitMessages(i, '/user/queue/echo', 1, ms), c1, WAIT_MS);
      expect(echo[0].body).toBe('echo me ✓');
      expect(echo[0].headers['x-k']).toBe('v');
      await ev(page, ([i]) => window.ST.publish(i, '/topic/sync', '', { receipt: 'esync' }), c2);
      await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'esync', ms), c2, WAIT_MS);
      expect(await ev(page, ([i]) => window.ST.messages(i, '/user/queue/echo'), c2)).toEqual([]);
      expect(await ev(page, ([i]) => window.ST.messages(i, '/user/queue/inbox'), bob)).toEqual([]);
    });

    test('application errors keep the session; /app/hello answers the subscriber once', async ({ page, sockjsServer }) => {
      const u = unique(transport);
      const login = `s-${u}`;
      const c = await stompConnect(page, sockjsServer, transport, login);
      const other = await stompConnect(page, sockjsServer, transport, login);
      for (const id of [c, other]) {
        await ev(page, ([i]) => window.ST.subscribe(i, '/user/queue/errors', { receipt: 'errs-' + i }), id);
        await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'errs-' + i, ms), id, WAIT_MS);
      }
      // @SubscribeMapping style: the answer reaches this subscription only
      await ev(page, ([i]) => window.ST.subscribe(i, '/app/hello', { receipt: 'hello' }), c);
      const hello = await ev(page, ([i, ms]) => window.ST.waitMessages(i, '/app/hello', 1, ms), c, WAIT_MS);
      expect(hello.map((m) => m.body)).toEqual([`hello ${login}`]);
      expect(hello[0].headers.destination).toBe('/app/hello');
      // a failing handler, a panicking one, a destination nobody handles
      await ev(page, ([i]) => {
        window.ST.publish(i, '/app/fail', '', { receipt: 'f1' });
        window.ST.publish(i, '/app/panic', '', { receipt: 'f2' });
        window.ST.publish(i, '/app/nobody-' + Date.now(), '', { receipt: 'f3' });
      }, c);
      const errs = await ev(page, ([i, ms]) => window.ST.waitMessages(i, '/user/queue/errors', 3, ms), c, WAIT_MS);
      expect(errs.map((m) => m.body)).toEqual(['/app/fail fails, as asked', 'request failed', 'request failed']);
      expect(errs.map((m) => m.headers['x-receipt'])).toEqual(['f1', 'f2', 'f3']);
      // the session goes on: a round trip, no ERROR, no close
      await ev(page, ([i]) => window.ST.subscribe(i, '/user/queue/echo', { receipt: 'e' }), c);
      await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'e', ms), c, WAIT_MS);
      await ev(page, ([i]) => window.ST.publish(i, '/app/echo', 'still here'), c);
      const echo = await ev(page, ([i, ms]) => window.ST.waitMessages(i, '/user/queue/echo', 1, ms), c, WAIT_MS);
      expect(echo[0].body).toBe('still here');
      const health = await ev(page, ([i]) => window.ST.health(i), c);
      expect(health.errors, 'no ERROR frame').toBe(0);
      expect(health.closes, 'not closed').toBe(0);
      expect(health.receipts.filter((r) => /^f\d$/.test(r)), 'failed frames get no RECEIPT').toEqual([]);
      // the other session of the same user got neither the answer nor the errors
      await ev(page, ([i]) => window.ST.publish(i, '/topic/sync', '', { receipt: 'osync' }), other);
      await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'osync', ms), other, WAIT_MS);
      expect(await ev(page, ([i]) => window.ST.messages(i, '/user/queue/errors'), other)).toEqual([]);
    });

    test('ERROR frame, then the connection closes', async ({ page, sockjsServer }) => {
      const u = unique(transport);
      const c = await stompConnect(page, sockjsServer, transport, `e-${u}`);
      await ev(page, ([i]) => window.ST.publish(i, '/nowhere', 'x', { receipt: 'bad' }), c);
      const r = await ev(page, ([i, ms]) => window.ST.waitError(i, ms), c, WAIT_MS);
      expect(r.errors[0].headers.message).toContain('unknown destination');
      expect(r.errors[0].headers['receipt-id']).toBe('bad');
      expect(r.closes[0].code).toBe(4000);
    });
  });
}

// E2E_CLUSTER=2: two nodes behind the round-robin proxy. A user's
// destination reaches a session on the other node (bus), and a queue is
// shared by the nodes (stomp/redisqueue): a SEND on one node reaches the
// consumer on the other, each message once, in order.
test('STOMP across cluster nodes: user destinations and queues', async ({ page, sockjsServer }) => {
  test.skip(!Number(process.env.E2E_CLUSTER || 0), 'needs the cluster run (E2E_CLUSTER=2)');
  const u = unique('cluster');
  const alice = `alice-${u}`;
  const bob = `bob-${u}`;
  // Connect until alice and bob are on different nodes (CONNECTED's server
  // header names the node).
  const seen = { alice: [], bob: [] };
  let pair = null;
  for (let k = 0; k < 12 && !pair; k++) {
    const who = k % 2 ? 'bob' : 'alice';
    // A connection is two requests (/info, websocket) and its session lives
    // where the websocket lands: one more request now and then shifts the
    // round robin to the other node.
    if (k % 4 === 1) await page.evaluate((url) => fetch(url).then((r) => r.text()), `${sockjsServer.origin}/stomp/info`);
    const c = await page.evaluate(([url, l, ms]) => window.ST.connect(url, 'websocket', l, ms),
      [`${sockjsServer.origin}/stomp`, who === 'alice' ? alice : bob, WAIT_MS]);
    seen[who].push(c);
    for (const a of seen.alice) {
      for (const b of seen.bob) {
        if (!pair && a.headers.server !== b.headers.server) pair = [a.id, b.id];
      }
    }
  }
  expect(pair, 'connections on two nodes').toBeTruthy();
  const [a, b] = pair;
  await ev(page, ([i, q]) => {
    window.ST.subscribe(i, '/user/queue/inbox', {});
    window.ST.subscribe(i, q, { receipt: 'ready' });
  }, a, `/queue/jobs-${u}`);
  await ev(page, ([i, ms]) => window.ST.waitReceipt(i, 'ready', ms), a, WAIT_MS);
  await ev(page, ([i, to, q]) => {
    window.ST.publish(i, '/user/' + to + '/queue/inbox', 'across nodes');
    for (let k = 0; k < 10; k++) window.ST.publish(i, q, 'job ' + k);
  }, b, alice, `/queue/jobs-${u}`);
  const inbox = await ev(page, ([i, ms]) => window.ST.waitMessages(i, '/user/queue/inbox', 1, ms), a, WAIT_MS);
  expect(inbox[0].body).toBe('across nodes');
  const jobs = await ev(page, ([i, q, ms]) => window.ST.waitMessages(i, q, 10, ms), a, `/queue/jobs-${u}`, WAIT_MS);
  expect(jobs.map((m) => m.body)).toEqual(Array.from({ length: 10 }, (_, k) => `job ${k}`));
});
