// `switchboard demo` in a real browser: a new user breaks and heals demo
// backends from the page alone and watches the failover.
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { launchChromium } = require('./lib/browser');
const fx = require('./lib/fixtures');
const { openDashboard, waitFor, row, screenshot } = require('./lib/page');

describe('dashboard in `switchboard demo`', () => {
  let browser, sb, page, proxyPort, apiBase;

  before(async () => {
    const [p, standby, api] = await Promise.all([fx.freePort(), fx.freePort(), fx.freePort()]);
    proxyPort = p;
    const apiUrl = `http://127.0.0.1:${api}/`;
    apiBase = apiUrl;
    sb = await fx.startSwitchboard(['demo', '--backends', '3', '--listen', `127.0.0.1:${p}`,
      '--standby-listen', `127.0.0.1:${standby}`, '--api-listen', `127.0.0.1:${api}`], apiUrl, ['admin', 'switchboard']);
    browser = await launchChromium();
    page = await openDashboard(browser, apiUrl, { user: 'admin', password: 'switchboard' });
  });

  after(async () => {
    if (browser) await browser.close();
    if (sb) await sb.stop();
  });

  it('offers demo health controls and shows the demo backends', async () => {
    await waitFor(page, 'demo-0 active and the demo controls', () => document.getElementById('hero').dataset.active === 'demo-0'
      && !document.querySelector('th.demo-col').hidden);
    const pressed = await page.getAttribute('button[aria-label="Demo: make demo-0 healthy"]', 'aria-pressed');
    assert.equal(pressed, 'true');
  });

  it('breaks the active demo backend from the page and shows the failover; heals it again', async () => {
    const session = await fx.openSession(proxyPort);
    await fx.until('the greeting of demo-0', 2000, () => session.data.includes('hello from demo-0'));
    await page.click('button[aria-label="Demo: make demo-0 503"]');
    await waitFor(page, 'demo-1 active and the failover event', () => document.getElementById('hero').dataset.active === 'demo-1'
      && [...document.querySelectorAll('#event-log .ev-active_changed')].some((e) => e.textContent.includes('demo-0 -> demo-1')),
    null, 2000);
    await fx.until('the old session severed', 2000, () => session.ended);
    const r = await row(page, 'demo-0');
    assert.equal(r.role, 'down');
    assert.match(r.reason, /503/);
    assert.equal(await page.getAttribute('button[aria-label="Demo: make demo-0 503"]', 'aria-pressed'), 'true');
    await screenshot(page, 'demo-failover', { docs: 'dashboard-desktop.png' });

    await page.click('button[aria-label="Demo: make demo-0 healthy"]');
    await waitFor(page, 'demo-0 active again', () => document.getElementById('hero').dataset.active === 'demo-0', null, 3000);
  });

  it('follows a health mode switched with curl on the backend itself, not from the page', async () => {
    const auth = `Basic ${Buffer.from('admin:switchboard').toString('base64')}`;
    const demo = await (await fetch(`${apiBase}v0/demo`, { headers: { Authorization: auth } })).json();
    const d2 = demo.backends.find((b) => b.name === 'demo-2');
    const base = d2.healthUrl.replace(/\/api\/v1\/status$/, '');
    const pressed = (mode) => `button[aria-label="Demo: make demo-2 ${mode}"][aria-pressed="true"]`;
    assert.equal((await fetch(`${base}/mode/unhealthy`, { method: 'POST' })).status, 200);
    await page.waitForSelector(pressed('unhealthy'), { timeout: 3000 });
    assert.equal((await fetch(`${base}/mode/healthy`, { method: 'POST' })).status, 200);
    await page.waitForSelector(pressed('healthy'), { timeout: 3000 });
  });
});
