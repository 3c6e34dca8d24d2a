// The page's own logic against the mock API (mock-server.js): quick checks
// that need exact control over the event stream (bursts, restarts), which
// the real binary cannot be driven into on demand.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { launchChromium } = require('./lib/browser');
const { startMock } = require('./mock-server');
const { openDashboard, waitFor } = require('./lib/page');
const { until } = require('./lib/fixtures');

describe('dashboard logic against the mock API', () => {
  let browser, mock, page;

  before(async () => {
    mock = await startMock({ demo: false });
    browser = await launchChromium();
    page = await openDashboard(browser, mock.url, { user: 'admin', password: 'switchboard' });
    await waitFor(page, 'the first snapshot, live', () => document.getElementById('hero').dataset.active === 'db-0'
      && document.getElementById('conn').dataset.state === 'live');
    await until('the page to settle (no request for 300 ms)', 5000, () => Date.now() - page.lastRequestAt > 300);
  });

  after(async () => {
    if (browser) await browser.close();
    if (mock) await mock.stop();
  });

  it('applies a burst of events at once but fetches the snapshot at most every 250 ms', async () => {
    const states = () => page.requests.filter((u) => u.includes('/v0/state')).length;
    const before = states();
    const t0 = Date.now();
    for (let i = 0; i < 40; i++) mock.cluster.openSessions(1); // 40 events in one tick
    await waitFor(page, 'the 40 sessions', () => document.getElementById('f-sessions').textContent === '40');
    await until('the trailing snapshot', 2000, () => states() > before);
    const fetched = states() - before;
    const allowed = 2 + Math.ceil((Date.now() - t0) / 250);
    assert.ok(fetched >= 1 && fetched <= allowed, `${fetched} snapshot fetches for 40 events (allowed ${allowed})`);
  });

  it('hides session-count events unless asked, and keeps the log newest first', async () => {
    assert.equal(await page.isVisible('#event-log li[data-kind="noisy"]'), false);
    await page.check('#show-sessions');
    assert.equal(await page.isVisible('#event-log li[data-kind="noisy"]'), true);
    const indices = await page.$$eval('#event-log li[data-index]', (lis) => lis.map((l) => Number(l.dataset.index)));
    assert.deepEqual(indices, [...indices].sort((a, b) => b - a));
    await page.uncheck('#show-sessions');
  });

  it('shows "no active backend" when every backend is down', async () => {
    for (const b of mock.cluster.backends) b.mode = '503';
    await waitFor(page, 'no active', () => document.getElementById('hero').dataset.status === 'none', null, 2000);
    for (const b of mock.cluster.backends) b.mode = 'healthy';
    await waitFor(page, 'db-0 active again', () => document.getElementById('hero').dataset.active === 'db-0', null, 2000);
  });

  it('starts a new event epoch after a restart and shows the restart', async () => {
    await mock.restart();
    await waitFor(page, 'the restart noted', () => document.getElementById('conn').dataset.state === 'live'
      && /Server restarted/.test(document.getElementById('event-log').textContent), null, 10000);
    // Events of the new process (indices from 1 again) are not mistaken for ones already seen.
    mock.cluster.backends[0].mode = '503';
    await waitFor(page, 'a failover in the new epoch', () => document.getElementById('hero').dataset.active === 'db-1', null, 2000);
    await waitFor(page, 'the failover counted by the next snapshot',
      () => document.getElementById('f-failovers').textContent === '1', null, 2000);
  });
});
