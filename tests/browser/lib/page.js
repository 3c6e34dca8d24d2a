// Page helpers for the dashboard tests: a page that records every request
// (to prove the dashboard needs no external network) and page errors, waits
// with deadlines that explain what they waited for, and screenshots.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { REPO } = require('./fixtures');

const SHOTS = path.join(REPO, 'artifacts', 'screenshots');
const DOCS = path.join(REPO, 'docs');

/** A new context and page on the dashboard at `url`, signed in. */
async function openDashboard(browser, url, { user, password, viewport = { width: 1440, height: 900 },
  colorScheme = 'dark' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, httpCredentials: { username: user, password } });
  const page = await context.newPage();
  page.requests = [];
  page.errors = [];
  page.lastRequestAt = Date.now();
  page.on('request', (r) => { page.requests.push(r.url()); page.lastRequestAt = Date.now(); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(`console: ${m.text()}`); });
  page.on('dialog', (d) => d.dismiss()); // no native alert/confirm is ever expected
  await page.goto(url);
  return page;
}

/** Waits until `fn(arg)` is truthy in the page; the error names `what` and shows the page. */
async function waitFor(page, what, fn, arg, timeout = 5000) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, polling: 'raf' });
  } catch (e) {
    const text = await page.evaluate(() => document.body.innerText).catch(() => '(page gone)');
    throw new Error(`timed out after ${timeout} ms waiting for ${what}\n--- page text ---\n${text.slice(0, 3000)}`);
  }
}

/** Text of the first element matching `selector` ('' when none). */
function text(page, selector) {
  return page.evaluate((s) => (document.querySelector(s) || {}).textContent || '', selector);
}

/** The row of one backend: role, health, admin state, as the page shows them. */
function row(page, name) {
  return page.evaluate((n) => {
    const tr = document.querySelector(`tr[data-backend="${n}"]`);
    if (!tr) return null;
    const t = (s) => tr.querySelector(s).textContent.trim();
    return { role: tr.dataset.role, health: t('.health'), reason: t('.reason'), admin: t('.admin'),
      sessions: t('.count'), index: t('.c-index') };
  }, name);
}

/**
 * Saves a screenshot to artifacts/screenshots/NAME.png. With UPDATE_DOCS=1 it
 * also refreshes docs/DOCS when `docs` names a file (the README's pictures),
 * so an ordinary test run leaves the work tree clean.
 */
async function screenshot(page, name, { fullPage = false, docs = null } = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage });
  if (docs && process.env.UPDATE_DOCS === '1') {
    fs.mkdirSync(DOCS, { recursive: true });
    fs.copyFileSync(file, path.join(DOCS, docs));
  }
  return file;
}

/** Every request the page made went to its own origin. */
function externalRequests(page, origin) {
  return page.requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'));
}

/** Clicks `button`, then answers the confirmation dialog (with `message`, if given). */
async function confirmWith(page, button, message) {
  await page.click(button);
  await page.waitForSelector('dialog#confirm[open]');
  if (message !== undefined) await page.fill('#confirm-msg', message);
  await page.click('#confirm-ok');
  await page.waitForSelector('dialog#confirm:not([open])', { state: 'attached' });
}

module.exports = { openDashboard, waitFor, text, row, screenshot, externalRequests, confirmWith, SHOTS };
