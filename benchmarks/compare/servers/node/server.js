#!/usr/bin/env node
'use strict';
// The sockjs-node 0.3.24 server of the out-of-process comparison
// (benchmarks/compare), with default options:
//   /echo       echoes every message
//   /broadcast  every message received goes to every open session
// Run from the repository root (so that `sockjs` resolves from its
// node_modules) or with NODE_PATH set:
//   node benchmarks/compare/servers/node/server.js -addr 127.0.0.1:0
// It prints "listening on http://ADDR" once it accepts connections.
const http = require('http');
const sockjs = require('sockjs');

let addr = '127.0.0.1:0';
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const m = /^--?addr(?:=(.*))?$/.exec(argv[i]);
  if (!m) throw new Error('unexpected argument: ' + argv[i]);
  addr = m[1] !== undefined ? m[1] : argv[++i];
}
const idx = addr.lastIndexOf(':');
const host = addr.slice(0, idx) || '127.0.0.1';
const port = Number(addr.slice(idx + 1));

const server = http.createServer((req, res) => {
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('404 Not found\n');
});

const echo = sockjs.createServer({ log: () => {} });
echo.on('connection', (conn) => {
  conn.on('data', (m) => conn.write(m));
});
echo.installHandlers(server, { prefix: '/echo' });

const everyone = new Map();
const broadcast = sockjs.createServer({ log: () => {} });
broadcast.on('connection', (conn) => {
  everyone.set(conn.id, conn);
  conn.on('data', (m) => { for (const c of everyone.values()) c.write(m); });
  conn.on('close', () => everyone.delete(conn.id));
});
broadcast.installHandlers(server, { prefix: '/broadcast' });

server.listen(port, host, () => {
  const a = server.address();
  console.log(`listening on http://${a.address}:${a.port}`);
});

function shutdown() { process.exit(0); }
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
