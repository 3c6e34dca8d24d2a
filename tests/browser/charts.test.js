// The dashboard's "Last 15 minutes" charts (static/charts.js) in a real browser against the real
// binary: open sessions, bytes per second and probe latency each draw at least one point from real
// proxied traffic, later points arrive over the live stream (GET v0/history only once, on connect),
// and the page asks nothing of any other origin. Samples come every 5 s, so waits are up to 15 s.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { launchChromium } = require('./lib/browser');
const fx = require('./lib/fixtures');
const { openDashboard, waitFor, screenshot, externalRequests } = require('./lib/page');

const SAMPLE_WAIT = 15000;

/** Per chart: the points the page says it drew, its paths, and the legend's values. */
function charts(page) {
  return page.evaluate(() => Object.fromEntries(['chart-sessions', 'chart-bytes', 'chart-latency'].map((id) => {
    const fig = document.getElementById(id);
    return [id, {
      points: Number(fig.dataset.points),
      paths: [...fig.querySelectorAll('svg path.line')].map((p) => p.getAttribute('d')).filter(Boolean).length,
      legend: [...fig.querySelectorAll('.legend li')].map((li) => li.textContent),
      label: fig.querySelector('.plot').getAttribute('aria-label'),
    }];
  })));
}

describe('dashboard charts against the real binary', () => {
  let browser, backends, sb, page, apiUrl, proxyPort;

  before(async () => {
    backends = await Promise.all(['db-0', 'db-1'].map((n, i) => fx.startBackend(n, i)));
    proxyPort = await fx.freePort();
    const apiPort = await fx.freePort();
    apiUrl = `http://127.0.0.1:${apiPort}/`;
    const config = fx.writeConfig(fx.tempDir(), { proxyPort, apiPort, backends });
    sb = await fx.startSwitchboard(['run', '--config', config], apiUrl);
    browser = await launchChromium();
    page = await openDashboard(browser, apiUrl, { user: fx.USER, password: fx.PASSWORD });
  });

  after(async () => {
    if (browser) await browser.close();
    if (sb) await sb.stop();
    if (backends) await Promise.all(backends.map((b) => b.close()));
  });

  it('draws open sessions, bytes per second and probe latency with at least one point each', async () => {
    const session = await fx.openSession(proxyPort);
    await fx.until('the greeting through the proxy', 2000, () => session.data.includes('hello from db-0'));
    session.sock.write('x'.repeat(20000));
    await fx.until('the echo through the proxy', 2000, () => session.data.length > 20000);

    await waitFor(page, 'a sample showing the open session', () => {
      const li = [...document.querySelectorAll('#chart-sessions .legend li')].find((l) => l.textContent.startsWith('db-0'));
      return li && li.querySelector('b').textContent === '1';
    }, null, SAMPLE_WAIT);
    const drawn = await charts(page);
    for (const [id, c] of Object.entries(drawn)) {
      assert.ok(c.points >= 1, `${id} has a point: ${JSON.stringify(c)}`);
      assert.ok(c.paths >= 1, `${id} draws a path: ${JSON.stringify(c)}`);
      assert.match(c.label, /last 15 minutes, now: /, id);
    }
    assert.deepEqual(drawn['chart-sessions'].legend.map((l) => l.split(' ')[0]), ['db-0', 'db-1']);
    assert.match(drawn['chart-latency'].legend.join(), /db-0 [\d.]+ ms/, 'a latency per backend');

    // Bytes count when the session ends: the next sample (from the stream) shows them.
    session.sock.destroy();
    await waitFor(page, 'the ended session in bytes per second', () => {
      const up = document.querySelector('#chart-bytes .legend li');
      return up && !/ 0 B\/s$/.test(up.textContent) && !/–$/.test(up.textContent);
    }, null, SAMPLE_WAIT);
    await waitFor(page, 'no open session in the newest sample', () => [...document.querySelectorAll('#chart-sessions .legend b')]
      .every((b) => b.textContent === '0'), null, SAMPLE_WAIT);
    const later = await charts(page);
    assert.ok(later['chart-sessions'].points > drawn['chart-sessions'].points, 'new points were added');
    const loads = page.requests.filter((u) => u.includes('/v0/history'));
    assert.equal(loads.length, 1, `one GET v0/history (on connect), the rest over the stream: ${loads}`);
    await page.evaluate(() => document.querySelector('.charts').scrollIntoView());
    await screenshot(page, 'charts');
  });

  it('loaded nothing from outside its own origin and threw no errors', async () => {
    assert.deepEqual(externalRequests(page, apiUrl.slice(0, -1)), []);
    assert.deepEqual(page.errors.filter((e) => !/ERR_CONNECTION_REFUSED|Failed to load resource|EventSource/.test(e)), []);
  });
});
