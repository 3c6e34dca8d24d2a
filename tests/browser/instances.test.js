// The "Instances" panel of `[coordination] kind = "etcd"` (static/instances.js) against the mock
// API (mock-server.js, `coordination: true`): three instances with this one and the leader
// marked, a disagreeing instance highlighted, per-instance verdicts, the coordination events in the
// log, who acknowledged a PATCH, the lost-coordinator banner and its 503; and, with kind "none",
// no trace of any of it. The mock drives states (a lost etcd, a peer that disagrees) that a real
// three-instance etcd setup cannot be put into on demand from a browser test.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { launchChromium } = require('./lib/browser');
const { startMock } = require('./mock-server');
const { openDashboard, waitFor, text, screenshot, externalRequests, confirmWith } = require('./lib/page');

const CREDS = { user: 'admin', password: 'switchboard' };

/** The page's script errors; a failed request (the 404 of v0/demo, an expected 503) is not one. */
const scriptErrors = (page) => page.errors.filter((e) => !/Failed to load resource/.test(e));

/** Every instance card as the page shows it. */
function cards(page) {
  return page.$$eval('#instance-cards > li.instance', (lis) => lis.map((li) => ({
    name: li.dataset.instance, self: li.dataset.self, leader: li.dataset.leader, disagrees: li.dataset.disagrees,
    marks: [...li.querySelectorAll('.mark')].map((m) => m.textContent), route: li.querySelector('.route').textContent,
    sub: li.querySelector('.sub').textContent,
    verdicts: Object.fromEntries([...li.querySelectorAll('.verdict')].map((v) => [v.dataset.backend,
      { verdict: v.dataset.verdict, title: v.title }])),
  })));
}

/** The newest log entry of event type `type`: its tag, severity class and description. */
function logEntry(page, type) {
  return page.evaluate((t) => {
    const li = document.querySelector(`#event-log li.ev-${t}`);
    return li && { tag: li.querySelector('.tag').textContent, cls: li.className, desc: li.querySelector('.desc').textContent };
  }, type);
}

/** Waits for a toast whose text matches `re`; returns its text. */
async function toastMatching(page, what, re, selector = '.toast') {
  await waitFor(page, what, ([s, src]) => [...document.querySelectorAll(s)].some((t) => new RegExp(src).test(t.textContent)),
    [selector, re.source]);
  return page.$$eval(selector, (ts) => ts.map((t) => t.textContent).join(' | '));
}

describe('instances panel with [coordination] kind = "etcd" (mock API)', () => {
  let browser, mock, page;

  before(async () => {
    mock = await startMock({ demo: false, coordination: true });
    // proxy-2 cannot reach db-0 and still routes to db-1: it disagrees with the decision (db-0).
    mock.cluster.setPeer('proxy-2', { routesTo: 'db-1', backends: { 'db-0': { healthy: false, reason: 'timeout after 200ms' } } });
    browser = await launchChromium();
    page = await openDashboard(browser, mock.url, CREDS);
    await waitFor(page, 'db-0 active, live, and three instance cards', () => document.getElementById('hero').dataset.active === 'db-0'
      && document.getElementById('conn').dataset.state === 'live'
      && document.querySelectorAll('#instance-cards > li.instance').length === 3);
  });

  after(async () => {
    if (browser) await browser.close();
    if (mock) await mock.stop();
  });

  it('lists every instance, marks this one and the leader, and highlights the one that disagrees', async () => {
    assert.equal(await page.isVisible('#instances'), true);
    assert.equal(await page.isVisible('#coord-lost'), false, 'no lost banner while etcd answers');
    const [p0, p1, p2] = await cards(page);
    assert.deepEqual([p0.name, p1.name, p2.name], ['proxy-0', 'proxy-1', 'proxy-2']);
    assert.deepEqual([p0.self, p1.self, p2.self], ['true', 'false', 'false']);
    assert.deepEqual([p0.leader, p1.leader, p2.leader], ['false', 'true', 'false']);
    assert.ok(p0.marks.includes('this instance'), `marks of proxy-0: ${p0.marks}`);
    assert.ok(p1.marks.some((m) => /leader/.test(m)), `marks of proxy-1: ${p1.marks}`);
    assert.deepEqual([p0.disagrees, p1.disagrees, p2.disagrees], ['false', 'false', 'true']);
    assert.ok(p2.marks.includes('≠ decision'), `marks of proxy-2: ${p2.marks}`);
    assert.match(p0.route, /→ db-0$/);
    assert.match(p2.route, /→ db-1$/);
    assert.match(p2.sub, /the decision says db-0/);
    assert.match(p0.sub, /standby db-2 · epoch 1$/);
    // Each instance's own verdict per backend, the reason as the title.
    assert.equal(p0.verdicts['db-0'].verdict, 'healthy');
    assert.equal(p2.verdicts['db-0'].verdict, 'down');
    assert.match(p2.verdicts['db-0'].title, /timeout after 200ms/);
    assert.deepEqual(Object.keys(p2.verdicts), ['db-0', 'db-1', 'db-2']);
    // The disagreeing card looks different (border), not only by its text.
    const borders = await page.$$eval('#instance-cards > li.instance', (lis) => lis.map((l) => getComputedStyle(l).borderTopColor));
    assert.notEqual(borders[2], borders[1]);
    // The header line: role, leader, decision epoch and reason.
    assert.equal(await text(page, '#coord-role'), 'follower');
    assert.match(await text(page, '#coord-text'), /^proxy-0 · leader proxy-1 · decision epoch 1: db-0, standby db-2 \(db-0 is the healthy backend/);
    assert.deepEqual(externalRequests(page, mock.url.replace(/\/$/, '')), []);
    await screenshot(page, 'instances', { fullPage: true });
    const phone = await openDashboard(browser, mock.url, { ...CREDS, viewport: { width: 390, height: 844 } });
    await waitFor(phone, 'three cards on the phone', () => document.querySelectorAll('#instance-cards > li.instance').length === 3);
    await screenshot(phone, 'instances-phone', { fullPage: true });
    await phone.context().close();
  });

  it('logs the coordination events with their description, tag and severity', async () => {
    mock.cluster.coord.leader = 'proxy-2';
    mock.cluster.publish({ type: 'leader_changed', from: 'proxy-1', to: 'proxy-2' });
    await waitFor(page, 'proxy-2 shown as the leader', () =>
      document.querySelector('li.instance[data-instance="proxy-2"]').dataset.leader === 'true'
      && document.querySelector('li.instance[data-instance="proxy-1"]').dataset.leader === 'false');
    const leader = await logEntry(page, 'leader_changed');
    assert.deepEqual([leader.tag, leader.desc], ['leader', 'coordination leader proxy-1 -> proxy-2']);
    assert.match(leader.cls, /sev-info/);
    mock.cluster.publish({ type: 'local_disagreement', backend: 'db-0', reason: 'HTTP 503' });
    await waitFor(page, 'the disagreement in the log', () => document.querySelector('#event-log li.ev-local_disagreement'));
    const dis = await logEntry(page, 'local_disagreement');
    assert.equal(dis.tag, 'disagree');
    assert.match(dis.cls, /sev-warn/);
    assert.equal(dis.desc, "the shared decision routes to db-0, which this instance's probes call down: HTTP 503");
    mock.cluster.coord.leader = 'proxy-1';
    mock.cluster.publish({ type: 'leader_changed', from: 'proxy-2', to: 'proxy-1' });
    await waitFor(page, 'proxy-1 the leader again', () =>
      document.querySelector('li.instance[data-instance="proxy-1"]').dataset.leader === 'true');
  });

  it('names the instances that acknowledged a PATCH', async () => {
    await confirmWith(page, '#btn-routing', 'etcd maintenance window');
    const toasts = await toastMatching(page, 'the acknowledged toast', /Routing off: applied on proxy-0, proxy-1, proxy-2/);
    assert.doesNotMatch(toasts, /: done/);
    await waitFor(page, 'routing off shown', () => document.getElementById('hero').dataset.status === 'off');
    await page.click('#btn-routing');
    await toastMatching(page, 'the second acknowledged toast', /Routing on: applied on proxy-0, proxy-1, proxy-2/);
    await waitFor(page, 'routing on again', () => document.getElementById('hero').dataset.status === 'on');
  });

  it('shows a lost coordinator as a banner, the 503 of a PATCH meanwhile, and the rejoin', async () => {
    mock.cluster.loseCoordinator('hold');
    await waitFor(page, 'the lost banner', () => !document.getElementById('coord-lost').hidden);
    assert.match(await text(page, '#coord-lost-text'), /^etcd unreachable since \d\d:\d\d:\d\d: holding db-0\.$/);
    assert.equal(await text(page, '#coord-role'), 'lost');
    assert.match(await text(page, '#coord-text'), /leader none/);
    const lost = await logEntry(page, 'coordinator_lost');
    assert.equal(lost.tag, 'etcd');
    assert.match(lost.cls, /sev-bad/);
    assert.match(lost.desc, /^coordinator lost: etcd unreachable/);
    await screenshot(page, 'instances-lost');
    // A PATCH now: the server's 503 text, as it said it.
    await page.click('#btn-monitoring');
    await page.waitForSelector('dialog#confirm[open]');
    await page.click('#confirm-ok');
    await toastMatching(page, 'the 503 toast',
      /Monitoring paused failed: 503 etcd is unreachable .*operator changes apply to every instance and need the coordinator/, '.toast.error');
    mock.cluster.loseCoordinator('refuse');
    await waitFor(page, 'the refuse banner', () => /routing refused/.test(document.getElementById('coord-lost-text').textContent));
    mock.cluster.rejoinCoordinator();
    await waitFor(page, 'the banner gone after the rejoin', () => document.getElementById('coord-lost').hidden
      && document.querySelector('#event-log li.ev-coordinator_rejoined.sev-good'));
    assert.equal(await text(page, '#coord-role'), 'follower');
    assert.deepEqual(scriptErrors(page), []);
  });
});

describe('no instances panel with [coordination] kind = "none" (mock API)', () => {
  let browser, mock, page;

  before(async () => {
    mock = await startMock({ demo: false });
    browser = await launchChromium();
    page = await openDashboard(browser, mock.url, CREDS);
    await waitFor(page, 'db-0 active, live', () => document.getElementById('hero').dataset.active === 'db-0'
      && document.getElementById('conn').dataset.state === 'live');
  });

  after(async () => {
    if (browser) await browser.close();
    if (mock) await mock.stop();
  });

  it('shows neither the panel nor the banner, and PATCH toasts say "done"', async () => {
    const st = await page.evaluate(() => fetch('v0/state').then((r) => r.json()));
    assert.deepEqual(st.coordination, { kind: 'none' });
    assert.equal(await page.isVisible('#instances'), false);
    assert.equal(await page.isVisible('#coord-lost'), false);
    assert.equal(await page.$$eval('#instance-cards > li', (l) => l.length), 0);
    assert.equal(await page.evaluate(() => document.getElementById('instances').getBoundingClientRect().height), 0);
    await page.click('#btn-monitoring');
    await page.waitForSelector('dialog#confirm[open]');
    await page.click('#confirm-ok');
    await toastMatching(page, 'the plain toast', /Monitoring paused: done/);
    assert.deepEqual(scriptErrors(page), []);
  });
});
