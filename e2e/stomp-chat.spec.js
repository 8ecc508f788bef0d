'use strict';
// examples/stomp-chat in two pages: @stomp/stompjs over sockjs-client, rooms
// as topics, private messages as user destinations.
//
// The stomp-chat binary is built once per worker into a temporary directory
// and runs on a free loopback port with -sockjs-url pointing at the page
// server's sockjs.js; it serves @stomp/stompjs from node_modules (the suite
// runs it from the repository root). Page A is Ann on the default transport
// (websocket), page B is Bob forced to xhr-streaming. Checks: both join
// #lobby; A's room message reaches both with the sender's name set by the
// server; B's private message reaches A and B's own copy, nobody else's
// room; B moves to #blue and no longer sees #lobby; a page publishing to a
// room topic itself (bypassing /app) gets an ERROR and is closed. Skipped
// for E2E_SERVER=node.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const base = require('./lib/fixtures');
const { ServerProcess, freePort, ROOT } = require('./lib/servers');

const { expect } = base;
const WAIT_MS = 15000;

const test = base.test.extend({
  stompChat: [async ({ pageServer }, use) => {
    if ((process.env.E2E_SERVER || 'go') !== 'go') {
      await use(null);
      return;
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sockline-stomp-chat-'));
    const bin = path.join(tmp, 'stomp-chat');
    execFileSync('go', ['build', '-o', bin, './examples/stomp-chat'], { cwd: ROOT, stdio: 'ignore', timeout: 300000 });
    const srv = new ServerProcess({
      name: 'go-stomp-chat',
      command: bin,
      args: [],
      port: await freePort(),
      sockjsUrl: pageServer.sockjsUrl,
      readyPath: '/stomp/info',
    });
    await srv.start();
    await use(srv);
    await srv.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }, { scope: 'worker', timeout: 120000 }],
});

const chatLog = (p) => p.evaluate(() => window.chatLog || []);

async function say(p, to, text) {
  await p.fill('#to', to);
  await p.fill('#msg', text);
  await p.click('#send');
}

async function joined(p, room) {
  await p.waitForFunction((r) => window.chatJoined === r, room, { timeout: WAIT_MS });
}

test('stomp-chat: rooms and private messages between two pages', async ({ page: pageA, context, stompChat }) => {
  test.skip(!stompChat, 'needs the Go stomp-chat binary (E2E_SERVER=go)');
  const origin = stompChat.origin;
  const pageB = await context.newPage();
  const bWire = [];
  pageB.on('request', (r) => bWire.push(new URL(r.url()).pathname));
  pageB.on('websocket', (ws) => bWire.push('ws ' + ws.url()));

  await pageA.goto(`${origin}/?name=Ann`);
  await pageB.goto(`${origin}/?name=Bob&transport=xhr-streaming`);
  await joined(pageA, 'lobby');
  await joined(pageB, 'lobby');
  expect(await pageA.evaluate(() => window.chatClient.sock.transport)).toBe('websocket');
  expect(await pageB.evaluate(() => window.chatClient.sock.transport)).toBe('xhr-streaming');
  await expect(pageB.locator('#status')).toContainText('you are Bob, connected with xhr-streaming in #lobby', { timeout: WAIT_MS });

  // A room message reaches both pages, with the name the server knows.
  await say(pageA, '', 'hello from Ann ✓ <b>not bold</b>');
  const hello = { kind: 'room', room: 'lobby', from: 'Ann', text: 'hello from Ann ✓ <b>not bold</b>' };
  for (const p of [pageA, pageB]) {
    await expect.poll(() => chatLog(p), { timeout: WAIT_MS }).toEqual([hello]);
  }
  expect(await pageB.locator('#log b').count(), 'text, never markup').toBe(0);

  // A private message reaches Ann and Bob's own copy.
  await say(pageB, 'Ann', 'psst');
  const psst = { kind: 'private', from: 'Bob', to: 'Ann', text: 'psst' };
  for (const p of [pageA, pageB]) {
    await expect.poll(() => chatLog(p), { timeout: WAIT_MS }).toEqual([hello, psst]);
  }

  // Bob moves to #blue: #lobby no longer reaches him, #blue does.
  await pageB.fill('#room', 'blue');
  await pageB.click('#join button');
  await joined(pageB, 'blue');
  await say(pageA, '', 'only lobby');
  const onlyLobby = { kind: 'room', room: 'lobby', from: 'Ann', text: 'only lobby' };
  await expect.poll(() => chatLog(pageA), { timeout: WAIT_MS }).toEqual([hello, psst, onlyLobby]);
  await pageA.fill('#room', 'blue');
  await pageA.click('#join button');
  await joined(pageA, 'blue');
  await say(pageA, '', 'in blue');
  const inBlue = { kind: 'room', room: 'blue', from: 'Ann', text: 'in blue' };
  await expect.poll(() => chatLog(pageB), { timeout: WAIT_MS }).toEqual([hello, psst, inBlue]);

  // Only xhr-streaming (and xhr_send) for B.
  expect(bWire.filter((w) => w.startsWith('ws ')), 'B opened no websocket').toEqual([]);
  expect(bWire.some((w) => w.endsWith('/xhr_streaming'))).toBe(true);

  // Publishing to a room directly, as someone else, is refused.
  await pageB.evaluate(() => window.chatClient.publish({
    destination: '/topic/rooms/blue', body: 'spoof', headers: { 'x-from': 'Ann' },
  }));
  await expect.poll(() => chatLog(pageB), { timeout: WAIT_MS }).toEqual([hello, psst, inBlue,
    { kind: 'error', text: 'SEND to /topic/rooms/blue is not allowed' }]);
  await expect(pageB.locator('#status')).toContainText('closed: 4000', { timeout: WAIT_MS });
  await pageA.waitForTimeout(300);
  expect(await chatLog(pageA), 'the spoof reached nobody').toEqual([hello, psst, onlyLobby, inBlue]);
});

test('stomp-chat: a blank message or a room name with a space keeps the page connected', async ({ page, stompChat }) => {
  test.skip(!stompChat, 'needs the Go stomp-chat binary (E2E_SERVER=go)');
  await page.goto(`${stompChat.origin}/?name=Cy`);
  await joined(page, 'lobby');
  await say(page, '', '   ');
  const blank = { kind: 'error', text: 'messages are 1 to 2000 bytes of text' };
  await expect.poll(() => chatLog(page), { timeout: WAIT_MS }).toEqual([blank]);
  await page.fill('#room', 'my room');
  await page.click('#join button');
  const badRoom = { kind: 'error', text: 'bad room name' };
  await expect.poll(() => chatLog(page), { timeout: WAIT_MS }).toEqual([blank, badRoom]);
  await say(page, '', 'still here');
  await expect.poll(() => chatLog(page), { timeout: WAIT_MS }).toEqual([blank, badRoom,
    { kind: 'room', room: 'lobby', from: 'Cy', text: 'still here' }]);
  await expect(page.locator('#status')).not.toContainText('closed');
});

test('stomp-chat: members of the room, and a page catches up after its connection drops', async ({ page: pageA, context, stompChat }) => {
  test.skip(!stompChat, 'needs the Go stomp-chat binary (E2E_SERVER=go)');
  const origin = stompChat.origin;
  const room = `r${Date.now() % 100000}`;
  const pageB = await context.newPage();
  await pageA.goto(`${origin}/?name=Cat&room=${room}`);
  await joined(pageA, room);
  await pageB.goto(`${origin}/?name=Dan&room=${room}`);
  await joined(pageB, room);
  for (const p of [pageA, pageB]) {
    await expect.poll(() => p.evaluate(() => window.chatMembers), { timeout: WAIT_MS }).toEqual(['Cat', 'Dan']);
  }
  await expect(pageA.locator('#members')).toContainText('Cat, Dan');

  // B's connection drops; A speaks meanwhile; B reconnects and catches up.
  await say(pageA, '', 'one');
  await expect.poll(() => chatLog(pageB), { timeout: WAIT_MS }).toHaveLength(1);
  await pageB.evaluate(() => { window.chatJoined = null; window.chatClient.sock.close(); });
  await expect.poll(() => pageA.evaluate(() => window.chatMembers), { timeout: WAIT_MS }).toEqual(['Cat']);
  for (const t of ['two', 'three']) await say(pageA, '', t);
  await joined(pageB, room);
  const want = ['one', 'two', 'three'].map((text) => ({ kind: 'room', room, from: 'Cat', text }));
  await expect.poll(() => chatLog(pageB), { timeout: WAIT_MS }).toEqual(want);
  await expect.poll(() => pageA.evaluate(() => window.chatMembers), { timeout: WAIT_MS }).toEqual(['Cat', 'Dan']);
});
