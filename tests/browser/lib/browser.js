// Launches Debian's chromium through playwright-core (Playwright's own browser
// download cannot work here): the binary is `command -v chromium`, or
// $CHROMIUM_PATH when set.
'use strict';

const { execFileSync } = require('node:child_process');
const { chromium } = require('playwright-core');

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-quic', '--no-first-run', '--disable-component-update', '--disable-sync'];

function chromiumPath() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  try {
    return execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium not found: apt-get install -y chromium (scripts/browser-tests does this)');
  }
}

/** A headless Chromium; close it with `browser.close()`. */
function launchChromium() {
  return chromium.launch({ executablePath: chromiumPath(), args: ARGS, headless: true });
}

module.exports = { launchChromium, chromiumPath };
