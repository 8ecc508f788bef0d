'use strict';
// Process and port plumbing for the e2e suite: the page server (the second
// origin that serves the test pages and sockjs-client), and the SockJS test
// server under test (Go binary or the sockjs-node peer) run as a child process.
const http = require('http');
const https = require('https');
const os = require('os');
const { execFileSync } = require('child_process');
const net = require('net');
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const ROOT = path.resolve(__dirname, '..', '..');
const PAGES = path.join(ROOT, 'e2e', 'pages');
const CLIENT_DIST = path.join(ROOT, 'node_modules', 'sockjs-client', 'dist');

const READY_TIMEOUT_MS = 15000;

// E2E_TLS=1: both origins serve HTTPS with throw-away self-signed
// certificates (the Go test server makes its own with -tls-self-signed and
// speaks HTTP/2; the page server's comes from openssl), and Chromium runs
// with --ignore-certificate-errors. The page origin must be HTTPS too: the
// SockJS server's iframe page loads sockjs.js from it, and an HTTPS page
// may not load scripts over HTTP (mixed content).
const TLS = !!process.env.E2E_TLS;
const SCHEME = TLS ? 'https' : 'http';

let pageCert = null;
/** A self-signed certificate for 127.0.0.1, made once per process. */
function selfSignedCert() {
  if (pageCert) return pageCert;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockline-e2e-cert-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    pageCert = {
      key: fs.readFileSync(path.join(dir, 'key.pem')),
      cert: fs.readFileSync(path.join(dir, 'cert.pem')),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return pageCert;
}
const STOP_TIMEOUT_MS = 5000;

function serverKind() {
  const kind = (process.env.E2E_SERVER || 'go').toLowerCase();
  if (kind !== 'go' && kind !== 'node') {
    throw new Error(`E2E_SERVER must be "go" or "node", got ${JSON.stringify(kind)}`);
  }
  return kind;
}

/** A free TCP port on 127.0.0.1 (the OS picks it; we release it at once). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const TYPES = {
  '.html': 'text/html; charset=UTF-8',
  '.js': 'application/javascript; charset=UTF-8',
  '.map': 'application/json; charset=UTF-8',
};

/**
 * Serves e2e/pages/* and sockjs-client's dist files (/sockjs.js, /sockjs.min.js
 * and their maps) on 127.0.0.1 at a port of its own: the "page origin".
 */
async function startPageServer() {
  const files = new Map();
  for (const name of fs.readdirSync(PAGES)) files.set('/' + name, path.join(PAGES, name));
  for (const name of ['sockjs.js', 'sockjs.min.js', 'sockjs.js.map', 'sockjs.min.js.map']) {
    files.set('/' + name, path.join(CLIENT_DIST, name));
  }
  files.set('/', path.join(PAGES, 'index.html'));
  const pages = new Map(); // path -> HTML set by a test with serve()

  const handle = (req, res) => {
    const url = new URL(req.url, 'http://x');
    const file = files.get(url.pathname);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain' });
      return res.end('method not allowed\n');
    }
    if (pages.has(url.pathname)) {
      res.writeHead(200, { 'content-type': TYPES['.html'], 'cache-control': 'no-store' });
      return res.end(req.method === 'HEAD' ? undefined : pages.get(url.pathname));
    }
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found\n');
    }
    fs.readFile(file, (err, body) => {
      if (err) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        return res.end(String(err));
      }
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
        'cache-control': 'no-store',
        // the SockJS server's iframe page loads sockjs.js from here
        'access-control-allow-origin': '*',
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  };
  const server = TLS ? https.createServer(selfSignedCert(), handle) : http.createServer(handle);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const origin = `${SCHEME}://127.0.0.1:${port}`;
  return {
    port,
    origin,
    sockjsUrl: `${origin}/sockjs.js`,
    // serve makes the page server answer GET urlPath with the given HTML.
    serve: (urlPath, html) => { pages.set(urlPath, html); },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function httpGet(url, timeoutMs) {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:')
      ? (u, cb) => https.get(u, { rejectUnauthorized: false }, cb) // our own throw-away certificates
      : http.get;
    const req = get(url, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * One server process (testserver or chat) on a fixed loopback port. It can be
 * killed and started again on the same port (restart tests).
 */
class ServerProcess {
  /**
   * @param {object} o
   * @param {string} o.name     label for logs
   * @param {string} o.command  executable
   * @param {string[]} o.args   arguments (without -addr / -sockjs-url)
   * @param {number} o.port
   * @param {string} o.sockjsUrl
   * @param {string} o.readyPath path that answers 200 once the server is up
   */
  constructor(o) {
    Object.assign(this, o);
    this.host = '127.0.0.1';
    this.origin = `${this.tls ? 'https' : 'http'}://${this.host}:${this.port}`;
    this.child = null;
    this.log = [];
    this.starts = 0;
  }

  _argv() {
    return [...this.args, '-addr', `${this.host}:${this.port}`, '-sockjs-url', this.sockjsUrl];
  }

  _remember(prefix, chunk) {
    for (const line of String(chunk).split('\n')) {
      if (!line) continue;
      this.log.push(`${prefix} ${line}`);
      if (this.log.length > 400) this.log.shift();
    }
  }

  logText() {
    return `${this.name}: ${this.command} ${this._argv().join(' ')}\n${this.log.join('\n')}\n`;
  }

  alive() {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start() {
    if (this.alive()) throw new Error(`${this.name} already running`);
    this.starts++;
    const child = spawn(this.command, this._argv(), {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    this.child = child;
    child.stdout.on('data', (c) => this._remember(`[${this.name} out]`, c));
    child.stderr.on('data', (c) => this._remember(`[${this.name} err]`, c));
    let exited = null;
    let spawnError = null;
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      this._remember(`[${this.name}]`, `exited code=${code} signal=${signal}`);
    });
    child.once('error', (e) => { spawnError = e; });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    const url = this.origin + this.readyPath;
    let lastErr = null;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`${this.name}: cannot start ${this.command}: ${spawnError.message}`);
      if (exited) {
        throw new Error(`${this.name} exited before it was ready (code=${exited.code} signal=${exited.signal})\n${this.logText()}`);
      }
      try {
        const res = await httpGet(url, 2000);
        if (res.status === 200) return;
        lastErr = new Error(`GET ${url} -> ${res.status} ${res.body.slice(0, 200)}`);
      } catch (e) {
        lastErr = e;
      }
      await sleep(100);
    }
    await this.stop();
    throw new Error(`${this.name} not ready within ${READY_TIMEOUT_MS} ms: ${lastErr && lastErr.message}\n${this.logText()}`);
  }

  /** Ends the process: SIGTERM (or SIGKILL with hard=true), SIGKILL after a grace period. */
  async stop({ hard = false } = {}) {
    const child = this.child;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill(hard ? 'SIGKILL' : 'SIGTERM');
      const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch (_) { /* gone */ } }, STOP_TIMEOUT_MS);
      await gone;
      clearTimeout(t);
    }
    this.child = null;
  }

  /** Kills the process hard (a crash) and starts it again on the same port. */
  async restart() {
    await this.stop({ hard: true });
    await this.start();
  }
}

/** The SockJS test server (services /echo, /close, ...) chosen by E2E_SERVER. */
async function createTestServer(pageServer) {
  const kind = serverKind();
  let command;
  let args;
  if (kind === 'go') {
    command = process.env.E2E_GO_TESTSERVER_BIN;
    if (!command) throw new Error('E2E_GO_TESTSERVER_BIN is not set (global setup builds it)');
    args = [];
  } else {
    command = process.execPath;
    args = [path.join(ROOT, 'e2e', 'peer', 'testserver.js')];
  }
  if (TLS) {
    if (kind !== 'go') throw new Error('E2E_TLS needs E2E_SERVER=go');
    args = [...args, '-tls-self-signed'];
  }
  const clusterNodes = Number(process.env.E2E_CLUSTER || 0);
  if (clusterNodes > 0) {
    if (kind !== 'go') throw new Error('E2E_CLUSTER needs E2E_SERVER=go');
    const { ClusterServer } = require('./cluster');
    // Every node authenticates what it sends the others with this secret.
    process.env.SOCKLINE_CLUSTER_SECRET = require('crypto').randomBytes(32).toString('hex');
    return new ClusterServer({
      nodes: clusterNodes,
      port: await freePort(),
      freePort,
      makeNode: async (i, engineArgs) => new ServerProcess({
        name: `go-node-${i + 1}`,
        command,
        args: engineArgs,
        port: await freePort(),
        sockjsUrl: pageServer.sockjsUrl,
        readyPath: '/echo/info',
      }),
    });
  }
  const { proxySetup, ProxyServer, HEARTBEAT_S } = require('./proxy');
  const setup = proxySetup();
  if (setup) {
    if (kind !== 'go' || TLS || clusterNodes > 0) throw new Error('E2E_PROXY needs E2E_SERVER=go, without E2E_TLS or E2E_CLUSTER');
    return new ProxyServer({
      setup,
      port: await freePort(),
      backend: new ServerProcess({
        name: 'go-testserver',
        command,
        args: [...args, '-heartbeat', `${HEARTBEAT_S}s`],
        port: await freePort(),
        sockjsUrl: pageServer.sockjsUrl,
        readyPath: '/echo/info',
      }),
    });
  }
  // E2E_STOMP_RELAY=HOST:PORT: /stomp's broker destinations go to that STOMP
  // broker (a RabbitMQ node scripts/test-all.sh starts) through the relay.
  if (process.env.E2E_STOMP_RELAY) {
    if (kind !== 'go') throw new Error('E2E_STOMP_RELAY needs E2E_SERVER=go');
    args = [...args, '-stomp-relay', process.env.E2E_STOMP_RELAY];
  }
  const port = await freePort();
  return new ServerProcess({
    name: `${kind}-testserver`,
    command,
    args,
    port,
    sockjsUrl: pageServer.sockjsUrl,
    readyPath: '/echo/info',
    tls: TLS,
  });
}

module.exports = {
  TLS,
  ROOT,
  PAGES,
  serverKind,
  freePort,
  startPageServer,
  createTestServer,
  ServerProcess,
  httpGet,
};
