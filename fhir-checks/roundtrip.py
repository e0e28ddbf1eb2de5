#!/usr/bin/env python3
"""Round trip of the official FHIR R4 examples through a running Sammen server.

    roundtrip.py --base URL --token TOKEN [--patient ID]

Each official example (npm hl7.fhir.r4.examples@4.0.1) of a type Sammen creates
(Patient, CarePlan, Goal, Observation, Condition, ServiceRequest, EpisodeOfCare, Encounter), and
the first example of each other type of Sammen's 17, is POSTed alone in a transaction Bundle. Before sending, three things are
adapted, and only these: every `Patient/...` reference is pointed at a patient the
caller may see in Sammen (the examples' own patients do not exist there), Goal and Condition examples name that
patient's first open course in Sammen's course extension (a patient may have several), and each
Patient example with a birthDate is sent a second time with a DK Core CPR identifier
whose date part is that birthDate (Sammen registers patients by CPR number; the example
unchanged is sent too, and must be refused with a reason).

Then, per example, exactly one of:
- accepted: the transaction-response is 201 with a location; the resource read back
  from it equals what was sent on every element Sammen maps (below);
- refused: a 4xx OperationOutcome whose diagnostics say why.
Anything else (a 5xx, a refusal without a reason, an accepted resource that reads back
different) is a failure. Exits 1 on any failure, or if not
at least one Patient example was accepted.

Elements compared (when the example has them): Patient identifier (CPR), name,
birthDate; CarePlan status, subject, title, description, period.start; Goal
lifecycleStatus, description.text, subject; Observation value, effective day,
subject; Condition code (text, else the first coding's display), onset day, subject;
ServiceRequest status, intent, code.text, subject, performer, patientInstruction;
EpisodeOfCare status, patient, managingOrganization, period (days); Encounter status,
class.code, subject, serviceProvider, period (days) (references compared by
`reference`; a `display` is not kept). Messages name examples by type and id only.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import urllib.error
import urllib.request
import uuid

import examples

CREATED_TYPES = ["Patient", "CarePlan", "Goal", "Observation", "Condition", "ServiceRequest", "EpisodeOfCare", "Encounter"]
CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
COURSE_EXTENSION = "https://sammen.dk/fhir/StructureDefinition/course"


def call(base: str, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base.rstrip('/')}/{path.lstrip('/')}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Accept", "application/fhir+json")
    if data is not None:
        req.add_header("Content-Type", "application/fhir+json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"null")
        except ValueError:
            return e.code, {}


def point_at(v, patient_ref: str):
    """Every Patient/... reference pointed at the patient in Sammen."""
    if isinstance(v, dict):
        return {
            k: (patient_ref if k == "reference" and isinstance(x, str) and x.startswith("Patient/") else point_at(x, patient_ref))
            for k, x in v.items()
        }
    if isinstance(v, list):
        return [point_at(x, patient_ref) for x in v]
    return v


def cpr_for(birth_date: str, rng: random.Random) -> str | None:
    """A CPR number whose date part is this birth date (serial digit by the CPR century rule)."""
    if len(birth_date) != 10:
        return None
    year, month, day = birth_date.split("-")
    y = int(year)
    if 1900 <= y <= 1999:
        first = rng.choice("0123")
    elif 2000 <= y <= 2036:
        first = "4"
    else:
        return None
    return f"{day}{month}{year[2:]}{first}{rng.randrange(1000):03d}"


def name_line(n: dict) -> str:
    if n.get("text"):
        return n["text"].strip()
    return " ".join([*n.get("given", []), n.get("family", "")]).strip()


def ref(resource: dict, element: str) -> str | None:
    return (resource.get(element) or {}).get("reference")


def differences(kind: str, sent: dict, got: dict) -> list[str]:
    out = []

    def same(element: str, a, b):
        if a is not None and a != b:
            out.append(f"{element} differs")

    if kind == "Patient":
        cpr = next((i.get("value") for i in sent.get("identifier", []) if i.get("system") == CPR_SYSTEM), None)
        got_cpr = next((i.get("value") for i in got.get("identifier", []) if i.get("system") == CPR_SYSTEM), None)
        same("identifier (CPR)", cpr, got_cpr)
        names = sent.get("name") or []
        official = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
        if official is not None:
            same("name", name_line(official), name_line((got.get("name") or [{}])[0]))
        same("birthDate", sent.get("birthDate"), got.get("birthDate"))
    elif kind == "CarePlan":
        for element in ["status", "title", "description"]:
            same(element, sent.get(element), got.get(element))
        same("subject.reference", ref(sent, "subject"), ref(got, "subject"))
        start = (sent.get("period") or {}).get("start")
        same("period.start", start[:10] if start else None, (got.get("period") or {}).get("start"))
    elif kind == "Goal":
        same("lifecycleStatus", sent.get("lifecycleStatus"), got.get("lifecycleStatus"))
        same("description.text", (sent.get("description") or {}).get("text"), (got.get("description") or {}).get("text"))
        same("subject.reference", ref(sent, "subject"), ref(got, "subject"))
    elif kind == "Observation":
        same("valueInteger", sent.get("valueInteger"), got.get("valueInteger"))
        eff = sent.get("effectiveDateTime")
        same("effectiveDateTime", eff[:10] if eff else None, got.get("effectiveDateTime"))
        same("subject.reference", ref(sent, "subject"), ref(got, "subject"))
    elif kind == "Condition":
        code = sent.get("code") or {}
        display = next((c.get("display") for c in code.get("coding", []) if c.get("display")), None)
        same("code.text", (code.get("text") or display or "").strip() or None, (got.get("code") or {}).get("text"))
        onset = sent.get("onsetDateTime")
        same("onsetDateTime", onset[:10] if onset else None, got.get("onsetDateTime"))
        same("subject.reference", ref(sent, "subject"), ref(got, "subject"))
    elif kind == "ServiceRequest":
        for element in ["status", "intent", "patientInstruction"]:
            same(element, sent.get(element), got.get(element))
        same("code.text", (sent.get("code") or {}).get("text"), (got.get("code") or {}).get("text"))
        same("subject.reference", ref(sent, "subject"), ref(got, "subject"))
        refs = lambda r: [p.get("reference") for p in r.get("performer") or []] or None  # noqa: E731
        same("performer", refs(sent), refs(got))
    elif kind in ("EpisodeOfCare", "Encounter"):
        who, where = ("patient", "managingOrganization") if kind == "EpisodeOfCare" else ("subject", "serviceProvider")
        same("status", sent.get("status"), got.get("status"))
        same(f"{who}.reference", ref(sent, who), ref(got, who))
        same(f"{where}.reference", ref(sent, where), ref(got, where))
        for end in ["start", "end"]:
            day = (sent.get("period") or {}).get(end)
            same(f"period.{end}", day[:10] if day else None, (got.get("period") or {}).get(end))
        if kind == "Encounter":
            same("class.code", (sent.get("class") or {}).get("code"), (got.get("class") or {}).get("code"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--patient", help="the patient in Sammen to attach in-record examples to")
    args = ap.parse_args(argv)
    rng = random.Random()

    pid = args.patient
    if not pid:
        status, found = call(args.base, args.token, "GET", "Patient?_count=1")
        entries = found.get("entry") or [] if isinstance(found, dict) else []
        if status != 200 or not entries:
            print("FAIL no patient visible to the caller to attach examples to")
            return 1
        pid = entries[0]["resource"]["id"]
    patient_ref = f"Patient/{pid}"
    # The patient's first open course, named in Sammen's course extension on Goal and
    # Condition examples (a patient with several open courses needs one named).
    status, plans = call(args.base, args.token, "GET", f"CarePlan?patient={pid}&status=active&_count=1")
    plan_entries = (plans.get("entry") or []) if status == 200 and isinstance(plans, dict) else []
    course_ext = None
    if plan_entries:
        course_ext = {"url": COURSE_EXTENSION,
                      "valueReference": {"reference": f"CarePlan/{plan_entries[0]['resource']['id']}"}}

    all_examples = examples.load(examples.TYPES)
    cases: list[tuple[str, str, dict]] = []
    for kind in examples.TYPES:
        chosen = all_examples[kind] if kind in CREATED_TYPES else all_examples[kind][:1]
        for ex in chosen:
            label = f"{kind}/{ex.get('id')}"
            res = point_at({k: v for k, v in ex.items() if k != "id"}, patient_ref)
            if kind in ("Goal", "Condition") and course_ext:
                res["extension"] = [*res.get("extension", []), course_ext]
            cases.append((kind, label, res))
            if kind == "Patient" and res.get("birthDate"):
                cpr = cpr_for(res["birthDate"], rng)
                if cpr:
                    with_cpr = copy.deepcopy(res)
                    with_cpr["identifier"] = [*with_cpr.get("identifier", []), {"system": CPR_SYSTEM, "value": cpr}]
                    cases.append((kind, f"{label} + CPR", with_cpr))

    accepted: dict[str, int] = {}
    refused: dict[str, int] = {}
    failures = 0
    for kind, label, res in cases:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": res, "request": {"method": "POST", "url": kind}}]}
        status, answer = call(args.base, args.token, "POST", "", bundle)
        if status == 200:
            entry = (answer.get("entry") or [{}])[0]
            location = (entry.get("response") or {}).get("location")
            if not (entry.get("response") or {}).get("status", "").startswith("201") or not location:
                print(f"FAIL {label}: the transaction-response has no 201 with a location")
                failures += 1
                continue
            st, got = call(args.base, args.token, "GET", location)
            diff = differences(kind, res, got) if st == 200 else [f"reading it back answered {st}"]
            if diff:
                print(f"FAIL {label}: accepted, but " + "; ".join(diff))
                failures += 1
            else:
                print(f"ok   {label}: accepted and reads back equal on the elements Sammen maps")
                accepted[kind] = accepted.get(kind, 0) + 1
        elif 400 <= status < 500:
            issue = (answer.get("issue") or [{}])[0] if isinstance(answer, dict) else {}
            why = issue.get("diagnostics", "")
            if answer.get("resourceType") != "OperationOutcome" or not why:
                print(f"FAIL {label}: refused ({status}) without an OperationOutcome saying why")
                failures += 1
            else:
                print(f"ok   {label}: refused ({status} {issue.get('code')}): {why}")
                refused[kind] = refused.get(kind, 0) + 1
        else:
            print(f"FAIL {label}: answered {status}")
            failures += 1

    print()
    for kind in examples.TYPES:
        a, r = accepted.get(kind, 0), refused.get(kind, 0)
        if a or r:
            print(f"  {kind:<22} {a:>3} accepted  {r:>3} refused with a reason")
    if not accepted.get("Patient"):
        print("FAIL no Patient example was accepted")
        failures += 1
    print(f"\n{len(cases) - failures} of {len(cases)} examples as expected, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
