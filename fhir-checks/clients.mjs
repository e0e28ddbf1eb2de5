#!/usr/bin/env node
// Drive a FHIR R4 server with a standard JavaScript FHIR client, used as it comes:
// fhir-kit-client (Vermonster).
//
//   node clients.mjs --base http://127.0.0.1:PORT/fhir --token TOKEN [--count 2]
//                    [--patient ID] [--value integer|quantity] [--allow-no-paging]
//
// The same steps as clients.py: read the CapabilityStatement; search Patient?_count=2 and
// follow the next page with client.nextPage (Patient?_count=1 when everything fit on one
// page); read one Patient; search Observation?patient=Patient/{id} and page; POST a
// transaction Bundle with one Observation (LOINC 72514-3, pain severity 0-10) and read the
// created Observation back. Prints one line per step and closes with 'N passed, N failed';
// exits 1 on any failure. No resource contents are printed, only ids.

import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Client } from 'fhir-kit-client';

const LOINC = 'http://loinc.org';
const PAIN_CODE = '72514-3';
const PAIN_VALUE = 4;

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    token: { type: 'string' },
    count: { type: 'string', default: '2' },
    patient: { type: 'string' },
    value: { type: 'string', default: 'integer' },
    'allow-no-paging': { type: 'boolean', default: false },
    verbose: { type: 'boolean', short: 'v', default: false },
  },
});
if (!args.base || !args.token || !['integer', 'quantity'].includes(args.value)) {
  console.error('usage: node clients.mjs --base URL --token TOKEN [--count N] [--patient ID] '
    + '[--value integer|quantity] [--allow-no-paging]');
  process.exit(2);
}
const base = args.base.replace(/\/+$/, '');
const count = Number(args.count);

class Failed extends Error {}
function need(cond, message) {
  if (!cond) throw new Failed(message);
}

function painObservation(patientId) {
  const obs = {
    resourceType: 'Observation',
    status: 'final',
    category: [{ coding: [{
      system: 'http://terminology.hl7.org/CodeSystem/observation-category',
      code: 'survey', display: 'Survey' }] }],
    code: { coding: [{ system: LOINC, code: PAIN_CODE,
      display: 'Pain severity - 0-10 verbal numeric rating [Score] - Reported' }],
    text: 'Pain severity 0-10' },
    subject: { reference: `Patient/${patientId}` },
    effectiveDateTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  if (args.value === 'integer') obs.valueInteger = PAIN_VALUE;
  else obs.valueQuantity = { value: PAIN_VALUE, unit: '{score}', system: 'http://unitsofmeasure.org', code: '{score}' };
  return obs;
}

let passed = 0;
let failed = 0;
async function step(name, fn) {
  try {
    const result = await fn();
    passed += 1;
    console.log(`ok   [fhir-kit-client] ${name}${typeof result === 'string' ? ` (${result})` : ''}`);
    return result ?? true;
  } catch (e) {
    failed += 1;
    const status = e.response?.status ? ` (HTTP ${e.response.status})` : '';
    console.log(`FAIL [fhir-kit-client] ${name}: ${String(e.message).slice(0, 400)}${status}`);
    if (args.verbose) console.error(e);
    return null;
  }
}

const client = new Client({ baseUrl: base, bearerToken: args.token });
const state = { paged: false };

const ids = (bundle, type) => (bundle?.entry ?? [])
  .map((e) => e.resource).filter((r) => r?.resourceType === type).map((r) => r.id);
const hasNext = (bundle) => (bundle.link ?? []).some((l) => l.relation === 'next');

// Search, then let the client follow link[next] once.
async function search(resourceType, searchParams, n) {
  const first = await client.search({ resourceType, searchParams: { ...searchParams, _count: n } });
  need(first.resourceType === 'Bundle' && first.type === 'searchset',
    `${resourceType} search did not answer a searchset Bundle`);
  const next = await client.nextPage({ bundle: first });
  return { page1: ids(first, resourceType), page2: ids(next, resourceType), hadNext: hasNext(first) };
}

function checkPages({ page1, page2, hadNext }, what) {
  if (!hadNext) return false;
  need(page2.length > 0, `${what}: page 1 has a next link, but nextPage found nothing more`);
  need(!page2.some((id) => page1.includes(id)), `${what}: page 2 repeats ids of page 1`);
  return true;
}

await step('read the CapabilityStatement', async () => {
  const cs = await client.capabilityStatement();
  need(cs.resourceType === 'CapabilityStatement', 'metadata is not a CapabilityStatement');
  need(cs.fhirVersion === '4.0.1', `fhirVersion is ${JSON.stringify(cs.fhirVersion)}`);
  return `fhirVersion ${cs.fhirVersion}`;
});

const found = await step(`search Patient?_count=${count} and page`, async () => {
  const r = await search('Patient', {}, count);
  need(r.page1.length > 0, 'Patient search found no patient');
  state.patient = args.patient ?? r.page1[0];
  state.paged ||= checkPages(r, 'Patient');
  if (r.hadNext) return `${r.page1.length} on page 1, ${r.page2.length} via next`;
  if (r.page1.length < 2) return '1 patient, one page';
  // everything fit on one page: page by 1 so that paging is exercised
  const r1 = await search('Patient', {}, 1);
  state.paged ||= checkPages(r1, 'Patient?_count=1');
  return `${r.page1.length} on one page; with _count=1: ${r1.page1.length} on page 1, ${r1.page2.length} via next`;
});

if (found) {
  await step('read one Patient', async () => {
    const pat = await client.read({ resourceType: 'Patient', id: state.patient });
    need(pat.resourceType === 'Patient' && pat.id === state.patient, 'not that Patient');
    return `Patient/${state.patient}`;
  });

  await step('search Observation?patient=Patient/{id} and page', async () => {
    const r = await search('Observation', { patient: `Patient/${state.patient}` }, count);
    state.paged ||= checkPages(r, 'Observation');
    return r.hadNext ? `${r.page1.length} on page 1, ${r.page2.length} via next` : `${r.page1.length} on one page`;
  });

  if (!state.paged) {
    if (args['allow-no-paging']) console.log('note [fhir-kit-client] paging was not exercised: too few resources');
    else await step('paging exercised', () => need(false, 'no search had a second page; give --allow-no-paging to accept'));
  }

  await step('POST a transaction with one Observation, read it back', async () => {
    // Based on an active CarePlan of the patient's, if there is one: a server that keeps
    // observations on a plan may need to be told which, when the patient has several.
    const plans = await client.search({ resourceType: 'CarePlan',
      searchParams: { patient: `Patient/${state.patient}`, status: 'active', _count: 1 } });
    const sent = painObservation(state.patient);
    const plan = plans.entry?.[0]?.resource?.id;
    if (plan) sent.basedOn = [{ reference: `CarePlan/${plan}` }];
    const body = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [{ fullUrl: `urn:uuid:${randomUUID()}`, resource: sent,
        request: { method: 'POST', url: 'Observation' } }],
    };
    const resp = await client.transaction({ body });
    need(resp.resourceType === 'Bundle' && resp.type === 'transaction-response',
      `the answer is not a transaction-response Bundle (type ${JSON.stringify(resp.type)})`);
    need((resp.entry ?? []).length === 1, `the transaction-response has ${(resp.entry ?? []).length} entries, not 1`);
    const response = resp.entry[0].response ?? {};
    need(String(response.status ?? '').startsWith('201'), `entry[0].response.status is ${JSON.stringify(response.status)}, not 201`);
    let parts = String(response.location ?? '').split('?')[0].split('/');
    if (parts.includes('_history')) parts = parts.slice(0, parts.indexOf('_history'));
    need(parts.length >= 2 && parts.at(-2) === 'Observation', `entry[0].response.location is not Observation/[id]`);
    const id = parts.at(-1);
    const obs = await client.read({ resourceType: 'Observation', id });
    need(obs.id === id, `Observation/${id} read back is not that Observation`);
    need((obs.code?.coding ?? []).some((c) => c.system === LOINC && c.code === PAIN_CODE), `Observation/${id} lost its LOINC code`);
    need(obs.subject?.reference === `Patient/${state.patient}`, `Observation/${id} is not about Patient/${state.patient}`);
    need((obs.valueInteger ?? obs.valueQuantity?.value) === PAIN_VALUE, `Observation/${id} does not hold the value ${PAIN_VALUE}`);
    return `created Observation/${id}`;
  });
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
