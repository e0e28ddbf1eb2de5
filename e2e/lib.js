// Shared helpers for the browser tests: Debian's Chromium (never a downloaded browser),
// signing in as a demo login, the accessibility check, and screenshots.
import { chromium } from 'playwright-core';
import { readFileSync, mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
export const BASE = process.env.SAMMEN_URL ?? 'http://127.0.0.1:8080';
export const PASSWORD = 'sammen-demo';
export const SCREENSHOTS = join(here, '..', 'docs', 'screenshots');

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Headless Debian Chromium with the flags the project's brief asks for. */
export async function launch() {
  const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
  const userDataDir = mkdtempSync(join(tmpdir(), 'sammen-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
    ],
    viewport: { width: 1200, height: 900 },
  });
  return context;
}

/** Signs in through the form, as a person would; returns the page after sign-in. */
export async function signIn(context, login) {
  const page = await context.newPage();
  await page.goto(`${BASE}/login`);
  await page.getByLabel(/Brugernavn|Username/).fill(login);
  await page.getByLabel(/Adgangskode|Password/).fill(PASSWORD);
  await page.getByRole('button', { name: /Log ind|Sign in/ }).click();
  await page.waitForLoadState('load');
  return page;
}

export async function signOut(page) {
  await page.getByRole('button', { name: /Log ud|Sign out/ }).click();
  await page.waitForLoadState('load');
}

/**
 * Runs axe-core on the page (WCAG 2.x A and AA rules) and returns the serious and
 * critical violations. The source is evaluated through the DevTools protocol, so the
 * page's strict Content-Security-Policy stays in force.
 */
export async function accessibilityProblems(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** A screenshot of what the first screen shows, under docs/screenshots/. */
export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}
