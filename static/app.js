// switchboard dashboard: one page, live over Server-Sent Events.
//
// Data flow: GET v0/state gives a snapshot; v0/events/stream pushes every bus
// event. Each event is applied to the snapshot at once (so a failover shows
// in milliseconds) and a fresh snapshot is fetched at most every 250 ms while
// events arrive. Nothing polls when the cluster is idle. When the stream
// drops, the page says so, reconnects with backoff and resyncs; a restarted
// server (new `startedAt`) starts a new event epoch. The stream also carries one `history`
// frame per sample for the 15-minute charts, which charts.js (loaded first) draws; instances.js
// (loaded first too) draws the `[coordination]` instances panel and says who acknowledged a PATCH.
'use strict';

// ---- Small helpers ----------------------------------------------------------

const $ = (id) => document.getElementById(id);
const STATE_EVERY_MS = 250;
const MAX_EVENTS = 200; // kept per kind: noisy session counts vs everything else

/** Creates an element: el('span', {class: 'x', onclick: f}, 'text', child). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** Sets text only when it changed (keeps screen readers and layout calm). */
function setText(node, text) {
  if (node.textContent !== String(text)) node.textContent = text;
}

// ---- Formatting and event descriptions ---------------------------------------

function fmtClock(iso) {
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleTimeString([], { hour12: false });
}

function fmtDuration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const [d, h, m] = [Math.floor(s / 86400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60];
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m ${s % 60}s` : `${s}s`;
}

const fmtAgo = (iso) => (iso ? `${fmtDuration(Date.now() - new Date(iso))} ago` : '');
const fmtAt = (iso) => `${fmtClock(iso)} (${fmtAgo(iso)})`;

/** Per event type: its tag and its severity. The text is the server's `description`. */
const KINDS = {
  active_changed: ['active', (e) => (e.to ? 'warn' : 'bad')],
  standby_changed: ['standby', () => 'info'],
  health_changed: ['health', (e) => (e.healthy ? 'good' : 'bad')],
  routing_changed: ['routing', (e) => (e.enabled ? 'good' : 'bad')],
  monitoring_changed: ['monitor', (e) => (e.enabled ? 'good' : 'warn')],
  backend_state_changed: ['admin', (e) => (e.state === 'enabled' ? 'good' : 'warn')],
  sessions_changed: ['sessions', () => 'info'],
  sessions_severed: ['severed', () => 'bad'],
  config_reloaded: ['reload', () => 'info'],
  coordinator_lost: ['etcd', () => 'bad'], // [coordination] (instances.js draws the rest)
  coordinator_rejoined: ['etcd', () => 'good'],
  leader_changed: ['leader', (e) => (e.to ? 'info' : 'warn')],
  local_disagreement: ['disagree', () => 'warn'],
  peer_view_changed: ['peer', () => 'info'],
};
const EVENT_TYPES = Object.keys(KINDS); // the SSE event names the page listens to

/** Events that describe the session counters, which the snapshot reads live (not in its event index). */
const SESSION_EVENTS = new Set(['sessions_changed', 'sessions_severed']);

// ---- Model: the snapshot, the event epoch, the demo backends ---------------------

const model = {
  state: null, // the last GET v0/state, with newer events applied
  events: [], // this server process's events, oldest first
  lastIndex: 0, // newest event index seen in this epoch
  lastStateIndex: 0, // newest index of an event the snapshot folds in (not sessions_*)
  lastActiveChange: null, // the newest active_changed event: "why did it move"
  demo: null, // {backends: [{name, mode}], modes} in `switchboard demo`, else null
  conn: 'connecting', // connecting | live | reconnecting
  attempt: 0,
  busy: new Set(), // keys of actions in flight
};

// ---- API client ---------------------------------------------------------------------

/** Calls the API; throws an Error carrying the API's `error` (and `field`) and `status`. */
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: use the text */ }
  if (res.ok) return data;
  let msg = (data && data.error) || text.trim() || res.statusText;
  if (data && data.field) msg += ` (field: ${data.field})`;
  if (res.status === 401) msg = 'not authorised: reload the page and sign in';
  throw Object.assign(new Error(`${res.status} ${msg}`), { status: res.status });
}

// ---- Sync: snapshot (throttled), backlog, demo ------------------------------------------

const fetcher = { timer: null, inFlight: false, again: false, lastAt: 0 };

/** Asks for a fresh snapshot: at most one every 250 ms, never two at once, none when idle. */
function requestState() {
  if (fetcher.inFlight) { fetcher.again = true; return; }
  if (fetcher.timer) return;
  fetcher.timer = setTimeout(fetchState, Math.max(0, fetcher.lastAt + STATE_EVERY_MS - Date.now()));
}

async function fetchState() {
  Object.assign(fetcher, { timer: null, inFlight: true, lastAt: Date.now() });
  try {
    adoptState(await api('GET', 'v0/state'));
  } catch (e) {
    if (e.status === 401) toast(e.message, 'error');
  } finally {
    fetcher.inFlight = false;
    if (fetcher.again) { fetcher.again = false; requestState(); }
  }
}

/**
 * Takes a snapshot as the truth: the page shows what the server says (roles included) and
 * derives nothing itself. A snapshot older than an event already received is shown, then
 * fetched once more.
 */
function adoptState(s) {
  if (model.state && s.startedAt !== model.state.startedAt) newEpoch(s);
  const behind = s.lastEventIndex < model.lastStateIndex; // built before events we have seen
  model.state = s;
  render();
  if (behind) requestState();
}

/** The server restarted: its event indices start again. */
function newEpoch(s) {
  Object.assign(model, { events: [], lastIndex: 0, lastStateIndex: 0, lastActiveChange: null });
  logNote(`Server restarted (running since ${fmtClock(s.startedAt)}); earlier events below are from before.`);
}

/** Events the stream did not carry (first load, or the gap while reconnecting). */
async function fetchBacklog() {
  const page = await api('GET', `v0/events?since=${model.lastIndex}`).catch(() => null); // optional
  for (const ev of ((page && page.events) || []).sort((a, b) => a.index - b.index)) onEvent(ev, true);
}

/** The demo backends and their health modes; 404 (null) outside `switchboard demo`. */
async function fetchDemo() {
  model.demo = await api('GET', 'v0/demo').catch(() => null);
  render();
}

// ---- Live stream: SSE with reconnect --------------------------------------------------

let source = null;
let syncing = null; // events queued while a resync runs

function connect() {
  source = new EventSource('v0/events/stream?history=1');
  source.onopen = onOpen;
  source.onerror = onDrop;
  const handler = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    if (syncing) syncing.push(ev); else onEvent(ev, false);
  };
  for (const t of EVENT_TYPES) source.addEventListener(t, handler);
  source.addEventListener('history', (m) => Charts.sample(m.data));
  source.onmessage = handler;
  // The server lost events for us (we lagged): rebuild from the state it sends.
  source.addEventListener('resync', (m) => {
    try { adoptState(JSON.parse(m.data).state); } catch { requestState(); }
  });
}

/** Connected (again): resync the snapshot and the backlog, then go live. */
async function onOpen() {
  const wasDown = model.conn === 'reconnecting';
  syncing = [];
  try {
    adoptState(await api('GET', 'v0/state'));
    await fetchBacklog();
    Charts.load();
    if (wasDown) fetchDemo();
  } catch (e) {
    toast(`Could not load the state: ${e.message}`, 'error');
  }
  const queued = syncing;
  syncing = null;
  queued.forEach((ev) => onEvent(ev, false));
  Object.assign(model, { conn: 'live', attempt: 0 });
  if (wasDown) logNote('Live connection restored.');
  render();
}

/** The stream broke: say so, and reconnect with backoff (0.5 s → 5 s). */
function onDrop() {
  source.close();
  if (model.conn === 'live') logNote('Live connection lost; reconnecting…');
  model.conn = 'reconnecting';
  model.attempt += 1;
  render();
  setTimeout(connect, Math.min(5000, 500 * 2 ** (model.attempt - 1)));
}

/** One bus event, from the stream or the backlog. */
function onEvent(ev, fromBacklog) {
  if (typeof ev.index !== 'number' || ev.index <= model.lastIndex) return; // seen already
  model.lastIndex = ev.index;
  if (!SESSION_EVENTS.has(ev.type)) model.lastStateIndex = ev.index;
  model.events.push(ev);
  if (model.events.length > 2 * MAX_EVENTS) model.events.splice(0, MAX_EVENTS);
  if (ev.type === 'active_changed') model.lastActiveChange = ev;
  logEvent(ev);
  // A demo backend's health mode may have been switched with curl: show the buttons as it is now.
  if (!fromBacklog && model.demo && ev.type === 'health_changed') fetchDemo();
  if (!fromBacklog) requestState();
  render();
}

// ---- Rendering: connection, hero, cluster controls ------------------------------------

function render() {
  renderConn();
  const s = model.state;
  if (!s) return;
  renderHero(s);
  renderControls(s);
  renderBackends(s);
  Instances.render(s);
}

function renderConn() {
  const c = $('conn');
  c.dataset.state = model.conn;
  setText(c, { connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…' }[model.conn]);
  $('conn-banner').hidden = model.conn !== 'reconnecting';
  setText($('conn-banner'), `Lost the live connection to switchboard. Reconnecting (attempt ${model.attempt})… `
    + 'The figures below may be out of date.');
  document.body.classList.toggle('stale', model.conn === 'reconnecting');
}

/** The answer to "is traffic flowing, to which node, and why did it move". */
function renderHero(s) {
  const active = s.backends.find((b) => b.name === s.active);
  const status = !s.routing.enabled ? 'off' : active ? 'on' : 'none';
  Object.assign($('hero').dataset, { status, active: s.active || '' });
  setText($('version'), s.version ? `v${s.version}` : '');
  setText($('flow-target'), { off: 'OFF', none: 'No active backend', on: `→ ${s.active}` }[status]);
  setText($('flow-detail'), {
    off: `Routing is off${s.routing.message ? `: “${s.routing.message}”` : ''}`,
    none: 'Every backend is down, drained or disabled: new connections are closed.',
    on: active && `${active.host}:${active.port} · ${active.sessions.active} open sessions`,
  }[status]);
  const ev = model.lastActiveChange;
  let why = '';
  if (status === 'off') why = `Off since ${fmtAt(s.routing.changedAt)}. Elected active: ${s.active || 'none'}.`;
  else if (ev && status === 'none') why = `Since ${fmtAt(ev.time)}: ${ev.reason}.`;
  else if (ev) why = `${ev.from ? `Moved from ${ev.from} at` : 'Active since'} ${fmtAt(ev.time)}: ${ev.reason}.`;
  if (!s.monitoring.enabled) why += ' Monitoring is paused: health verdicts are frozen.';
  setText($('flow-why'), why);
  setText($('f-routing'), s.routing.enabled ? 'on' : 'OFF');
  $('f-routing').dataset.on = s.routing.enabled;
  setText($('f-monitoring'), s.monitoring.enabled ? 'on' : 'paused');
  $('f-monitoring').dataset.on = s.monitoring.enabled;
  setText($('f-standby'), s.standby || 'none');
  setText($('f-sessions'), s.totals.sessions);
  setText($('f-failovers'), s.totals.failovers);
  setText($('f-uptime'), fmtDuration(Date.now() - new Date(s.startedAt)));
}

function renderControls(s) {
  const r = $('btn-routing');
  r.disabled = model.busy.has('routing');
  r.className = s.routing.enabled ? 'danger' : 'primary';
  setText(r, s.routing.enabled ? 'Turn routing off…' : 'Turn routing on');
  const m = $('btn-monitoring');
  m.disabled = model.busy.has('monitoring');
  m.className = s.monitoring.enabled ? 'warn' : 'primary';
  setText(m, s.monitoring.enabled ? 'Pause monitoring…' : 'Resume monitoring');
}

// ---- Rendering: backend rows ----------------------------------------------------------

const ROLE_ICONS = { active: '▶', standby: '◆', ready: '●', down: '✕', drained: '◐', disabled: '⊘' };
const HEALTH_TEXT = { unknown: '? not probed yet', healthy: '✓ healthy', unhealthy: '✕ unhealthy' };

function renderBackends(s) {
  const tbody = $('backend-rows');
  document.querySelectorAll('.demo-col').forEach((n) => { n.hidden = !model.demo; });
  $('demo-hint').hidden = !model.demo;
  const keep = new Set(s.backends.map((b) => b.name));
  for (const tr of [...tbody.rows]) if (!keep.has(tr.dataset.backend)) tr.remove();
  s.backends.forEach((b, i) => {
    const tr = tbody.querySelector(`tr[data-backend="${CSS.escape(b.name)}"]`) || buildRow(b);
    if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
    updateRow(tr, b);
  });
}

/** A row's cells and buttons, built once so that focus survives updates. */
function buildRow(b) {
  const cell = (cls, label, ...kids) => el('td', { class: cls, 'data-label': label }, ...kids);
  const span = (cls) => el('span', { class: cls });
  const group = (label, ...kids) => el('span', { class: 'buttons', role: 'group', 'aria-label': label }, ...kids);
  const btn = (state, text, cls) => el('button', { type: 'button', class: cls, 'data-set': state,
    'aria-label': `${text} ${b.name}`, onclick: () => setBackendState(b.name, state) }, text);
  const demoBtn = (mode) => el('button', { type: 'button', 'data-mode': mode,
    'aria-label': `Demo: make ${b.name} ${mode}`, onclick: () => setDemoHealth(b.name, mode) }, mode);
  return el('tr', { 'data-backend': b.name },
    el('th', { scope: 'row', class: 'c-name' }, el('span', { class: 'name' }, b.name), span('addr')),
    cell('c-role', 'Role', span('pill')),
    cell('c-health', 'Health', span('health'), span('reason'), span('since')),
    cell('c-index num', 'Index'),
    cell('c-sessions num', 'Sessions', span('count'), span('sub')),
    cell('c-probe num', 'Probe'),
    cell('c-history', 'Recent probes', el('span', { class: 'spark', role: 'img' })),
    cell('c-admin', 'Admin state', span('admin'), span('sub admin-msg'), group(`Admin state of ${b.name}`,
      btn('drain', 'Drain', 'warn'), btn('disabled', 'Disable', 'danger'), btn('enabled', 'Enable', 'primary'))),
    cell('c-demo demo-col', 'Demo health', group(`Demo health of ${b.name}`,
      ...['healthy', '503', 'hang', 'unhealthy'].map(demoBtn))));
}

function updateRow(tr, b) {
  const q = (sel) => tr.querySelector(sel);
  tr.dataset.role = b.role;
  setText(q('.addr'), `${b.host}:${b.port}`);
  q('.pill').className = `pill role-${b.role}`;
  setText(q('.pill'), `${ROLE_ICONS[b.role] || ''} ${b.role}`);
  const health = !b.probed ? 'unknown' : b.healthy ? 'healthy' : 'unhealthy';
  q('.health').dataset.health = health;
  setText(q('.health'), HEALTH_TEXT[health]);
  setText(q('.reason'), b.reason || '');
  setText(q('.since'), b.healthChangedAt ? `for ${fmtDuration(Date.now() - new Date(b.healthChangedAt))}` : '');
  setText(q('.c-index'), b.index);
  setText(q('.count'), b.sessions.total);
  setText(q('.c-sessions .sub'), b.sessions.severed ? `${b.sessions.severed} severed` : '');
  const lc = b.lastCheck;
  setText(q('.c-probe'), lc ? `${lc.latencyMs < 10 ? lc.latencyMs.toFixed(1) : Math.round(lc.latencyMs)} ms` : '–');
  q('.c-probe').title = lc ? `${fmtClock(lc.at)}: ${lc.ok ? 'ok' : lc.reason}` : '';
  renderSpark(q('.spark'), b.history || []);
  q('.admin').dataset.state = b.adminState;
  setText(q('.admin'), b.adminState);
  setText(q('.admin-msg'), b.adminMessage || '');
  for (const button of tr.querySelectorAll('[data-set]')) {
    button.hidden = button.dataset.set === b.adminState;
    button.disabled = model.busy.has(`backend:${b.name}`);
  }
  const demo = model.demo && (model.demo.backends || []).find((d) => d.name === b.name);
  for (const button of tr.querySelectorAll('[data-mode]')) {
    button.setAttribute('aria-pressed', String(Boolean(demo && demo.mode === button.dataset.mode)));
    button.disabled = !demo || model.busy.has(`demo:${b.name}`);
  }
}

/** Recent probes as bars: tall = ok, short = failed (shape and colour). */
function renderSpark(node, history) {
  const key = history.map((c) => `${c.at}${c.ok}`).join();
  if (node.dataset.key === key) return;
  node.dataset.key = key;
  const ok = history.filter((c) => c.ok).length;
  const last = history[history.length - 1];
  node.setAttribute('aria-label', history.length
    ? `${ok} of ${history.length} recent probes ok${last && !last.ok ? `; last failed: ${last.reason}` : ''}`
    : 'no probes yet');
  node.replaceChildren(...history.map((c) => el('i', { class: c.ok ? 'ok' : 'bad',
    title: `${fmtClock(c.at)} ${c.ok ? 'ok' : c.reason} (${Math.round(c.latencyMs)} ms)` })));
}

// ---- Rendering: event log (newest first) ---------------------------------------------------

function logEvent(ev) {
  const [tag, severity] = KINDS[ev.type] || [ev.type, () => 'info'];
  addToLog(ev.time, tag, ev.description || ev.type, { class: `ev ev-${ev.type} sev-${severity(ev)}`, 'data-index': ev.index },
    ev.type === 'sessions_changed' ? 'noisy' : 'main');
}

/** A note from the page itself (connection lost, server restarted). */
function logNote(text) {
  addToLog(new Date().toISOString(), 'page', text, { class: 'ev note' }, 'main');
}

function addToLog(time, tag, text, attrs, kind) {
  const log = $('event-log');
  log.prepend(el('li', { ...attrs, 'data-kind': kind }, el('time', { datetime: time, title: time }, fmtClock(time)),
    el('span', { class: 'tag' }, tag), el('span', { class: 'desc' }, text)));
  const same = log.querySelectorAll(`li[data-kind="${kind}"]`);
  for (let i = MAX_EVENTS; i < same.length; i++) same[i].remove();
  $('log-empty').hidden = true;
}

// ---- Controls: routing, monitoring, backends, demo -------------------------------------------

/** Runs one operator action: busy state, then a visible result or error. */
async function act(key, label, call) {
  model.busy.add(key);
  render();
  try {
    toast(`${label}: ${Instances.applied(await call())}`, 'ok'); // with [coordination]: who acknowledged
  } catch (e) {
    toast(`${label} failed: ${e.message}`, 'error');
  } finally {
    model.busy.delete(key);
    requestState();
    render();
  }
}

const patchCluster = (body) => api('PATCH', 'v0/cluster', body);

async function toggleRouting() {
  const s = model.state;
  if (!s.routing.enabled) return act('routing', 'Routing on', () => patchCluster({ trafficEnabled: true, message: '' }));
  const answer = await ask({ title: 'Turn routing off?', confirm: 'Turn routing off', message: 'required',
    label: 'Message for other operators (required)', text: `Every open session (${s.totals.sessions} now) is severed `
      + 'and new connections are closed until routing is turned on again.' });
  if (answer) await act('routing', 'Routing off', () => patchCluster({ trafficEnabled: false, message: answer.message }));
}

async function toggleMonitoring() {
  const on = model.state.monitoring.enabled;
  if (on && !(await ask({ title: 'Pause monitoring?', confirm: 'Pause monitoring',
    text: 'Probing stops and every verdict freezes: the active backend stays where it is even if it fails.' }))) return;
  await act('monitoring', on ? 'Monitoring paused' : 'Monitoring resumed', () => patchCluster({ monitoringEnabled: !on }));
}

async function setBackendState(name, state) {
  const b = model.state.backends.find((x) => x.name === name);
  let message = '';
  if (state !== 'enabled') {
    const verb = state === 'drain' ? 'Drain' : 'Disable';
    const effect = state === 'drain' ? 'It takes no new sessions; open ones may finish until the drain timeout.'
      : 'It takes no new sessions and its open sessions are severed now.';
    const failover = b.role === 'active' ? ' It is the ACTIVE backend: traffic fails over to the next one.' : '';
    const answer = await ask({ title: `${verb} ${name}?`, confirm: verb, message: 'optional',
      label: 'Message (optional)', text: `${effect}${failover} (${b.sessions.total} open sessions.)` });
    if (!answer) return;
    message = answer.message;
  }
  await act(`backend:${name}`, `Set ${name} to ${state}`,
    () => api('PATCH', `v0/backends/${encodeURIComponent(name)}`, { state, message }));
  // The clicked button may now be hidden: keep keyboard focus in the row.
  if (!document.activeElement || document.activeElement === document.body || document.activeElement.hidden) {
    const next = [...document.querySelectorAll(`tr[data-backend="${CSS.escape(name)}"] [data-set]`)].find((x) => !x.hidden);
    if (next) next.focus();
  }
}

async function setDemoHealth(name, mode) {
  await act(`demo:${name}`, `Demo: ${name} health ${mode}`, async () => {
    await api('POST', `v0/demo/backends/${encodeURIComponent(name)}/health/${encodeURIComponent(mode)}`);
    const d = model.demo.backends.find((x) => x.name === name);
    if (d) d.mode = mode;
  });
}

// ---- Confirmation dialog and toasts ------------------------------------------------------------

/** Shows the modal; resolves to {message} on confirm, null on cancel or Escape. */
function ask({ title, text, confirm, message, label }) {
  const dialog = $('confirm');
  const input = $('confirm-msg');
  setText($('confirm-title'), title);
  setText($('confirm-text'), text);
  setText($('confirm-ok'), confirm);
  setText($('confirm-msg-label'), label || 'Message');
  $('confirm-msg-wrap').hidden = !message;
  input.value = '';
  input.required = message === 'required';
  input.toggleAttribute('pattern', input.required); // blank or spaces only: refused by the browser
  if (input.required) input.pattern = '.*\\S.*';
  dialog.returnValue = '';
  dialog.showModal();
  (message ? input : $('confirm-ok')).focus();
  return new Promise((resolve) => dialog.addEventListener('close', () => {
    resolve(dialog.returnValue === 'ok' ? { message: input.value.trim() } : null);
  }, { once: true }));
}

function toast(text, kind) {
  const node = el('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, el('span', {}, text),
    el('button', { type: 'button', class: 'close', 'aria-label': 'Dismiss', onclick: () => node.remove() }, '×'));
  $('toasts').append(node);
  while ($('toasts').children.length > 3) $('toasts').firstElementChild.remove();
  setTimeout(() => node.remove(), kind === 'error' ? 20000 : 6000);
}

// ---- Boot ------------------------------------------------------------------------------------------

function boot() {
  $('btn-routing').addEventListener('click', toggleRouting);
  $('btn-monitoring').addEventListener('click', toggleMonitoring);
  $('confirm-cancel').addEventListener('click', () => $('confirm').close('cancel'));
  $('show-sessions').addEventListener('change', (e) => {
    $('event-log').classList.toggle('hide-sessions', !e.target.checked);
  });
  setInterval(render, 1000); // clocks only (uptime, "for 5s"): no network
  fetchDemo();
  connect();
}

boot();
