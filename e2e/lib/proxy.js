'use strict';
// E2E_PROXY=nginx|nginx-default|haproxy: a real reverse proxy (Debian's nginx
// or haproxy, run straight from its binary, never as a system service) on a
// free loopback port in front of the Go test server. The suite talks to the
// proxy's origin. The proxy's read/idle timeouts are set LOW (PROXY_TIMEOUT_S)
// and the test server's heartbeat lower still (HEARTBEAT_S), so the idle test
// shows that heartbeats keep sessions alive through the proxy.
//
// A "crash" (stop({hard: true}), the restart scenario) kills only the test
// server: the proxy keeps running (and answers 502 meanwhile), as in production.
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');

const PROXY_TIMEOUT_S = 5;
const HEARTBEAT_S = 2;
// nginx-buffered: nginx-default that also ignores X-Accel-Buffering (as a proxy
// or CDN that does not know the header would): a measurement of sockjs-client's
// fallback when streaming responses are held back.
const SETUPS = ['nginx', 'nginx-default', 'haproxy', 'nginx-buffered'];
const NGINX = process.env.E2E_NGINX || '/usr/sbin/nginx';
const HAPROXY = process.env.E2E_HAPROXY || '/usr/sbin/haproxy';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function proxySetup() {
  const v = (process.env.E2E_PROXY || '').toLowerCase();
  if (!v) return null;
  if (!SETUPS.includes(v)) throw new Error(`E2E_PROXY must be one of ${SETUPS.join(', ')}, got ${JSON.stringify(v)}`);
  return v;
}

// Shared by both nginx set-ups: everything nginx writes stays in dir.
function nginxMain(dir, http) {
  const user = typeof process.getuid === 'function' && process.getuid() === 0 ? 'user root root;\n' : '';
  return `${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 1024; }
http {
    access_log ${dir}/access.log;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
${http}
}
`;
}

/** The configuration the README gives (with the timeouts lowered for the test). */
function nginxReadme(dir, port, backend) {
  return nginxMain(dir, `
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }
    upstream sockline {
        server 127.0.0.1:${backend};
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://sockline;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
            client_max_body_size 2m;
            proxy_read_timeout ${PROXY_TIMEOUT_S}s;
            proxy_send_timeout ${PROXY_TIMEOUT_S}s;
        }
    }`);
}

/** nginx's defaults: HTTP/1.0 upstream, no Upgrade headers, buffering on. Only the read timeout is lowered. */
function nginxDefault(dir, port, backend, extra = '') {
  return nginxMain(dir, `
    upstream sockline {
        server 127.0.0.1:${backend};
    }
    server {
        listen 127.0.0.1:${port};
        location / {
            proxy_pass http://sockline;
            proxy_read_timeout ${PROXY_TIMEOUT_S}s;${extra}
        }
    }`);
}

/** The HAProxy configuration the README gives (timeouts lowered for the test). */
function haproxyConf(dir, port, backend) {
  return `global
    log stderr format short local0 info
    pidfile ${dir}/haproxy.pid
    maxconn 2000

defaults
    mode http
    log global
    option httplog
    option forwardfor
    timeout connect 5s
    timeout client ${PROXY_TIMEOUT_S}s
    timeout server ${PROXY_TIMEOUT_S}s
    timeout tunnel ${PROXY_TIMEOUT_S}s
    timeout http-request 10s
    timeout http-keep-alive 2s

frontend sockjs
    bind 127.0.0.1:${port}
    default_backend sockline

backend sockline
    server s1 127.0.0.1:${backend}
`;
}

class ProxyServer {
  /**
   * @param {object} o
   * @param {string} o.setup    nginx | nginx-default | haproxy
   * @param {number} o.port     the proxy's port: the origin the suite uses
   * @param {ServerProcess} o.backend the Go test server (started with -heartbeat)
   */
  constructor(o) {
    Object.assign(this, o);
    this.name = `${o.setup}-proxy`;
    this.host = '127.0.0.1';
    this.origin = `http://${this.host}:${this.port}`;
    this.proxy = null;
    this.proxyLog = [];
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `sockline-e2e-${o.setup}-`));
    this.starts = 0;
  }

  get log() { return this.backend.log.concat(this.proxyLog); }

  logText() {
    let files = '';
    for (const f of ['error.log', 'access.log']) {
      const p = path.join(this.dir, f);
      if (fs.existsSync(p)) files += `--- ${f} (last lines)\n${fs.readFileSync(p, 'utf8').split('\n').slice(-200).join('\n')}\n`;
    }
    return `${this.name}: ${this.origin} -> ${this.backend.origin}\n${this.proxyLog.join('\n')}\n${files}${this.backend.logText()}`;
  }

  alive() {
    return !!this.proxy && this.proxy.exitCode === null && this.proxy.signalCode === null && this.backend.alive();
  }

  _command() {
    const conf = path.join(this.dir, this.setup === 'haproxy' ? 'haproxy.cfg' : 'nginx.conf');
    if (this.setup === 'haproxy') {
      fs.writeFileSync(conf, haproxyConf(this.dir, this.port, this.backend.port));
      return [HAPROXY, ['-f', conf, '-db']];
    }
    const text = this.setup === 'nginx' ? nginxReadme(this.dir, this.port, this.backend.port)
      : nginxDefault(this.dir, this.port, this.backend.port,
        this.setup === 'nginx-buffered' ? '\n            proxy_ignore_headers X-Accel-Buffering;' : '');
    fs.writeFileSync(conf, text);
    return [NGINX, ['-p', this.dir, '-c', conf, '-e', path.join(this.dir, 'error.log'), '-g', 'daemon off;']];
  }

  async _startProxy() {
    const [bin, args] = this._command();
    if (!fs.existsSync(bin)) throw new Error(`e2e proxy: no ${bin}; install it: bash scripts/install-proxies.sh`);
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proxy = child;
    const remember = (c) => {
      for (const line of String(c).split('\n')) if (line) { this.proxyLog.push(`[${this.setup}] ${line}`); if (this.proxyLog.length > 400) this.proxyLog.shift(); }
    };
    child.stdout.on('data', remember);
    child.stderr.on('data', remember);
    const { httpGet } = require('./servers');
    for (let i = 0; i < 150; i++) {
      if (child.exitCode !== null) break;
      try {
        const res = await httpGet(`${this.origin}/echo/info`, 1000);
        if (res.status === 200) return;
      } catch (_) { /* not yet */ }
      await sleep(100);
    }
    throw new Error(`e2e proxy: ${this.setup} did not come up on ${this.origin}\n${this.logText()}`);
  }

  async start() {
    this.starts++;
    fs.mkdirSync(this.dir, { recursive: true });
    if (!this.backend.alive()) await this.backend.start();
    if (!this.proxy || this.proxy.exitCode !== null) await this._startProxy();
  }

  /** hard (a crash): only the test server dies. Otherwise both stop. */
  async stop({ hard = false } = {}) {
    await this.backend.stop({ hard });
    if (hard) return;
    const child = this.proxy;
    this.proxy = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM'); // nginx: fast shutdown; haproxy -db: hard stop
      const t = setTimeout(() => { try { child.kill('SIGKILL'); } catch (_) { /* gone */ } }, 5000);
      await gone;
      clearTimeout(t);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async restart() {
    await this.backend.stop({ hard: true });
    await this.backend.start();
  }
}

module.exports = { ProxyServer, proxySetup, PROXY_TIMEOUT_S, HEARTBEAT_S, SETUPS };
