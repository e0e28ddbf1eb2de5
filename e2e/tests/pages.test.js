// Every page each demo login can reach by following links: it loads, has no serious or
// critical accessibility problem (axe-core, WCAG 2.x A/AA), carries the security
// headers, and fits a 360 px wide screen without sideways scrolling.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, signIn, accessibilityProblems, screenshot } from '../lib.js';

let context;
before(async () => { context = await launch(); });
after(async () => { await context?.close(); });

const MAX_PAGES = 40;

/** Same-site links on the page that are plain page views. */
async function links(page) {
  const hrefs = await page.locator('a[href^="/"]').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  return hrefs.map((h) => h.split('#')[0]).filter((h) => h && !h.startsWith('/static') && !h.includes('lang='));
}

async function crawl(login) {
  const page = await signIn(context, login);
  const seen = new Set();
  const queue = ['/'];
  const failures = [];
  while (queue.length && seen.size < MAX_PAGES) {
    const path = queue.shift();
    if (seen.has(path)) continue;
    seen.add(path);
    const response = await page.goto(BASE + path);
    if (response.status() !== 200) failures.push(`${path}: HTTP ${response.status()}`);
    const headers = response.headers();
    if (!/frame-ancestors 'none'/.test(headers['content-security-policy'] ?? '') || /unsafe-inline/.test(headers['content-security-policy'])) {
      failures.push(`${path}: content-security-policy ${headers['content-security-policy']}`);
    }
    if (headers['referrer-policy'] !== 'no-referrer') failures.push(`${path}: referrer-policy`);
    for (const p of await accessibilityProblems(page)) failures.push(`${path}: ${p.impact} ${p.id} (${p.help}) at ${p.nodes.join(', ')}`);
    for (const l of await links(page)) if (!seen.has(l)) queue.push(l);
  }
  await page.close();
  return { seen, failures };
}

for (const login of ['gp', 'physio', 'jobcentre', 'jens', 'lise', 'maria']) {
  test(`every page ${login} reaches is accessible`, async () => {
    const { seen, failures } = await crawl(login);
    assert.ok(seen.size >= 4, `${login} reached only ${[...seen].join(', ')}`);
    assert.deepEqual(failures, []);
  });
}

test('pages fit a 360 px screen', async () => {
  for (const login of ['gp', 'jens']) {
    const page = await signIn(context, login);
    await page.setViewportSize({ width: 360, height: 740 });
    const paths = ['/', ...(await links(page)).slice(0, 12)];
    for (const path of paths) {
      await page.goto(BASE + path);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(wide <= 362, `${login} ${path} is ${wide}px wide at 360px`);
    }
    if (login === 'jens') {
      // The timeline's picture keeps a readable size and scrolls inside its own frame.
      await page.goto(BASE + '/');
      const picture = page.locator('svg.timeline-picture');
      assert.equal(await picture.count(), 1, 'the course page has its timeline picture');
      const width = await picture.evaluate((e) => e.getBoundingClientRect().width);
      assert.ok(width >= 600, `the timeline's picture is ${width}px wide at 360px`);
      await screenshot(page, 'patient-course-360px');
    }
    await page.close();
  }
});

test('the language switch is remembered per user', async () => {
  const page = await signIn(context, 'physio');
  await page.getByRole('button', { name: 'English' }).click();
  await page.waitForLoadState('load');
  await assert.doesNotReject(page.getByRole('heading', { name: 'My worklist' }).waitFor());
  await page.getByRole('button', { name: 'Sign out' }).click();
  const again = await signIn(context, 'physio');
  await assert.doesNotReject(again.getByRole('heading', { name: 'My worklist' }).waitFor());
  await screenshot(again, 'physio-worklist-english');
  await again.getByRole('button', { name: 'Dansk' }).click();
  await assert.doesNotReject(again.getByRole('heading', { name: 'Min arbejdsliste' }).waitFor());
  await again.close();
  await page.close();
});
