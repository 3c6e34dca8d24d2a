// Real loopback fixtures for the browser tests: echo backends with
// galera-style health endpoints (run here, in Node), a free-port finder, the
// TOML config, and the real switchboard binary as a child process.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const REPO = path.resolve(__dirname, '..', '..', '..');
const USER = 'admin';
const PASSWORD = 'browser-test-secret';

/** A port that was free a moment ago (the OS picks it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Closes a server and every socket it accepted. */
function closeAll(server, sockets) {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * One backend: a TCP echo server greeting "hello from NAME\n", and a galera
 * health endpoint whose answer `setMode` switches: healthy, 503, hang, unhealthy.
 */
async function startBackend(name, index) {
  const sockets = new Set();
  const track = (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); };
  const echo = net.createServer((sock) => {
    track(sock);
    sock.setNoDelay(true);
    sock.on('error', () => {});
    sock.write(`hello from ${name}\n`);
    sock.pipe(sock);
  });
  const backend = { name, index, mode: 'healthy' };
  const health = http.createServer((req, res) => {
    if (backend.mode === 'hang') return; // never answers: the probe times out
    if (backend.mode === '503') return res.writeHead(503).end('failing on purpose\n');
    const healthy = backend.mode === 'healthy';
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({
      wsrep_local_state: healthy ? 4 : 2, wsrep_local_state_comment: healthy ? 'Synced' : 'Donor/Desynced',
      wsrep_local_index: index, healthy,
    }));
  });
  health.on('connection', track);
  await Promise.all([echo, health].map((s) => new Promise((r) => s.listen(0, '127.0.0.1', r))));
  backend.port = echo.address().port;
  backend.healthPort = health.address().port;
  backend.setMode = (mode) => { backend.mode = mode; };
  backend.close = () => Promise.all([closeAll(echo, sockets), closeAll(health, sockets)]);
  return backend;
}

/** The native TOML config (docs/configuration.md) for these backends. */
function writeConfig(dir, { proxyPort, apiPort, backends }) {
  const toml = `# written by tests/browser
[proxy]
listen = "127.0.0.1:${proxyPort}"
connect_timeout = "1s"
drain_timeout = "30s"

[monitor]
interval = "200ms"
timeout = "200ms"
rise = 1
fall = 1

[api]
listen = "127.0.0.1:${apiPort}"
username = "${USER}"
password = "${PASSWORD}"

[state]
file = "${path.join(dir, 'state.json')}"
${backends.map((b) => `
[[backends]]
name = "${b.name}"
host = "127.0.0.1"
port = ${b.port}
check = { kind = "galera", url = "http://127.0.0.1:${b.healthPort}/api/v1/status" }
`).join('')}`;
  const file = path.join(dir, 'switchboard.toml');
  fs.writeFileSync(file, toml);
  return file;
}

function binary() {
  return process.env.SWITCHBOARD_BIN || path.join(REPO, 'target', 'debug', 'switchboard');
}

/** GET with basic auth; resolves to {status, body} or rejects on a network error. */
function get(url, user = USER, password = PASSWORD) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { auth: `${user}:${password}`, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Polls `check` until it returns a truthy value, or fails after `ms`. */
async function until(what, ms, check) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/**
 * Starts the real binary with `args` and waits until `GET /v0/state` answers
 * 200 on `apiUrl`. Its output is kept in `.output` for failure messages.
 */
async function startSwitchboard(args, apiUrl, creds = [USER, PASSWORD]) {
  const proc = spawn(binary(), args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  const sb = { proc, output: '', exited: null };
  proc.stdout.on('data', (d) => { sb.output += d; });
  proc.stderr.on('data', (d) => { sb.output += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => { sb.exited = { code, signal }; resolve(); }));
  sb.stop = async () => {
    if (!sb.exited) proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10000))]);
    if (!sb.exited) { proc.kill('SIGKILL'); await exited; }
  };
  try {
    await until('switchboard to serve /v0/state', 20000, async () => {
      if (sb.exited) throw new Error(`switchboard exited ${JSON.stringify(sb.exited)}:\n${sb.output}`);
      return (await get(`${apiUrl}v0/state`, ...creds)).status === 200;
    });
  } catch (e) {
    await sb.stop();
    e.message += `\n--- switchboard output ---\n${sb.output}`;
    throw e;
  }
  return sb;
}

/** A client session through the proxy; `.data` collects what it received. */
function openSession(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    const session = { sock, data: '', ended: false };
    session.closed = new Promise((r) => sock.on('close', () => { session.ended = true; r(); }));
    sock.on('data', (d) => { session.data += d; });
    sock.on('error', () => {});
    sock.once('connect', () => resolve(session));
    sock.once('error', reject);
  });
}

function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'switchboard-browser-'));
}

module.exports = { REPO, USER, PASSWORD, freePort, startBackend, writeConfig, startSwitchboard,
  openSession, until, get, tempDir };
