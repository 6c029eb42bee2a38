// Browser tests of the admin UI: playwright-core (admin-ui/package-lock.json)
// driving Debian's chromium (installed by scripts/tools.sh), headless, with
// every background service off and a fresh profile, against the built worker
// and admin-ui/dist in Miniflare (startEdge serves both, as wrangler.toml's [assets]).
import { createRequire } from 'node:module';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './edge.mjs';

const require = createRequire(join(REPO, 'admin-ui', 'package.json'));
const { chromium } = require('playwright-core');

export const CHROMIUM = process.env.UPDRAFT_CHROMIUM ?? '/usr/bin/chromium';
export const SHOTS = join(REPO, 'tests', 'output', 'ui');
export const LAPTOP = { width: 1366, height: 900 };
export const PHONE = { width: 390, height: 844 };

/**
 * Launches chromium: headless, no network beyond what the pages ask for, and a
 * fresh profile (playwright gives each launch its own temporary --user-data-dir).
 */
export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run 'make tools' (scripts/tools.sh installs Debian's chromium)`);
  if (!existsSync(join(REPO, 'admin-ui', 'dist', 'index.html'))) throw new Error("admin-ui/dist is missing: run 'make build'");
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-default-apps',
      '--disable-extensions',
      '--disable-domain-reliability',
      '--metrics-recording-only',
      '--no-default-browser-check',
    ],
  });
  mkdirSync(SHOTS, { recursive: true });
  return browser;
}

/**
 * A page in a fresh context (its own sessionStorage), optionally signed in.
 * Records every request the page makes to another origin in `page.foreign`
 * (the UI must make none) and console errors in `page.errors`.
 */
export async function openPage(browser, edgeUrl, { token, viewport = LAPTOP, timezoneId = 'America/Chicago' } = {}) {
  const context = await browser.newContext({ viewport, timezoneId, locale: 'en-US', acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.foreign = [];
  page.errors = [];
  const origin = new URL(edgeUrl).origin;
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) page.foreign.push(u);
  });
  page.on('console', (m) => m.type() === 'error' && page.errors.push(m.text()));
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(`${edgeUrl}/`);
  if (token) await signIn(page, token);
  return page;
}

export async function signIn(page, token) {
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('whoami').waitFor();
}

/** Goes to a hash route (#/campaigns/…) without reloading. */
export async function go(page, route) {
  await page.evaluate((r) => (location.hash = r), route);
}

/** Saves a full-page screenshot as tests/output/ui/NAME.png. */
export async function shot(page, name) {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
