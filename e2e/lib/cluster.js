'use strict';
// E2E_CLUSTER=N: the Go test server runs as N cluster nodes sharing a private
// redis-server, behind a round-robin proxy that sends every HTTP request (and
// every websocket upgrade) to the next node, as a load balancer without
// sticky sessions does. The suite then talks to the proxy's origin.
// E2E_ENGINE picks what the nodes share: "redis" (the default: one
// redis-server) or "redis-cluster" (a Redis Cluster of three masters with a
// replica each, made with redis-cli --cluster create).
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn, execFileSync } = require('child_process');

/** The engine E2E_ENGINE names. */
function engineKind() {
  const e = process.env.E2E_ENGINE || 'redis';
  if (e !== 'redis' && e !== 'redis-cluster') throw new Error(`E2E_ENGINE=${e}: want redis or redis-cluster`);
  return e;
}

/** Tells whether 127.0.0.1:port can be listened on now. */
function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A free port p whose cluster bus port p+10000 is free too, below 65536. */
async function freeBusPort(freePort) {
  for (let i = 0; i < 200; i++) {
    let p = await freePort();
    if (p + 10000 >= 65536) p = 20000 + (p % 30000);
    if (await portFree(p) && await portFree(p + 10000)) return p;
  }
  throw new Error('e2e cluster: no port p with p and p+10000 both free');
}

function cli(port, ...args) {
  return execFileSync(process.env.REDIS_CLI || 'redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args],
    { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 }).toString();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function redisPing(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => { buf += d; if (buf.includes('\n')) { s.end(); resolve(buf.startsWith('+PONG')); } });
  });
}

/** A round-robin reverse proxy on 127.0.0.1:port to the given backend ports. */
function startProxy(port, backends, served) {
  let next = 0;
  const pick = () => { const i = next++ % backends.length; served[i]++; return backends[i]; };
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: pick(), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      res.flushHeaders();
      ur.pipe(res);
    });
    up.on('error', (e) => { if (!res.headersSent) { res.writeHead(502); } res.end(`proxy: ${e.message}`); });
    req.on('aborted', () => up.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  const tunnels = new Set(); // upgraded sockets, which server.close leaves open
  server.tunnels = tunnels;
  server.on('upgrade', (req, socket, head) => {
    tunnels.add(socket);
    socket.on('close', () => tunnels.delete(socket));
    const up = net.connect(pick(), '127.0.0.1', () => {
      let raw = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) raw += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(raw + '\r\n');
      if (head && head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

class ClusterServer {
  /**
   * @param {object} o
   * @param {number} o.nodes     how many testserver processes
   * @param {number} o.port      the proxy's port: the origin the suite uses
   * @param {function} o.makeNode (index, engineArgs) => Promise<ServerProcess>: engineArgs are
   *   the testserver flags that name the engine (-redis URL, or -redis-cluster seeds)
   * @param {function} o.freePort () => Promise<number>
   */
  constructor(o) {
    Object.assign(this, o);
    this.name = `go-cluster-${o.nodes}-${engineKind()}`;
    this.host = '127.0.0.1';
    this.origin = `http://${this.host}:${this.port}`;
    this.members = [];
    this.redis = null;
    this.proxy = null;
    this.served = new Array(o.nodes).fill(0);
    this.starts = 0;
  }

  get log() { return this.members.flatMap((m) => m.log); }

  logText() {
    return `${this.name}: proxy ${this.origin}, requests per node ${JSON.stringify(this.served)}\n` +
      this.members.map((m) => m.logText()).join('\n');
  }

  alive() { return !!this.proxy && this.members.length > 0 && this.members.every((m) => m.alive()); }

  /** The testserver flags that name the engine, once it runs. */
  engineArgs() {
    if (this.engine === 'redis-cluster') return ['-redis-cluster', this.clusterPorts.map((p) => `127.0.0.1:${p}`).join(',')];
    return ['-redis', `redis://127.0.0.1:${this.redisPort}`];
  }

  async _startEngine() {
    this.engine = this.engine || engineKind();
    if (this.engine === 'redis-cluster') return this._startRedisCluster();
    return this._startRedis();
  }

  /** Starts the six nodes of a Redis Cluster (made on the first start). */
  async _startRedisCluster() {
    if (this.clusterProcs && this.clusterProcs.every((p) => p.exitCode === null)) return;
    const bin = process.env.REDIS_SERVER || 'redis-server';
    const first = !this.clusterPorts;
    if (first) {
      this.clusterPorts = [];
      for (let i = 0; i < 6; i++) this.clusterPorts.push(await freeBusPort(this.freePort));
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sockline-e2e-rc-'));
      this.clusterDir = dir;
      process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    }
    this.clusterProcs = this.clusterPorts.map((port) => {
      const dir = path.join(this.clusterDir, String(port));
      fs.mkdirSync(dir, { recursive: true });
      return spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
        '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000'], { stdio: 'ignore' });
    });
    for (const port of this.clusterPorts) {
      let up = false;
      for (let i = 0; i < 100 && !up; i++) { up = await redisPing(port); if (!up) await sleep(50); }
      if (!up) throw new Error(`e2e cluster: ${bin} did not start on port ${port} (install it: bash scripts/install-redis.sh)`);
    }
    if (first) {
      cli(this.clusterPorts[0], '--cluster', 'create', ...this.clusterPorts.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas', '1', '--cluster-yes');
    }
    for (let i = 0; i < 300; i++) {
      const ok = this.clusterPorts.every((port) => {
        try {
          const info = cli(port, 'cluster', 'info');
          const repl = cli(port, 'info', 'replication');
          return info.includes('cluster_state:ok') && (repl.includes('role:master') || repl.includes('master_link_status:up'));
        } catch (e) { return false; }
      });
      if (ok) return;
      await sleep(100);
    }
    throw new Error('e2e cluster: the Redis Cluster is not ok after 30s');
  }

  async _startRedis() {
    if (this.redis && this.redis.exitCode === null) return;
    this.redisPort = this.redisPort || await this.freePort();
    const bin = process.env.REDIS_SERVER || 'redis-server';
    this.redis = spawn(bin, ['--port', String(this.redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await redisPing(this.redisPort)) return;
      if (this.redis.exitCode !== null) break;
      await sleep(50);
    }
    throw new Error(`e2e cluster: ${bin} did not start on port ${this.redisPort} (install it: bash scripts/install-redis.sh)`);
  }

  async start() {
    this.starts++;
    await this._startEngine();
    if (this.members.length === 0) {
      for (let i = 0; i < this.nodes; i++) this.members.push(await this.makeNode(i, this.engineArgs()));
    }
    for (const m of this.members) if (!m.alive()) await m.start();
    if (!this.proxy) this.proxy = await startProxy(this.port, this.members.map((m) => m.port), this.served);
  }

  /** Stops the proxy, every node (SIGKILL with hard=true) and the engine. */
  async stop({ hard = false } = {}) {
    if (this.proxy) {
      const proxy = this.proxy;
      this.proxy = null;
      for (const s of proxy.tunnels) s.destroy();
      await new Promise((r) => { proxy.closeAllConnections(); proxy.close(() => r()); });
    }
    for (const m of this.members) await m.stop({ hard });
    if (this.redis && this.redis.exitCode === null) {
      const gone = new Promise((r) => this.redis.once('exit', r));
      this.redis.kill('SIGKILL');
      await gone;
    }
    this.redis = null;
    for (const p of this.clusterProcs || []) {
      if (p.exitCode !== null) continue;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    }
    this.clusterProcs = null;
  }

  /** Every node crashes and comes back; Redis keeps running. */
  async restart() {
    for (const m of this.members) await m.stop({ hard: true });
    for (const m of this.members) await m.start();
  }
}

module.exports = { ClusterServer, startProxy, engineKind };
