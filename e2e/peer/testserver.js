#!/usr/bin/env node
'use strict';
// Reference peer for the e2e suite: a sockjs-node 0.3.24 server offering the
// same services and flags as the Go examples/testserver, so the browser suite
// can be developed and run side by side:
//
//   node e2e/peer/testserver.js -addr 127.0.0.1:8081 -sockjs-url http://127.0.0.1:8080/sockjs.js
//
// Services (all on one port):
//   /echo                     echo, response_limit 4096, raw websocket on
//   /close                    closes every session on open with 3000 "Go away!"
//   /disabled_websocket_echo  echo, websocket disabled
//   /cookie_needed_echo       echo, JSESSIONID cookie on
//   /broadcast                every message goes to every open session
//   /amplify                  message n -> "x" repeated 2^n, n clamped to 1..19
//   /ticker                   "tick!" every second
const http = require('http');
const sockjs = require('sockjs');

function parseArgs(argv) {
  const out = { addr: '127.0.0.1:8081', 'sockjs-url': '' };
  for (let i = 0; i < argv.length; i++) {
    const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error('unexpected argument: ' + argv[i]);
    const key = m[1];
    const val = m[2] !== undefined ? m[2] : argv[++i];
    if (!(key in out)) throw new Error('unknown flag: -' + key);
    if (val === undefined) throw new Error('flag needs a value: -' + key);
    out[key] = val;
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
const idx = args.addr.lastIndexOf(':');
const host = args.addr.slice(0, idx) || '127.0.0.1';
const port = Number(args.addr.slice(idx + 1));

const base = { log: () => {} };
if (args['sockjs-url']) base.sockjs_url = args['sockjs-url'];

function create(extra, onConnection) {
  const srv = sockjs.createServer(Object.assign({}, base, extra));
  srv.on('connection', onConnection);
  return srv;
}

function echo(conn) {
  conn.on('data', (m) => conn.write(m));
}

const services = [];
services.push(['/echo', create({ response_limit: 4096, websocket: true }, echo)]);
services.push(['/disabled_websocket_echo', create({ websocket: false }, echo)]);
services.push(['/cookie_needed_echo', create({ jsessionid: true }, echo)]);
services.push(['/close', create({}, (conn) => conn.close(3000, 'Go away!'))]);

const everyone = new Map();
services.push(['/broadcast', create({}, (conn) => {
  everyone.set(conn.id, conn);
  conn.on('data', (m) => { for (const c of everyone.values()) c.write(m); });
  conn.on('close', () => everyone.delete(conn.id));
})]);

services.push(['/amplify', create({}, (conn) => {
  conn.on('data', (m) => {
    let n = Math.floor(Number(m));
    if (!Number.isFinite(n) || n < 1) n = 1;
    if (n > 19) n = 19;
    conn.write('x'.repeat(2 ** n));
  });
})]);

services.push(['/ticker', create({}, (conn) => {
  const t = setInterval(() => conn.write('tick!'), 1000);
  conn.on('close', () => clearInterval(t));
})]);

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('404 Not found\n');
});
for (const [prefix, srv] of services) srv.installHandlers(server, { prefix });

server.listen(port, host, () => {
  const a = server.address();
  console.log(`sockjs-node peer listening on http://${a.address}:${a.port}`);
});

function shutdown() { process.exit(0); }
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
