'use strict';
// examples/chat in two browser pages on two origins and two transports.
//
// The chat binary (built by global-setup into E2E_GO_CHAT_BIN) runs on a free
// loopback port with `-allow-origin <page origin> -sockjs-url <page origin>/sockjs.js`.
//   - page A: the chat server's own page (`/?name=Ann`): same-origin, default
//     transport, so websocket;
//   - page B: the same page, fetched from the chat server and served by the
//     page server as /chat.html (so B runs exactly the client code A runs), with
//     ?server=<chat>/chat&transport=xhr-polling&name=Bob: every SockJS request of
//     B is cross-origin and goes through the -allow-origin CORS path.
//     (Not a route.fulfill of the server's markup: Chromium puts a fulfilled
//     document in the public address space, and its Local Network Access check
//     then refuses the page's requests to 127.0.0.1.)
//
// Joins: A joins an empty room first; B's welcome then lists Ann, and both
// pages show "online: Ann [websocket], Bob [xhr]".
//
// Checks: the events (window.chatEvents) of both pages, exactly and in order;
// the log lines in the DOM with each user's transport (the server's
// Session.Transport(): "websocket", "xhr") right after their name; messages
// typed in A and in B shown in both; B's wire (only /xhr polling and /xhr_send to
// the chat server, no websocket, no iframe) and A's (a websocket); B closes
// (chatSocket.close()) and A shows B's leave. Every wait has a 15 s deadline. On
// failure the fixtures save screenshots of both pages, B's console and network
// log, and this file's fixture A's console, A's network log and the chat
// server's output.
const fs = require('fs');
const path = require('path');
const base = require('./lib/fixtures');
const { ServerProcess, freePort, httpGet } = require('./lib/servers');

const { expect, RECEIVERS, SENDERS } = base;
const WAIT_MS = 15000;

const test = base.test.extend({
  // The chat server, once per worker; null when there is no Go chat binary
  // (E2E_SERVER=node, or a prebuilt E2E_GO_TESTSERVER_BIN without a chat one).
  chatServer: [async ({ pageServer }, use) => {
    const bin = process.env.E2E_GO_CHAT_BIN;
    if (!bin) {
      await use(null);
      return;
    }
    const srv = new ServerProcess({
      name: 'go-chat',
      command: bin,
      args: ['-allow-origin', pageServer.origin],
      port: await freePort(),
      sockjsUrl: pageServer.sockjsUrl,
      readyPath: '/chat/info',
    });
    await srv.start();
    await use(srv);
    await srv.stop();
  }, { scope: 'worker', timeout: 30000 }],

  // Page A, a second page of the test's browser context (so the failure
  // screenshot covers it too), with its console, requests and websockets recorded.
  pageA: async ({ context, chatServer }, use, testInfo) => {
    const p = await context.newPage();
    const lines = [];
    const requests = [];
    p.on('console', (msg) => lines.push(`[${msg.type()}] ${msg.text()}`));
    p.on('pageerror', (err) => lines.push(`[pageerror] ${err && err.stack ? err.stack : err}`));
    p.on('crash', () => lines.push('[crash] page crashed'));
    p.on('request', (r) => requests.push({ kind: 'http', url: r.url() }));
    p.on('websocket', (ws) => requests.push({ kind: 'ws', url: ws.url() }));
    p.__console = lines;
    p.__requests = requests;
    const mark = chatServer ? chatServer.log.length : 0;
    await use(p);
    if (testInfo.status !== 'passed' && testInfo.status !== 'skipped') {
      const save = async (name, text) => {
        const file = testInfo.outputPath(name);
        fs.writeFileSync(file, text);
        await testInfo.attach(name, { path: file, contentType: 'text/plain' });
      };
      await save('console-A.log', lines.join('\n') + '\n');
      await save('network-A.log', requests.map((r) => `${r.kind} ${r.url}`).join('\n') + '\n');
      if (chatServer) {
        await save('chat-server.log', `${chatServer.logText()}\n(lines from this test start at ${mark})\n`);
      }
    }
  },
});

/** The chat events a page has received, exactly and in order, within the deadline. */
async function expectEvents(p, who, want) {
  await expect.poll(() => p.evaluate(() => window.chatEvents || []), {
    message: `chat events seen by ${who}`,
    timeout: WAIT_MS,
  }).toEqual(want);
}

/** The log lines of a page: who, the transport right after the name, and the whole text. */
async function expectLines(p, who, want) {
  await expect.poll(() => p.evaluate(() => Array.from(document.querySelectorAll('#log > div')).map((d) => {
    const name = d.querySelector('.who');
    const tr = d.querySelector('.who + .tr');
    return {
      who: name ? name.textContent : null,
      transport: tr ? tr.textContent : null,
      text: d.textContent,
    };
  })), { message: `log lines on ${who}'s page`, timeout: WAIT_MS }).toEqual(want);
}

const line = (user, transport, rest) => ({ who: user, transport: ` [${transport}]`, text: `${user} [${transport}]${rest}` });

test('chat: two pages on different transports see joins, messages, transports and leaves', async ({
  page: pageB, pageA, net, consoleLog, pageServer, chatServer,
}) => {
  test.skip(!chatServer, 'needs the Go chat binary (E2E_SERVER=go builds it into E2E_GO_CHAT_BIN)');
  const chat = chatServer.origin;
  const ann = (type, extra) => Object.assign({ type, user: 'Ann', transport: 'websocket' }, extra);
  const bob = (type, extra) => Object.assign({ type, user: 'Bob', transport: 'xhr' }, extra);

  // B's document is the chat server's own page, served from the second origin.
  const served = await httpGet(`${chat}/`, 5000);
  expect(served.status, 'GET / of the chat server').toBe(200);
  pageServer.serve('/chat.html', served.body);

  // Watch B's sends: its first message is its name, sent cross-origin.
  const sends = [];
  pageB.on('request', (req) => {
    const u = new URL(req.url());
    if (u.origin === chat && u.pathname.endsWith('/xhr_send')) {
      // allHeaders (unlike headers) includes Origin, which the network stack adds
      sends.push(req.allHeaders().then((h) => ({ body: req.postData(), origin: h.origin })));
    }
  });

  {
    // A joins an empty room.
    await pageA.goto(`${chat}/?name=Ann`);
    await expectEvents(pageA, 'A', [ann('welcome'), ann('join')]);
    expect(await pageA.evaluate(() => window.chatSocket.transport)).toBe('websocket');
    await expect(pageA.locator('#online')).toHaveText('online: Ann [websocket]', { timeout: WAIT_MS });

    // B joins from the second origin: its welcome lists Ann; both see Bob's join.
    const query = new URLSearchParams({ server: `${chat}/chat`, transport: 'xhr-polling', name: 'Bob' });
    await pageB.goto(`${pageServer.origin}/chat.html?${query}`);
    await pageB.waitForFunction(() => window.chatSocket && window.chatSocket.readyState !== 0, null, { timeout: WAIT_MS });
    expect(await pageB.evaluate(() => window.chatSocket.readyState),
      `B's socket: ${await pageB.locator('#status').textContent()}`).toBe(1);
    expect(await pageB.evaluate(() => window.chatSocket.transport)).toBe('xhr-polling');
    await expectEvents(pageB, 'B', [bob('welcome', { users: [{ user: 'Ann', transport: 'websocket' }] }), bob('join')]);
    await expectEvents(pageA, 'A', [ann('welcome'), ann('join'), bob('join')]);
    expect(await sends[0], 'the first message B sends is its name, from the page origin')
      .toEqual({ body: '["Bob"]', origin: pageServer.origin });
    await expect(pageA.locator('#status')).toHaveText('you are Ann on websocket', { timeout: WAIT_MS });
    await expect(pageB.locator('#status')).toHaveText('you are Bob on xhr', { timeout: WAIT_MS });
    for (const [p, who] of [[pageA, 'A'], [pageB, 'B']]) {
      await expect(p.locator('#online'), `${who}'s list of users`)
        .toHaveText('online: Ann [websocket], Bob [xhr]', { timeout: WAIT_MS });
    }

    // A message typed in A shows in both; then one typed in B.
    await pageA.fill('#msg', 'hello from Ann');
    await pageA.click('#send');
    await expectEvents(pageA, 'A', [ann('welcome'), ann('join'), bob('join'), ann('message', { text: 'hello from Ann' })]);
    await expectEvents(pageB, 'B', [bob('welcome', { users: [{ user: 'Ann', transport: 'websocket' }] }), bob('join'), ann('message', { text: 'hello from Ann' })]);
    const fromBob = 'hi Ann <b>not bold</b> 😀';
    await pageB.fill('#msg', fromBob);
    await pageB.click('#send');
    const both = [ann('message', { text: 'hello from Ann' }), bob('message', { text: fromBob })];
    await expectEvents(pageA, 'A', [ann('welcome'), ann('join'), bob('join'), ...both]);
    await expectEvents(pageB, 'B', [bob('welcome', { users: [{ user: 'Ann', transport: 'websocket' }] }), bob('join'), ...both]);
    await expect(pageA.locator('#msg'), 'the input is emptied after sending').toHaveValue('');

    // The DOM: every line has the user's transport right after the name.
    const messages = [line('Ann', 'websocket', ': hello from Ann'), line('Bob', 'xhr', `: ${fromBob}`)];
    await expectLines(pageA, 'A', [line('Ann', 'websocket', ' joined'), line('Bob', 'xhr', ' joined'), ...messages]);
    await expectLines(pageB, 'B', [line('Bob', 'xhr', ' joined'), ...messages]);
    expect(await pageB.locator('#log b').count(), 'message text is never markup').toBe(0);

    // The wire: B polled /xhr and sent with /xhr_send (nothing else, no websocket
    // tried, no iframe); A used a websocket and no HTTP transport.
    const seen = net.sockjs(chat);
    const summary = seen.map((e) => `${e.kind} ${e.method} ${e.path}`).join('\n');
    const receivers = [...new Set(seen.filter((e) => RECEIVERS.includes(e.endpoint)).map((e) => e.endpoint))];
    const senders = [...new Set(seen.filter((e) => SENDERS.includes(e.endpoint)).map((e) => e.endpoint))];
    expect(receivers, `B's receiving endpoints on the wire:\n${summary}`).toEqual(['xhr']);
    expect(senders, `B's sending endpoints on the wire:\n${summary}`).toEqual(['xhr_send']);
    expect(seen.filter((e) => e.endpoint === 'xhr').length, `B polled more than once:\n${summary}`).toBeGreaterThan(1);
    expect(seen.filter((e) => e.kind === 'ws' || e.endpoint === 'iframe').map((e) => e.url), 'no websocket or iframe from B').toEqual([]);
    const wireA = pageA.__requests.filter((r) => new URL(r.url).host === new URL(chat).host);
    const wsA = wireA.filter((r) => r.kind === 'ws').map((r) => new URL(r.url).pathname);
    expect(wsA.length, `A's websocket:\n${wireA.map((r) => r.url).join('\n')}`).toBe(1);
    expect(wsA[0]).toMatch(/^\/chat\/[^/.]+\/[^/.]+\/websocket$/);
    expect(wireA.filter((r) => /\/(xhr|xhr_send|xhr_streaming|eventsource|htmlfile|jsonp|jsonp_send)$/.test(r.url)).map((r) => r.url),
      'no HTTP transport from A').toEqual([]);

    // B closes: A shows Bob's leave.
    await pageB.evaluate(() => window.chatSocket.close());
    await expect(pageB.locator('#status')).toHaveText('closed: 1000 Normal closure', { timeout: WAIT_MS });
    await expectEvents(pageA, 'A', [ann('welcome'), ann('join'), bob('join'), ...both, bob('leave')]);
    await expectLines(pageA, 'A', [line('Ann', 'websocket', ' joined'), line('Bob', 'xhr', ' joined'), ...messages,
      line('Bob', 'xhr', ' left')]);
    await expect(pageA.locator('#online')).toHaveText('online: Ann [websocket]', { timeout: WAIT_MS });

    // No uncaught error on either page.
    expect(consoleLog.filter((l) => l.startsWith('[pageerror]')), 'errors on B').toEqual([]);
    expect(pageA.__console.filter((l) => l.startsWith('[pageerror]')), 'errors on A').toEqual([]);
  }
});
