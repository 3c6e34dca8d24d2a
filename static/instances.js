// switchboard dashboard: the "Instances" panel of `[coordination] kind = "etcd"` (SPEC 13): every
// live instance, where each routes, its own verdict per backend, and the banner of a lost coordinator.
//
// Data: only v0/state's `coordination` object, handed over by app.js on every render. With kind
// "none" (or a server without the object) the panel and the banner stay hidden and nothing else on
// the page changes. It derives nothing the server says: roles, the leader, routes, epochs and
// verdicts are shown as sent; its one comparison is an instance whose `routesTo` is not the
// decision's `active`, marked as disagreeing. It requests nothing itself. It calls app.js's `el`,
// `setText` and `fmtClock` (page globals) only from its functions, so it may load before app.js.
'use strict';

const Instances = (() => {
  let drawn = null; // the coordination the cards show: rebuilt only when it changed

  /** A verdict (`healthy`: true, false or null) as its word and its shape. */
  const VERDICT = { true: ['healthy', '✓'], false: ['down', '✕'], null: ['unknown', '?'] };

  /** Draws the panel and the lost banner from the state `s` (hidden without etcd). */
  function render(s) {
    const c = s.coordination;
    const on = Boolean(c && c.kind === 'etcd');
    document.getElementById('instances').hidden = !on;
    document.getElementById('coord-lost').hidden = !on || c.role !== 'lost';
    if (!on) { drawn = null; return; }
    renderSummary(c);
    if (c.role === 'lost') renderLost(s, c);
    const key = JSON.stringify([c.instances, c.decision && c.decision.active]);
    if (key === drawn) return;
    drawn = key;
    document.getElementById('instance-cards').replaceChildren(...(c.instances || []).map((i) => card(i, c.decision)));
  }

  /** The header line: this instance's role, the leader, the decision's epoch and reason. */
  function renderSummary(c) {
    const role = document.getElementById('coord-role');
    role.dataset.role = c.role;
    setText(role, c.role);
    const d = c.decision;
    setText(document.getElementById('coord-text'), `${c.instance} · leader ${c.leader || 'none'} · decision epoch `
      + `${c.epoch}${d ? `: ${d.active || 'no active'}${d.standby ? `, standby ${d.standby}` : ''} (${d.reason})`
        : ': no decision yet'} · combine ${c.combine}`);
  }

  /** "etcd unreachable since 05:00:00: holding db-0" (or "routing refused"). */
  function renderLost(s, c) {
    const since = c.lostSince ? ` since ${fmtClock(c.lostSince)}` : '';
    const what = c.onCoordinatorLost === 'refuse' ? 'routing refused: new connections are closed'
      : s.active ? `holding ${s.active}` : 'holding, but no backend is active here: new connections are closed';
    setText(document.getElementById('coord-lost-text'), `etcd unreachable${since}: ${what}.`);
    setText(document.getElementById('coord-lost-sub'), `This instance routes on its own until etcd answers `
      + `again (on_coordinator_lost = ${c.onCoordinatorLost}); it rejoins by itself.`);
  }

  /** One instance: its name, its marks, where it routes, its epoch and its own verdicts. */
  function card(i, decision) {
    const disagrees = Boolean(decision) && (i.routesTo || null) !== (decision.active || null);
    const mark = (cls, text) => el('span', { class: `mark ${cls}` }, text);
    const sub = `standby ${i.standbyTo || 'none'} · epoch ${i.epoch}`
      + (disagrees ? ` · the decision says ${decision.active || 'none'}` : '');
    return el('li', { class: 'instance', 'data-instance': i.instance, 'data-self': String(Boolean(i.self)),
      'data-leader': String(Boolean(i.leader)), 'data-disagrees': String(disagrees) },
    el('div', { class: 'instance-head' }, el('span', { class: 'name' }, i.instance),
      i.self ? mark('m-self', 'this instance') : null, i.leader ? mark('m-leader', '★ leader') : null,
      disagrees ? mark('m-disagrees', '≠ decision') : null),
    el('p', { class: 'route' }, el('span', { class: 'sr-only' }, 'routes to '), `→ ${i.routesTo || 'nowhere'}`),
    el('p', { class: 'sub' }, sub),
    el('ul', { class: 'verdicts', 'aria-label': `${i.instance}'s own verdicts` }, ...(i.backends || []).map(verdict)));
  }

  /** One backend in one instance's view: a shape, a colour, the name; the reason as its title. */
  function verdict(b) {
    const [word, shape] = VERDICT[b.healthy === true || b.healthy === false ? b.healthy : null];
    const detail = `${word}${b.reason ? `: ${b.reason}` : ''} (index ${b.index})`;
    return el('li', { class: 'verdict', 'data-backend': b.name, 'data-verdict': word, title: `${b.name} ${detail}` },
      el('i', { 'aria-hidden': 'true' }, shape), ` ${b.name}`, el('span', { class: 'sr-only' }, ` ${detail}`));
  }

  /** The toast's result of a PATCH: who acknowledged it (with coordination), else "done". */
  function applied(answer) {
    const who = answer && answer.acknowledged;
    if (!Array.isArray(who)) return 'done';
    return who.length ? `applied on ${who.join(', ')}` : 'stored, but no instance acknowledged it within 1 s';
  }

  return { render, applied };
})();
