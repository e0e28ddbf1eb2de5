// The main flows of issue 6, in a real browser, on a fresh demo database: a GP plans a
// step and hands it over, the physiotherapist accepts, the patient sees the step's
// plain-words reason, withdraws a consent and finds the social worker's look in the
// access log, and the social worker then meets the withheld note.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, launch, signIn, signOut, accessibilityProblems, screenshot } from '../lib.js';

let context;
before(async () => { context = await launch(); });
after(async () => { await context?.close(); });

const STEP_TITLE = 'Træning for ryg og mave, 6 uger';
const PLAIN_REASON = 'Træning gør din ryg stærk igen, så du kan løfte på arbejdet.';

/** Asserts the page has no serious or critical accessibility problems. */
async function accessible(page) {
  const problems = await accessibilityProblems(page);
  assert.deepEqual(problems, [], `${new URL(page.url()).pathname}: ${JSON.stringify(problems, null, 1)}`);
}

/** Finds Jens through the search form and opens his back-pain course's briefing (its
 * title may be withheld from the reader). */
async function openJensBriefing(page, title = /Lændesmerter/) {
  await page.getByRole('link', { name: /Find patient/ }).click();
  await page.getByLabel(/CPR-nummer eller navn/).fill('Jens');
  await page.getByRole('button', { name: 'Søg' }).click();
  await page.getByRole('link', { name: 'Jens Madsen' }).click();
  await page.getByRole('link', { name: title }).first().click();
  await page.waitForLoadState('load');
}

test('the social worker looks at the course (with consent)', async () => {
  const page = await signIn(context, 'jobcentre');
  await accessible(page);
  await openJensBriefing(page);
  assert.match(page.url(), /^http:\/\/[^/]+\/p\/[0-9a-f-]{36}\/c\/[0-9a-f-]{36}$/, 'only opaque ids in the address');
  await accessible(page);
  await signOut(page);
  await page.close();
});

test('a GP signs in, opens the briefing, adds a step and proposes a handover', async () => {
  const page = await signIn(context, 'gp');
  await assert.doesNotReject(page.getByRole('heading', { name: 'Min arbejdsliste' }).waitFor());
  await screenshot(page, 'gp-worklist');
  await openJensBriefing(page);
  await assert.doesNotReject(page.getByRole('heading', { name: 'Patientens fortælling' }).waitFor());
  await screenshot(page, 'gp-briefing');
  const briefing = page.url();

  await page.getByRole('link', { name: 'Nyt skridt' }).click();
  await accessible(page);
  await page.getByLabel(/^Titel/).fill(STEP_TITLE);
  await page.getByLabel(/^Slags skridt/).selectOption({ label: 'Behandlingsforløb' });
  await page.getByLabel(/^Hvem ejer skridtet/).selectOption({ label: 'Mette Holm, Lægerne i Kildegade' });
  await page.getByLabel(/^Senest/).fill(new Date(Date.now() + 27 * 86400e3).toISOString().slice(0, 10));
  await page.getByLabel(/^Faglig begrundelse/).fill('Non-specifikke lændesmerter, STarT Back middel risiko.');
  await page.getByLabel(/^Begrundelse til patienten/).fill(PLAIN_REASON);
  await page.getByRole('button', { name: 'Gem skridt' }).click();
  await page.waitForLoadState('load');
  assert.equal(page.url(), `${briefing}?done=saved`, 'back on the briefing after saving');
  await assert.doesNotReject(page.getByRole('status').getByText('Gemt.').waitFor(), 'and told it was saved');
  await assert.doesNotReject(page.getByText(STEP_TITLE).first().waitFor());

  await page.getByRole('link', { name: 'Overdrag' }).click();
  await page.getByLabel(/^Hvad overdrages/).selectOption({ label: STEP_TITLE });
  await page.getByLabel(/^Til/).selectOption({ label: 'Fysioterapeuterne Åboulevarden' });
  await page.getByLabel(/^Hvorfor/).fill('Fysioterapeuten har bedre tider og kender øvelserne.');
  await page.getByRole('button', { name: 'Send overdragelse' }).click();
  await page.waitForLoadState('load');
  assert.equal(page.url(), `${briefing}?done=sent`);
  await assert.doesNotReject(page.getByRole('status').getByText('Sendt.').waitFor());
  const handovers = page.locator('section[aria-labelledby="handovers"]');
  await assert.doesNotReject(handovers.getByText('Fysioterapeuten har bedre tider').waitFor());
  await accessible(page);
  await signOut(page);
  await page.close();
});

test('the physiotherapist accepts the handover from the worklist', async () => {
  const page = await signIn(context, 'physio');
  const item = page.locator('#handover').locator('..').getByRole('link', { name: /Jens Madsen/ }).first();
  await item.click();
  await page.waitForLoadState('load');
  const handover = page.locator('section[aria-labelledby="handovers"] li', { hasText: 'Fysioterapeuten har bedre tider' });
  await handover.getByRole('button', { name: 'Overtag' }).click();
  await page.waitForLoadState('load');
  // Accepted: the step now has the physiotherapy practice as its owner.
  const step = page.locator('section[aria-labelledby="steps"] li, section[aria-labelledby="steps"] article', { hasText: STEP_TITLE }).first();
  await assert.doesNotReject(step.getByText(/Fysioterapeuterne Åboulevarden/).waitFor());
  await accessible(page);
  await signOut(page);
  await page.close();
});

test('the patient sees the step and its reason, withdraws a consent, and reads the access log', async () => {
  const page = await signIn(context, 'jens');
  await assert.doesNotReject(page.getByRole('heading', { name: /Mit forløb/ }).waitFor());
  // The new step, with its reason in plain words, both among the steps and on the timeline.
  await assert.doesNotReject(page.locator('article.step', { hasText: STEP_TITLE }).getByText(PLAIN_REASON).waitFor());
  await assert.doesNotReject(page.locator('li.event', { hasText: STEP_TITLE }).getByText(PLAIN_REASON).waitFor());
  // The handover names where the step went, not the reason the GP wrote for the physiotherapist.
  await assert.doesNotReject(page.locator('li.event', { hasText: 'Overdragelse: Til Fysioterapeuterne Åboulevarden' }).first().waitFor());
  assert.equal(await page.getByText('Fysioterapeuten har bedre tider').count(), 0);
  await accessible(page);
  await screenshot(page, 'patient-course');

  await page.getByRole('link', { name: 'Hvem må se' }).click();
  const consent = page.locator('li', { hasText: 'Jobcenter Aabæk' }).filter({ hasText: 'Gælder' });
  await consent.getByRole('button', { name: 'Træk tilbage' }).click();
  await page.waitForLoadState('load');
  await assert.doesNotReject(page.locator('li', { hasText: 'Jobcenter Aabæk' }).getByText('Trukket tilbage').first().waitFor());
  await accessible(page);
  await screenshot(page, 'patient-sharing');

  await page.getByRole('link', { name: 'Hvem har set' }).click();
  const row = page.locator('tr', { hasText: 'Birgitte Nørgaard' }).first();
  await assert.doesNotReject(row.waitFor());
  await assert.doesNotReject(row.getByText('Jobcenter Aabæk').waitFor());
  await accessible(page);
  await screenshot(page, 'patient-access-log');
  await signOut(page);
  await page.close();
});

test('after the withdrawal the social worker sees the withheld note', async () => {
  const page = await signIn(context, 'jobcentre');
  await openJensBriefing(page, /titlen er ikke vist/);
  await assert.doesNotReject(page.getByRole('note').getByRole('heading', { name: 'Noget er ikke vist' }).waitFor());
  // The plan the jobcentre saw before is no longer on its page.
  assert.equal(await page.getByText(STEP_TITLE).count(), 0, 'the withdrawn plan is not shown');
  await accessible(page);
  await screenshot(page, 'social-worker-withheld');
  await signOut(page);
  await page.close();
});

test('the patient writes a goal and records progress; a bad number is refused and nothing is saved', async () => {
  const page = await signIn(context, 'jens');
  await page.getByRole('link', { name: 'Min historie og mine mål' }).click();
  await page.getByLabel('Mit eget mål').fill('At cykle til arbejde igen');
  await page.getByRole('button', { name: 'Tilføj mål' }).click();
  await page.waitForLoadState('load');
  await assert.doesNotReject(page.locator('section[aria-labelledby="goals"] li', { hasText: 'At cykle til arbejde igen' }).waitFor());
  await accessible(page);

  await page.getByRole('link', { name: 'Tilbage til mit forløb' }).click();
  await page.getByRole('link', { name: 'Sådan går det' }).click();
  const rows = await page.locator('table.data tbody tr').count();
  // The browser refuses 11 itself (max="10"); switch that off to prove the server does too.
  await page.locator('form[action$="/progress"]').evaluate((f) => { f.noValidate = true; });
  await page.getByLabel('Smerte i dag').fill('11');
  await page.getByRole('button', { name: 'Gem' }).click();
  await page.waitForLoadState('load');
  await assert.doesNotReject(page.getByRole('alert').waitFor());
  // Why, in Danish and with the field's own label: no English, no inner field name.
  assert.equal((await page.getByRole('alert').textContent()).trim(), 'Smerte i dag: smerte vurderes fra 0 til 10.');
  assert.equal(await page.locator('table.data tbody tr').count(), rows, 'a refused measure is not saved');
  assert.equal(await page.getByLabel('Smerte i dag').inputValue(), '11', 'what was typed is shown again');
  await page.getByLabel('Smerte i dag').fill('2');
  // Last time's activities are filled in, to be rated again; each named one needs a number.
  for (let n = 1; n <= 5; n++) {
    const named = await page.getByLabel(`Ting ${n}`, { exact: true }).inputValue();
    if (named) await page.getByLabel(`Tal for ting ${n}`).fill(String(5 + (n % 4)));
  }
  await page.getByRole('button', { name: 'Gem' }).click();
  await page.waitForLoadState('load');
  assert.equal(await page.getByRole('alert').count(), 0, 'no error this time');
  assert.equal(await page.locator('table.data tbody tr').count(), rows + 1, 'the measure is saved');
  await accessible(page);
  await screenshot(page, 'patient-progress');
  await signOut(page);
  await page.close();
});

test('a professional outside the team opens the record in an emergency, and the patient sees it', async () => {
  // The GP reads Jens's CPR number off his page, as a colleague on the phone would.
  const gp = await signIn(context, 'gp');
  await gp.getByRole('link', { name: /Find patient/ }).click();
  await gp.getByLabel(/CPR-nummer eller navn/).fill('Jens');
  await gp.getByRole('button', { name: 'Søg' }).click();
  await gp.getByRole('link', { name: 'Jens Madsen' }).click();
  const cpr = (await gp.locator('p', { hasText: 'CPR-nummer' }).locator('span').innerText()).trim();
  assert.match(cpr, /^\d{6}-\d{4}$/);
  await signOut(gp);
  await gp.close();

  const page = await signIn(context, 'psychologist');
  await page.getByRole('link', { name: /Find patient/ }).click();
  await page.getByText('Nødadgang', { exact: true }).click();
  await page.getByLabel('Patientens CPR-nummer').fill(cpr);
  await page.getByLabel('Begrundelse').fill('Akut henvendelse uden for åbningstid; patienten er forvirret.');
  await page.getByRole('button', { name: 'Åbn nødadgang' }).click();
  await page.waitForLoadState('load');
  await assert.doesNotReject(page.getByRole('heading', { name: 'Jens Madsen' }).waitFor());
  await assert.doesNotReject(page.getByRole('alert').getByText(/Nødadgang er åben/).waitFor());
  assert.ok(!page.url().includes(cpr.replace('-', '')) && !page.url().includes(cpr), 'no CPR number in the address');
  await accessible(page);
  await signOut(page);
  await page.close();

  const jens = await signIn(context, 'jens');
  await jens.getByRole('link', { name: 'Hvem må se' }).click();
  const emergency = jens.locator('section[aria-labelledby="emergency"]');
  await assert.doesNotReject(emergency.getByText('Ida Kjær').waitFor());
  await signOut(jens);
  await jens.close();
});
