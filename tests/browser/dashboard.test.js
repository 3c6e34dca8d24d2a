// The dashboard in a real browser (Debian's chromium via playwright-core)
// against the real switchboard binary routing to real loopback backends that
// this test runs itself. Every wait has a deadline; nothing sleeps blindly.
//
//   scripts/browser-tests          # builds the binary, installs what it needs, runs these
'use strict';

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { launchChromium } = require('./lib/browser');
const fx = require('./lib/fixtures');
const { openDashboard, waitFor, text, row, screenshot, externalRequests, confirmWith } = require('./lib/page');

describe('dashboard against the real binary', () => {
  let browser, backends, dir, config, sb, page, apiUrl, proxyPort;

  before(async () => {
    backends = await Promise.all(['db-0', 'db-1', 'db-2'].map((n, i) => fx.startBackend(n, i)));
    proxyPort = await fx.freePort();
    const apiPort = await fx.freePort();
    apiUrl = `http://127.0.0.1:${apiPort}/`;
    dir = fx.tempDir();
    config = fx.writeConfig(dir, { proxyPort, apiPort, backends });
    sb = await fx.startSwitchboard(['run', '--config', config], apiUrl);
    browser = await launchChromium();
    page = await openDashboard(browser, apiUrl, { user: fx.USER, password: fx.PASSWORD });
  });

  after(async () => {
    if (browser) await browser.close();
    if (sb) await sb.stop();
    if (backends) await Promise.all(backends.map((b) => b.close()));
  });

  it('shows the elected active backend, live, with a row per backend', async () => {
    await waitFor(page, 'the hero to show db-0 as the active', () => {
      const h = document.getElementById('hero');
      return h.dataset.status === 'on' && h.dataset.active === 'db-0';
    });
    assert.equal(await text(page, '#flow-target'), '→ db-0');
    await waitFor(page, 'the live indicator', () => document.getElementById('conn').dataset.state === 'live');
    for (const [i, b] of backends.entries()) {
      const r = await row(page, b.name);
      assert.ok(r, `a row for ${b.name}`);
      assert.equal(r.index, String(i));
      assert.match(r.health, /healthy/);
      assert.equal(r.admin, 'enabled');
    }
    assert.equal((await row(page, 'db-0')).role, 'active');
    assert.match(await text(page, '.addr'), new RegExp(`127\\.0\\.0\\.1:${backends[0].port}`));
    assert.match(await text(page, '#f-routing'), /on/);
    assert.match(await text(page, '#f-monitoring'), /on/);
    assert.equal(await page.isVisible('.demo-col'), false, 'no demo controls outside `switchboard demo`');
  });

  it('shows a failover within 2 s of the active failing its health check, without a reload', async () => {
    const loads = [];
    page.on('load', () => loads.push(Date.now()));
    const t0 = Date.now();
    backends[0].setMode('503');
    await waitFor(page, 'the new active db-1 and the failover event', () => {
      const h = document.getElementById('hero');
      const ev = [...document.querySelectorAll('#event-log .ev-active_changed .desc')]
        .some((d) => d.textContent.includes('db-0 -> db-1'));
      return h.dataset.active === 'db-1' && ev;
    }, null, 2000);
    const took = Date.now() - t0;
    assert.deepEqual(loads, [], 'the page did not reload');
    const r = await row(page, 'db-0');
    assert.equal(r.role, 'down');
    assert.match(r.health, /unhealthy/);
    assert.match(r.reason, /503/);
    assert.match(await text(page, '#flow-why'), /db-0/);
    console.log(`# failover shown by the page ${took} ms after db-0 started answering 503`);
  });

  it('saves screenshots at phone, desktop and wall widths, dark and light', async () => {
    const s1 = await fx.openSession(proxyPort); // a live session, so the counts are not all zero
    const s2 = await fx.openSession(proxyPort);
    await waitFor(page, 'two open sessions on the page', () => document.getElementById('f-sessions').textContent === '2');
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'desktop');
    await screenshot(page, 'desktop-full', { fullPage: true });
    const views = [['phone', { width: 390, height: 844 }, 'dark', 'dashboard-phone.png'],
      ['desktop-light', { width: 1440, height: 900 }, 'light'],
      ['phone-light', { width: 390, height: 844 }, 'light'], ['wall', { width: 2560, height: 1440 }, 'dark']];
    for (const [name, viewport, colorScheme, docs] of views) {
      const p = await openDashboard(browser, apiUrl, { user: fx.USER, password: fx.PASSWORD, viewport, colorScheme });
      await waitFor(p, 'the failed-over state', () => document.getElementById('hero').dataset.active === 'db-1'
        && document.querySelector('#event-log .ev-active_changed'));
      await screenshot(p, name, { docs });
      if (name === 'phone') await screenshot(p, 'phone-full', { fullPage: true });
      await p.context().close();
    }
    s1.sock.destroy();
    s2.sock.destroy();
  });

  it('fails back to db-0 once it is healthy again', async () => {
    backends[0].setMode('healthy');
    await waitFor(page, 'db-0 active again', () => document.getElementById('hero').dataset.active === 'db-0', null, 3000);
    assert.match((await row(page, 'db-0')).health, /✓ healthy/);
  });

  it('routing off (with a message) severs a live proxied session and shows the message; on restores', async () => {
    const session = await fx.openSession(proxyPort);
    await fx.until('the greeting through the proxy', 2000, () => session.data.includes('hello from db-0'));
    session.sock.write('ping\n');
    await fx.until('the echo through the proxy', 2000, () => session.data.includes('ping'));

    // An empty message is refused by the dialog itself.
    await page.click('#btn-routing');
    await page.waitForSelector('dialog#confirm[open]');
    await page.click('#confirm-ok');
    assert.ok(await page.isVisible('dialog#confirm[open]'), 'the dialog stays open without a message');
    await page.fill('#confirm-msg', 'maintenance: browser test');
    await page.click('#confirm-ok');

    await fx.until('the proxied session to be severed', 2000, () => session.ended);
    await waitFor(page, 'routing off with its message', () => {
      const h = document.getElementById('hero');
      return h.dataset.status === 'off'
        && document.getElementById('flow-detail').textContent.includes('maintenance: browser test');
    }, null, 2000);
    assert.equal(await text(page, '#flow-target'), 'OFF');
    await waitFor(page, 'a visible result', () => [...document.querySelectorAll('.toast')]
      .some((t) => /Routing off: done/.test(t.textContent)));
    await waitFor(page, 'the routing event in the log', () => [...document.querySelectorAll('#event-log .ev-routing_changed')]
      .some((e) => e.textContent.includes('maintenance: browser test')));
    await waitFor(page, 'the severed session counted', () => document.getElementById('f-sessions').textContent === '0'
      && document.querySelector('tr[data-backend="db-0"] .count').textContent === '0', null, 2000);
    await screenshot(page, 'routing-off');

    await page.click('#btn-routing'); // turning routing on needs no confirmation
    await waitFor(page, 'routing on again', () => document.getElementById('hero').dataset.status === 'on', null, 2000);
    const again = await fx.openSession(proxyPort);
    await fx.until('a new session to reach db-0', 2000, () => again.data.includes('hello from db-0'));
    again.sock.destroy();
  });

  it('drain, disable and enable change the backend row', async () => {
    const label = (action) => `button[aria-label="${action} db-2"]`;
    await confirmWith(page, label('Drain'), 'drain test');
    await waitFor(page, 'db-2 drained', () => {
      const tr = document.querySelector('tr[data-backend="db-2"]');
      return tr.dataset.role === 'drained' && tr.querySelector('.admin').textContent === 'drain';
    }, null, 2000);
    assert.match(await text(page, 'tr[data-backend="db-2"] .admin-msg'), /drain test/);

    await confirmWith(page, label('Disable'));
    await waitFor(page, 'db-2 disabled', () => {
      const tr = document.querySelector('tr[data-backend="db-2"]');
      return tr.dataset.role === 'disabled' && tr.querySelector('.admin').textContent === 'disabled';
    }, null, 2000);

    await page.click(label('Enable'));
    await waitFor(page, 'db-2 enabled again', () => {
      const tr = document.querySelector('tr[data-backend="db-2"]');
      return tr.querySelector('.admin').textContent === 'enabled' && ['ready', 'standby'].includes(tr.dataset.role);
    }, null, 2000);
  });

  it('disabling the active backend (after a confirmation) moves traffic', async () => {
    await page.click('button[aria-label="Disable db-0"]');
    await page.waitForSelector('dialog#confirm[open]');
    assert.match(await text(page, '#confirm-text'), /ACTIVE/);
    await page.click('#confirm-cancel'); // cancelling changes nothing
    assert.equal((await row(page, 'db-0')).admin, 'enabled');

    await confirmWith(page, 'button[aria-label="Disable db-0"]', 'planned work');
    await waitFor(page, 'db-1 active, db-0 disabled', () => document.getElementById('hero').dataset.active === 'db-1'
      && document.querySelector('tr[data-backend="db-0"]').dataset.role === 'disabled', null, 2000);
    await page.click('button[aria-label="Enable db-0"]');
    await waitFor(page, 'db-0 active again', () => document.getElementById('hero').dataset.active === 'db-0', null, 2000);
  });

  it('shows the API error when an action fails', async () => {
    await page.route('**/v0/backends/db-1', (route) => route.fulfill({ status: 400, contentType: 'application/json',
      body: JSON.stringify({ error: 'state must be enabled, drain or disabled', field: 'state' }) }));
    await confirmWith(page, 'button[aria-label="Drain db-1"]');
    await waitFor(page, 'the error toast', () => [...document.querySelectorAll('.toast.error')]
      .some((t) => t.textContent.includes('400 state must be enabled, drain or disabled (field: state)')));
    await page.unroute('**/v0/backends/db-1');
    assert.equal((await row(page, 'db-1')).admin, 'enabled');
  });

  it('does not poll when nothing happens', async () => {
    await waitFor(page, 'a live page', () => document.getElementById('conn').dataset.state === 'live');
    await fx.until('the page to settle (no request for 500 ms)', 5000, () => Date.now() - page.lastRequestAt > 500);
    const start = page.requests.length;
    await new Promise((r) => setTimeout(r, 1500)); // a measurement window, not a wait for something
    const during = page.requests.slice(start).filter((u) => !u.includes('/v0/events/stream'));
    assert.deepEqual(during, [], 'no requests while the cluster is idle');
  });

  it('pauses and resumes monitoring', async () => {
    await confirmWith(page, '#btn-monitoring');
    await waitFor(page, 'monitoring paused', () => document.getElementById('f-monitoring').textContent === 'paused', null, 2000);
    await page.click('#btn-monitoring');
    await waitFor(page, 'monitoring on', () => document.getElementById('f-monitoring').textContent === 'on', null, 2000);
  });

  it('survives a server restart by reconnecting, and says so meanwhile', async () => {
    const before = await page.evaluate(() => window.document.getElementById('f-uptime').textContent);
    await sb.stop();
    await waitFor(page, 'the reconnecting indicator', () => document.getElementById('conn').dataset.state === 'reconnecting'
      && !document.getElementById('conn-banner').hidden, null, 5000);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'reconnecting');
    sb = await fx.startSwitchboard(['run', '--config', config], apiUrl);
    await waitFor(page, 'the live indicator again', () => document.getElementById('conn').dataset.state === 'live'
      && document.getElementById('conn-banner').hidden, null, 10000);
    await waitFor(page, 'the restart noted and the active shown', () => document.getElementById('hero').dataset.active === 'db-0'
      && /Server restarted/.test(document.getElementById('event-log').textContent), null, 5000);
    assert.ok(before, 'had an uptime before');
    // Live again: a change after the restart still reaches the page.
    backends[0].setMode('hang');
    await waitFor(page, 'a failover after the restart', () => document.getElementById('hero').dataset.active === 'db-1', null, 3000);
    assert.match((await row(page, 'db-0')).reason, /timeout|timed out/i);
    backends[0].setMode('healthy');
    await waitFor(page, 'failback after the restart', () => document.getElementById('hero').dataset.active === 'db-0', null, 3000);
  });

  it('loaded nothing from outside its own origin and threw no errors', async () => {
    assert.deepEqual(externalRequests(page, apiUrl.slice(0, -1)), []);
    assert.deepEqual(page.errors.filter((e) => !/ERR_CONNECTION_REFUSED|Failed to load resource|EventSource/.test(e)), []);
  });

  it('is operable with labels: every control has an accessible name', async () => {
    const unnamed = await page.evaluate(() => [...document.querySelectorAll('button, input, select')]
      .filter((n) => !(n.getAttribute('aria-label') || n.textContent.trim() || (n.labels && n.labels.length)))
      .map((n) => n.outerHTML));
    assert.deepEqual(unnamed, []);
    // Keyboard: the routing control is reachable and opens its dialog with Enter; Escape cancels.
    await page.focus('#btn-routing');
    await page.keyboard.press('Enter');
    await page.waitForSelector('dialog#confirm[open]');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'confirm-msg');
    await page.keyboard.press('Escape');
    await page.waitForSelector('dialog#confirm:not([open])', { state: 'attached' });
    assert.equal(await page.evaluate(() => document.getElementById('hero').dataset.status), 'on');
  });
});
