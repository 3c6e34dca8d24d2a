// switchboard dashboard: the "Last 15 minutes" charts (open sessions, bytes per second, probe
// latency per backend), drawn as inline SVG. No library, no request but the page's own API.
//
// Data flow: GET v0/history fills the charts when the live stream (re)connects (app.js calls
// Charts.load); after that the stream's `history` frames (one per sample, every periodMs) each add
// one point (Charts.sample). Nothing here polls. A gap in `seq` refetches the whole history.
'use strict';

const Charts = (() => {
  const SVG = 'http://www.w3.org/2000/svg';
  const W = 300; // viewBox width; the SVG stretches to its box (strokes do not scale)
  const H = 100;
  const WINDOW_MS = 15 * 60 * 1000;
  const h = { periodMs: 5000, capacity: 180, samples: [] };
  let loading = null;

  // ---- Formatting -------------------------------------------------------------------------------

  const fmtCount = (v) => String(Math.round(v));
  function fmtBytes(v) {
    const units = ['B/s', 'kB/s', 'MB/s', 'GB/s', 'TB/s'];
    let i = 0;
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
    return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
  }
  const fmtMs = (v) => `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;

  /** The smallest of 1, 2, 5 × 10^n that is at least `v` (and at least `floor`). */
  function niceMax(v, floor) {
    const x = Math.max(v, floor);
    const p = 10 ** Math.floor(Math.log10(x));
    return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= x);
  }

  // ---- The three charts: which series each one draws from the samples ---------------------------

  /** Backend names: the newest sample's, in its order, then any only older samples had. */
  function backendNames(samples) {
    const names = samples[samples.length - 1].backends.map((b) => b.name);
    for (const s of samples) for (const b of s.backends) if (!names.includes(b.name)) names.push(b.name);
    return names;
  }

  const perBackend = (samples, field) => backendNames(samples).map((name) => ({
    name,
    points: samples.map((s) => {
      const b = s.backends.find((x) => x.name === name);
      return [Date.parse(s.at), b && typeof b[field] === 'number' ? b[field] : null];
    }),
  }));

  const CHARTS = [
    { id: 'chart-sessions', floor: 1, fmt: fmtCount, series: (s) => perBackend(s, 'sessions') },
    { id: 'chart-bytes', floor: 1000, fmt: fmtBytes, series: (s) => [
      { name: 'up (client → backend)', points: s.map((x) => [Date.parse(x.at), x.bytesUpPerSec]) },
      { name: 'down (backend → client)', points: s.map((x) => [Date.parse(x.at), x.bytesDownPerSec]) }] },
    { id: 'chart-latency', floor: 1, fmt: fmtMs, series: (s) => perBackend(s, 'probeLatencyMs') },
  ];

  // ---- Drawing ------------------------------------------------------------------------------------

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  /** One series as a path: lines between known points, a gap at each null, a dot on the newest. */
  function seriesPath(points, x, y) {
    let d = '';
    let pen = false;
    let last = null;
    for (const [t, v] of points) {
      if (v === null) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)} ${y(v).toFixed(1)} `;
      pen = true;
      last = [t, v];
    }
    if (last) d += `M${x(last[0]).toFixed(1)} ${y(last[1]).toFixed(1)} l0 0`; // round cap: a dot
    return d.trim();
  }

  function draw(chart) {
    const fig = document.getElementById(chart.id);
    if (!fig) return;
    const samples = h.samples;
    const series = samples.length ? chart.series(samples) : [];
    const known = series.flatMap((s) => s.points.filter((p) => p[1] !== null));
    const end = samples.length ? Date.parse(samples[samples.length - 1].at) : Date.now();
    const top = niceMax(Math.max(0, ...known.map((p) => p[1])), chart.floor);
    const x = (t) => ((t - (end - WINDOW_MS)) / WINDOW_MS) * W;
    const y = (v) => H - 2 - (v / top) * (H - 4);
    const svg = svgEl('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' });
    for (const f of [0.5, 1]) svg.append(svgEl('line', { class: 'grid', x1: 0, x2: W, y1: y(top * f), y2: y(top * f) }));
    series.forEach((s, i) => {
      const d = seriesPath(s.points, x, y);
      const n = s.points.filter((p) => p[1] !== null).length;
      if (d) svg.append(svgEl('path', { d, class: `line s${i % 6}`, 'data-series': s.name, 'data-points': n }));
    });
    fig.querySelector('.plot').replaceChildren(svg);
    fig.dataset.points = known.length;
    fig.querySelector('.top').textContent = chart.fmt(top);
    const latest = (s) => [...s.points].reverse().find((p) => p[1] !== null);
    const items = series.map((s, i) => {
      const li = document.createElement('li');
      li.className = `s${i % 6}`;
      const v = latest(s);
      li.append(document.createElement('i'), `${s.name} `, Object.assign(document.createElement('b'),
        { textContent: v ? chart.fmt(v[1]) : '–' }));
      return li;
    });
    fig.querySelector('.legend').replaceChildren(...items);
    const title = fig.dataset.title;
    fig.querySelector('.plot').setAttribute('aria-label', known.length
      ? `${title}, last 15 minutes, now: ${series.map((s) => `${s.name} ${latest(s) ? chart.fmt(latest(s)[1]) : 'no data'}`).join(', ')}`
      : `${title}: no samples yet`);
  }

  function render() {
    CHARTS.forEach(draw);
    const hint = document.getElementById('charts-hint');
    if (hint) {
      hint.textContent = h.samples.length ? `one point every ${Math.round(h.periodMs / 1000)} s`
        : `collecting: the first point comes ${Math.round(h.periodMs / 1000)} s after the start`;
    }
  }

  // ---- Data: the whole history, then one sample at a time ---------------------------------------------

  /** Replaces the history with GET v0/history (on every (re)connect of the live stream). */
  function load() {
    if (loading) return loading;
    loading = fetch('v0/history', { headers: { Accept: 'application/json' }, credentials: 'same-origin' })
      .then((res) => (res.ok ? res.json() : null))
      .then((data) => {
        if (data && Array.isArray(data.samples)) {
          Object.assign(h, { periodMs: data.periodMs || h.periodMs, capacity: data.capacity || h.capacity,
            samples: data.samples });
        }
      })
      .catch(() => { /* no history (an older server): the charts stay empty */ })
      .finally(() => { loading = null; render(); });
    return loading;
  }

  /** One `history` frame of the live stream: the newest sample. */
  function sample(data) {
    let s;
    try { s = JSON.parse(data); } catch { return; }
    const last = h.samples.length ? h.samples[h.samples.length - 1].seq : 0;
    if (loading || typeof s.seq !== 'number' || s.seq <= last) return; // a load is in flight, or seen
    if (last && s.seq !== last + 1) { load(); return; } // missed some: take them all again
    h.samples.push(s);
    if (h.samples.length > h.capacity) h.samples.splice(0, h.samples.length - h.capacity);
    render();
  }

  return { load, sample, render };
})();
