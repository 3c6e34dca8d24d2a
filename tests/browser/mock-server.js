// A stand-in for switchboard's HTTP API (docs/api.md) with a simulated cluster, so
// the dashboard can be developed and checked without the binary:
//
//   node tests/browser/mock-server.js [port] [--coordination]   # then open http://127.0.0.1:PORT/ (admin / switchboard)
//
// It serves static/ and the endpoints the page uses, in the shapes of
// src/combiner/state.rs and src/bus/event.rs: GET /v0/state, GET /v0/events,
// GET /v0/events/stream (SSE), GET /v0/history (one sample), PATCH /v0/cluster, PATCH /v0/backends/{name},
// GET /v0/demo, POST /v0/demo/backends/{name}/health/{mode}. Probes, election
// and sessions are simulated in memory; nothing here is the real router.
// `startMock({coordination: true})` adds a simulated `[coordination] kind = "etcd"`
// (src/api/wire_coordination.rs): three instances, this one `proxy-0`, leader
// `proxy-1`; `cluster.loseCoordinator()` / `rejoinCoordinator()` /
// `setPeer(name, fields)` drive it. Without it, `coordination` is `{kind: "none"}`.
'use strict';

const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const STATIC = path.join(__dirname, '..', '..', 'static');
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' };
const MODES = ['healthy', '503', 'hang', 'unhealthy'];

/** The one line the real server sends as an event's `description` (its `describe()`). */
function describe(e) {
  const msg = (m) => (m ? `: ${m}` : '');
  switch (e.type) {
    case 'active_changed': return `active ${e.from || 'none'} -> ${e.to || 'none'}: ${e.reason}`;
    case 'standby_changed': return `standby ${e.from || 'none'} -> ${e.to || 'none'}: ${e.reason}`;
    case 'health_changed': return `${e.backend} is ${e.healthy ? 'healthy' : 'unhealthy'}: ${e.reason}`;
    case 'routing_changed': return `routing ${e.enabled ? 'on' : 'off'} by ${e.actor}${msg(e.message)}`;
    case 'monitoring_changed': return `monitoring ${e.enabled ? 'on' : 'off'} by ${e.actor}`;
    case 'backend_state_changed': return `${e.backend} set ${e.state} by ${e.actor}${msg(e.message)}`;
    case 'sessions_changed': return `${e.backend} (${e.port} port): ${e.current} session${e.current === 1 ? '' : 's'}`;
    case 'sessions_severed': return `${e.backend} (${e.port} port): ${e.sessions} session${e.sessions === 1 ? '' : 's'} severed: ${e.reason}`;
    case 'coordinator_lost': return `coordinator lost: ${e.reason}`;
    case 'coordinator_rejoined': return `coordinator rejoined: ${e.reason}`;
    case 'leader_changed': return `coordination leader ${e.from || 'none'} -> ${e.to || 'none'}`;
    case 'local_disagreement': return `the shared decision routes to ${e.backend}, which this instance's probes call down: ${e.reason}`;
    default: return e.type;
  }
}

/** The simulated cluster: truth, event ring and SSE clients. */
class Cluster {
  constructor(names, { interval = 300, timeout = 200, coordination = false } = {}) {
    this.interval = interval;
    this.timeout = timeout;
    this.startedAt = new Date().toISOString();
    this.routing = { enabled: true, message: '', changedAt: this.startedAt };
    this.monitoring = { enabled: true, changedAt: this.startedAt };
    this.backends = names.map((name, i) => ({
      name, host: '10.0.0.' + (11 + i), port: 3306, healthy: false, probed: false, index: i,
      adminState: 'enabled', adminMessage: '', reason: 'not probed yet', healthChangedAt: null,
      sessions: { active: 0, standby: 0, total: 0, severed: 0 }, lastCheck: null, history: [], mode: 'healthy',
    }));
    this.active = null;
    this.standby = null;
    this.failovers = 0;
    this.events = [];
    this.clients = new Set();
    this.generation = 0;
    /** The simulated etcd coordination, or null (kind "none"). `peers`: fields a peer's view overrides. */
    this.coord = coordination ? { instance: 'proxy-0', role: 'follower', leader: 'proxy-1', epoch: 0,
      onCoordinatorLost: 'hold', lostSince: null, lostCount: 0, acknowledged: 1, instances: ['proxy-0', 'proxy-1', 'proxy-2'],
      peers: {} } : null;
    this.timer = setInterval(() => this.probeAll(), interval);
    this.probeAll();
  }

  publish(fields) {
    const ev = { index: this.events.length + 1, time: new Date().toISOString(), ...fields };
    ev.description = describe(ev);
    this.events.push(ev);
    for (const res of this.clients) res.write(`id: ${ev.index}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
  }

  probeAll() {
    if (!this.monitoring.enabled) return;
    for (const b of this.backends) {
      const ok = b.mode === 'healthy';
      const reason = { healthy: 'synced', 503: 'HTTP 503', hang: `timeout after ${this.timeout}ms`,
        unhealthy: 'healthy: false (Donor/Desynced)' }[b.mode];
      const latencyMs = b.mode === 'hang' ? this.timeout : 0.6 + Math.random() * 3;
      b.lastCheck = { at: new Date().toISOString(), ok, latencyMs, reason };
      b.history.push(b.lastCheck);
      if (b.history.length > 20) b.history.shift();
      if (!b.probed || b.healthy !== ok) {
        b.probed = true;
        b.healthy = ok;
        b.reason = reason;
        b.healthChangedAt = b.lastCheck.at;
        this.publish({ type: 'health_changed', backend: b.name, healthy: ok, reason });
      }
    }
    this.elect();
  }

  elect(reason) {
    const ok = this.backends.filter((b) => b.healthy && b.adminState === 'enabled');
    const active = ok.length ? ok[0].name : null;
    const standby = ok.length ? ok[ok.length - 1].name : null;
    if (active !== this.active) {
      const from = this.active;
      const why = reason || (from ? `${from} is ${this.get(from).healthy ? 'not enabled' : 'unhealthy: ' + this.get(from).reason}` : 'elected');
      this.active = active;
      if (from) this.failovers++;
      if (this.coord) this.coord.epoch++;
      this.publish({ type: 'active_changed', from, to: active, reason: why });
      if (from) this.sever(this.get(from), 'active', 'failover');
    }
    if (standby !== this.standby) {
      const from = this.standby;
      this.standby = standby;
      this.publish({ type: 'standby_changed', from, to: standby, reason: 'highest healthy index' });
    }
  }

  sever(b, port, reason) {
    const n = b.sessions[port];
    if (!n) return;
    b.sessions[port] = 0;
    b.sessions.total = b.sessions.active + b.sessions.standby;
    b.sessions.severed += n;
    this.publish({ type: 'sessions_severed', backend: b.name, port, sessions: n, reason });
  }

  /** Sessions opened by fake clients (for screenshots and tests). */
  openSessions(n) {
    const b = this.get(this.active);
    if (!b || !this.routing.enabled) return;
    b.sessions.active += n;
    b.sessions.total += n;
    this.publish({ type: 'sessions_changed', backend: b.name, port: 'active', opened: n, closed: 0, severed: 0,
      current: b.sessions.active });
  }

  get(name) { return this.backends.find((b) => b.name === name); }

  role(b) {
    if (b.name === this.active) return 'active';
    if (b.name === this.standby) return 'standby';
    if (b.adminState === 'disabled') return 'disabled';
    if (b.adminState === 'drain') return 'drained';
    return b.healthy ? 'ready' : 'down';
  }

  state() {
    const backends = this.backends.map(({ mode, ...b }) => ({ ...b, role: this.role(b) }));
    return {
      generation: ++this.generation, lastEventIndex: this.events.length, routing: this.routing,
      monitoring: this.monitoring, active: this.active, standby: this.standby, backends,
      totals: { sessions: backends.reduce((s, b) => s + b.sessions.total, 0), failovers: this.failovers,
        severed: backends.reduce((s, b) => s + b.sessions.severed, 0), connections: {}, bytesUp: 0, bytesDown: 0 },
      startedAt: this.startedAt, version: '0.1.0-mock', coordination: this.coordination(),
    };
  }

  /** `/v0/state`'s `coordination` object: every instance sees what this one sees unless `peers` says otherwise. */
  coordination() {
    const k = this.coord;
    if (!k) return { kind: 'none' };
    const lost = k.role === 'lost';
    const decision = { active: this.active, standby: this.standby, epoch: k.epoch, leader: 'proxy-1',
      reason: this.active ? `${this.active} is the healthy backend with the lowest index` : 'no healthy backend' };
    const instances = (lost ? [k.instance] : k.instances).map((name) => {
      const peer = k.peers[name] || {};
      const backends = this.backends.map((b) => ({ name: b.name, healthy: b.probed ? b.healthy : null, index: b.index,
        reason: b.reason, ...(peer.backends || {})[b.name] }));
      return { instance: name, self: name === k.instance, leader: !lost && name === k.leader, routesTo: this.active,
        standbyTo: this.standby, epoch: k.epoch, acknowledged: k.acknowledged, ...peer, backends };
    });
    const combined = this.backends.map((b) => {
      const healthyViews = instances.filter((i) => i.backends.find((v) => v.name === b.name).healthy).length;
      return { name: b.name, healthy: healthyViews * 2 > instances.length, index: b.index, healthyViews, views: instances.length };
    });
    return { kind: 'etcd', instance: k.instance, role: k.role, connected: !lost, leader: lost ? null : k.leader,
      epoch: k.epoch, combine: 'majority', onCoordinatorLost: k.onCoordinatorLost, lostSince: k.lostSince,
      lostCount: k.lostCount, decision: this.active || this.standby ? decision : null, instances, combined };
  }

  /** etcd unreachable past lease_ttl: role `lost`, the event, and PATCHes answer 503. */
  loseCoordinator(onCoordinatorLost = 'hold') {
    Object.assign(this.coord, { role: 'lost', lostSince: new Date().toISOString(), onCoordinatorLost });
    this.coord.lostCount++;
    this.publish({ type: 'coordinator_lost', reason: 'etcd unreachable for 3s (lease_ttl): context deadline exceeded' });
  }

  rejoinCoordinator() {
    Object.assign(this.coord, { role: 'follower', lostSince: null });
    this.publish({ type: 'coordinator_rejoined', reason: 'etcd answers again' });
  }

  /** Overrides what peer `name` publishes (`routesTo`, `backends: {db-0: {healthy, reason}}`, ...); publishes `event`. */
  setPeer(name, fields, event) {
    this.coord.peers[name] = { ...this.coord.peers[name], ...fields };
    if (event) this.publish(event);
  }

  /** With coordination: the 503 of a lost etcd, else the instances that acknowledged a change. */
  coordinated([status, body]) {
    if (!this.coord || status !== 200) return [status, body];
    if (this.coord.role === 'lost') {
      return [503, { error: 'etcd is unreachable (context deadline exceeded): operator changes apply to every instance and need the coordinator', field: null }];
    }
    this.coord.acknowledged++;
    return [200, { ...body, acknowledged: this.coord.instances }];
  }

  patchCluster(body) {
    const bool = (v) => (v === undefined ? undefined : /^(1|t|true)$/i.test(String(v)) ? true
      : /^(0|f|false)$/i.test(String(v)) ? false : null);
    const traffic = bool(body.trafficEnabled);
    const monitoring = bool(body.monitoringEnabled);
    if (traffic === null) return [400, { error: 'trafficEnabled must be a boolean', field: 'trafficEnabled' }];
    if (monitoring === null) return [400, { error: 'monitoringEnabled must be a boolean', field: 'monitoringEnabled' }];
    if (traffic === undefined && monitoring === undefined) return [400, { error: 'nothing to change', field: 'trafficEnabled' }];
    if (traffic === false && !String(body.message || '').trim()) return [400, { error: 'message is required when disabling traffic', field: 'message' }];
    const now = new Date().toISOString();
    if (traffic !== undefined && traffic !== this.routing.enabled) {
      this.routing = { enabled: traffic, message: String(body.message || ''), changedAt: now };
      this.publish({ type: 'routing_changed', enabled: traffic, message: this.routing.message, actor: 'admin' });
      if (!traffic) for (const b of this.backends) this.sever(b, 'active', 'routing off');
    }
    if (monitoring !== undefined && monitoring !== this.monitoring.enabled) {
      this.monitoring = { enabled: monitoring, changedAt: now };
      this.publish({ type: 'monitoring_changed', enabled: monitoring, actor: 'admin' });
    }
    return [200, { activeBackend: this.active && { name: this.active }, trafficEnabled: this.routing.enabled,
      message: this.routing.message, lastUpdated: now, monitoringEnabled: this.monitoring.enabled }];
  }

  patchBackend(name, body) {
    const b = this.get(name);
    if (!b) return [404, { error: `no backend named ${name}`, field: 'name' }];
    if (!['enabled', 'drain', 'disabled'].includes(body.state)) return [400, { error: 'state must be enabled, drain or disabled', field: 'state' }];
    if (b.adminState !== body.state) {
      b.adminState = body.state;
      b.adminMessage = String(body.message || '');
      this.publish({ type: 'backend_state_changed', backend: name, state: body.state, message: b.adminMessage, actor: 'admin' });
      if (body.state === 'disabled') this.sever(b, 'active', 'disabled by operator');
      this.elect(`${name} set ${body.state} by admin`);
    }
    return [200, { name, host: b.host, port: b.port, healthy: b.healthy, adminState: b.adminState }];
  }

  close() { clearInterval(this.timer); for (const res of this.clients) res.destroy(); this.clients.clear(); }
}

/** Starts the mock on `port` (0: any); resolves to {url, cluster, close, restart}. */
async function startMock({ port = 0, names = ['db-0', 'db-1', 'db-2'], demo = true, user = 'admin', password = 'switchboard',
  coordination = false } = {}) {
  const self = { cluster: new Cluster(names, { coordination }) };
  const expected = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  const handler = (req, res) => route(self, req, res, expected, demo).catch((e) => {
    res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: String(e) }));
  });
  const listen = (p) => new Promise((resolve) => {
    self.server = http.createServer(handler);
    self.server.listen(p, '127.0.0.1', () => resolve(self.server.address().port));
  });
  const bound = await listen(port);
  self.url = `http://127.0.0.1:${bound}/`;
  self.stop = async () => {
    self.cluster.close();
    self.server.closeAllConnections();
    await new Promise((r) => self.server.close(r));
  };
  /** Like a restarted process: same port, new cluster, every stream cut. */
  self.restart = async () => { await self.stop(); self.cluster = new Cluster(names, { coordination }); await listen(bound); };
  return self;
}

async function route(self, req, res, expected, demo) {
  const url = new URL(req.url, 'http://x');
  const json = (status, body) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  if (req.headers.authorization !== expected) {
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Authorization Required"', 'Content-Type': 'application/json' });
    return res.end(JSON.stringify({ error: 'unauthorized', field: '' }));
  }
  const c = self.cluster;
  const p = url.pathname;
  let m;
  if (req.method === 'GET' && !p.startsWith('/v0/')) {
    const file = path.join(STATIC, p === '/' ? 'index.html' : path.basename(p));
    if (!fs.existsSync(file)) return json(404, { error: 'not found', field: '' });
    return res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' })
      .end(fs.readFileSync(file));
  }
  if (req.method === 'GET' && p === '/v0/state') return json(200, c.state());
  if (req.method === 'GET' && p === '/v0/history') { // one sample of now: enough to draw the charts
    const st = c.state();
    return json(200, { periodMs: 5000, capacity: 180, samples: [{ seq: 1, at: new Date().toISOString(),
      sessions: st.totals.sessions, bytesUpPerSec: 0, bytesDownPerSec: 0, backends: st.backends.map((b) => ({
        name: b.name, sessions: b.sessions.total, probeLatencyMs: b.lastCheck ? b.lastCheck.latencyMs : null })) }] });
  }
  if (req.method === 'GET' && p === '/v0/events') {
    const since = Number(url.searchParams.get('since') || 0);
    const events = c.events.filter((e) => e.index > since);
    return json(200, { oldestIndex: c.events.length ? 1 : 0, lastIndex: c.events.length, missed: false, events });
  }
  if (req.method === 'GET' && p === '/v0/events/stream') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write(': hello\n\n');
    c.clients.add(res);
    req.on('close', () => c.clients.delete(res));
    return;
  }
  const body = await readBody(req);
  if (req.method === 'PATCH' && p === '/v0/cluster') return json(...c.coordinated(c.patchCluster(body)));
  if (req.method === 'PATCH' && (m = p.match(/^\/v0\/backends\/([^/]+)$/))) {
    return json(...c.coordinated(c.patchBackend(decodeURIComponent(m[1]), body)));
  }
  if (demo && req.method === 'GET' && p === '/v0/demo') {
    return json(200, { backends: c.backends.map((b) => ({ name: b.name, mode: b.mode })), modes: MODES });
  }
  if (demo && req.method === 'POST' && (m = p.match(/^\/v0\/demo\/backends\/([^/]+)\/health\/([^/]+)$/))) {
    const b = c.get(decodeURIComponent(m[1]));
    if (!b) return json(404, { error: 'no such demo backend', field: 'name' });
    if (!MODES.includes(m[2])) return json(400, { error: 'unknown mode', field: 'mode' });
    b.mode = m[2];
    return json(200, { name: b.name, mode: b.mode });
  }
  return json(404, { error: 'not found', field: '' });
}

function readBody(req) {
  return new Promise((resolve) => {
    let data = '';
    req.on('data', (d) => { data += d; });
    req.on('end', () => {
      try { resolve(data ? JSON.parse(data) : {}); } catch { resolve(Object.fromEntries(new URLSearchParams(data))); }
    });
  });
}

module.exports = { startMock };

if (require.main === module) {
  startMock({ port: Number(process.argv[2] || 8099), coordination: process.argv.includes('--coordination') }).then((m) => {
    console.log(`mock switchboard API at ${m.url} (admin / switchboard)`);
    setInterval(() => m.cluster.openSessions(Math.floor(Math.random() * 3)), 2000);
  });
}
