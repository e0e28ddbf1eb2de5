#!/usr/bin/env python3
"""Drive a FHIR R4 server with two standard Python FHIR clients, used as they come:
fhirpy (beda.software) and fhirclient (SMART on FHIR).

    clients.py --base http://127.0.0.1:PORT/fhir --token TOKEN [--count 2] [--patient ID]
               [--value integer|quantity] [--allow-no-paging] [--only fhirpy|fhirclient]

With each client: read the CapabilityStatement; search Patient?_count=2 and follow the next
page with the client's own paging (if that search has a single page, Patient?_count=1 is
tried so that paging is exercised whenever two patients can be seen); read one Patient;
search Observation?patient=Patient/{id} (paged the same way); POST a transaction Bundle with
one Observation (LOINC 72514-3, pain severity 0-10) for that patient and read the created
Observation back. Each client writes one Observation to the server.

Prints one line per step and closes with 'N passed, N failed'; exits 1 on any failure.
No resource contents are printed, only ids.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import traceback
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

warnings.filterwarnings("ignore", category=DeprecationWarning)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import validate  # noqa: E402  (check_resource: the same checks as validate.py)

LOINC = "http://loinc.org"
PAIN_CODE = "72514-3"
PAIN_VALUE = 4


def pain_observation(patient_id: str, value_kind: str) -> dict:
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey", "display": "Survey"}]}],
        "code": {"coding": [{
            "system": LOINC, "code": PAIN_CODE,
            "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported"}],
            "text": "Pain severity 0-10"},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
    }
    if value_kind == "integer":
        obs["valueInteger"] = PAIN_VALUE
    else:
        obs["valueQuantity"] = {"value": PAIN_VALUE, "unit": "{score}",
                                "system": "http://unitsofmeasure.org", "code": "{score}"}
    return obs


def transaction_bundle(patient_id: str, value_kind: str, plan_id: str | None = None) -> dict:
    """One Observation; with `plan_id`, based on that CarePlan (a server that keeps
    observations on a plan may need to be told which, when the patient has several)."""
    obs = pain_observation(patient_id, value_kind)
    if plan_id:
        obs["basedOn"] = [{"reference": f"CarePlan/{plan_id}"}]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": obs,
            "request": {"method": "POST", "url": "Observation"},
        }],
    }


class Failed(Exception):
    pass


def need(cond: Any, message: str) -> None:
    if not cond:
        raise Failed(message)


def need_valid(res: Any, what: str) -> None:
    errors = validate.check_resource(res)
    need(not errors, f"{what} is not valid: " + "; ".join(errors[:5]))


def check_pages(page1: list[str], page2: list[str], had_next: bool, what: str) -> bool:
    """True when a second page was fetched and is sound."""
    if not had_next:
        return False
    need(page2, f"{what}: page 1 has a next link, but the client's paging found nothing more")
    need(not set(page1) & set(page2), f"{what}: page 2 repeats ids of page 1")
    return True


def check_transaction_response(resp: Any) -> str:
    """Validate a transaction-response; return the created Observation's id."""
    need(isinstance(resp, dict) and resp.get("resourceType") == "Bundle",
         "the transaction answer is not a Bundle")
    need(resp.get("type") == "transaction-response",
         f"the answer's Bundle.type is {resp.get('type')!r}, not 'transaction-response'")
    need_valid(resp, "the transaction-response Bundle")
    entries = resp.get("entry") or []
    need(len(entries) == 1, f"the transaction-response has {len(entries)} entries, not 1")
    response = entries[0].get("response") or {}
    need(str(response.get("status", "")).startswith("201"),
         f"entry[0].response.status is {response.get('status')!r}, not 201")
    location = response.get("location") or ""
    parts = location.split("?")[0].split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    need(len(parts) >= 2 and parts[-2] == "Observation",
         f"entry[0].response.location {location!r} is not Observation/[id]")
    return parts[-1]


def check_created(obs: Any, obs_id: str, patient_id: str) -> None:
    need(isinstance(obs, dict) and obs.get("resourceType") == "Observation"
         and obs.get("id") == obs_id, f"Observation/{obs_id} read back is not that Observation")
    need_valid(obs, f"Observation/{obs_id}")
    codes = [(c.get("system"), c.get("code")) for c in (obs.get("code") or {}).get("coding") or []]
    need((LOINC, PAIN_CODE) in codes, f"Observation/{obs_id} lost its LOINC {PAIN_CODE} code")
    need((obs.get("subject") or {}).get("reference") == f"Patient/{patient_id}",
         f"Observation/{obs_id} is not about Patient/{patient_id}")
    value = obs.get("valueInteger", (obs.get("valueQuantity") or {}).get("value"))
    need(value == PAIN_VALUE, f"Observation/{obs_id} does not hold the value {PAIN_VALUE}")


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.passed = 0
        self.failed = 0

    def step(self, client: str, name: str, fn: Callable[[], Any]) -> Any:
        try:
            result = fn()
        except Failed as e:
            self.failed += 1
            print(f"FAIL [{client}] {name}: {e}")
            return None
        except Exception as e:  # the client raised
            self.failed += 1
            print(f"FAIL [{client}] {name}: {type(e).__name__}: {str(e)[:400]}")
            if self.args.verbose:
                traceback.print_exc()
            return None
        self.passed += 1
        print(f"ok   [{client}] {name}" + (f" ({result})" if isinstance(result, str) else ""))
        return result if result is not None else True

    def paging_outcome(self, client: str, paged: bool) -> None:
        if paged:
            return
        if self.args.allow_no_paging:
            print(f"note [{client}] paging was not exercised: too few resources")
        else:
            self.step(client, "paging exercised", lambda: need(
                False, "no search had a second page (fewer than 2 patients and fewer than "
                       f"{self.args.count + 1} observations); give --allow-no-paging to accept"))

    # -- fhirpy --------------------------------------------------------------

    def fhirpy(self) -> None:
        from fhirpy import SyncFHIRClient

        name = "fhirpy"
        args = self.args
        client = SyncFHIRClient(args.base, authorization=f"Bearer {args.token}")
        state: dict[str, Any] = {"paged": False}

        def capability() -> str:
            cs = client.execute("metadata", method="get")
            need(cs.get("resourceType") == "CapabilityStatement", "metadata is not a CapabilityStatement")
            need(cs.get("fhirVersion") == "4.0.1", f"fhirVersion is {cs.get('fhirVersion')!r}")
            need_valid(cs, "the CapabilityStatement")
            return f"fhirVersion {cs['fhirVersion']}"

        def search(resource_type: str, params: dict, count: int) -> tuple[list[str], list[str], bool]:
            searchset = client.resources(resource_type).search(**params).limit(count)
            first = searchset.fetch_raw()
            need(first.get("resourceType") == "Bundle" and first.get("type") == "searchset",
                 f"{resource_type} search did not answer a searchset Bundle")
            page1 = [e.resource["id"] for e in first.get("entry") or []
                     if e.resource.get("resourceType") == resource_type]
            had_next = any(l.get("relation") == "next" for l in first.get("link") or [])
            # fhirpy's own paging: iterating a search set follows Bundle.link[next].
            items = list(itertools.islice(iter(searchset), len(page1) + count))
            page2 = [r["id"] for r in items[len(page1):]]
            need([r["id"] for r in items[:len(page1)]] == page1,
                 f"{resource_type}: iterating does not start with page 1")
            return page1, page2, had_next

        def patients() -> str:
            page1, page2, had_next = search("Patient", {}, args.count)
            need(page1, "Patient search found no patient")
            state["patient"] = args.patient or page1[0]
            state["paged"] |= check_pages(page1, page2, had_next, "Patient")
            if had_next:
                return f"{len(page1)} on page 1, {len(page2)} via next"
            if len(page1) < 2:
                return "1 patient, one page"
            # everything fit on one page: page by 1 so that paging is exercised
            p1, p2, nxt = search("Patient", {}, 1)
            state["paged"] |= check_pages(p1, p2, nxt, "Patient?_count=1")
            return f"{len(page1)} on one page; with _count=1: {len(p1)} on page 1, {len(p2)} via next"

        def read_patient() -> str:
            pid = state["patient"]
            pat = client.get("Patient", pid)
            need(pat.get("resourceType") == "Patient" and pat.get("id") == pid, "not that Patient")
            need_valid(dict(pat), f"Patient/{pid}")
            return f"Patient/{pid}"

        def observations() -> str:
            pid = state["patient"]
            page1, page2, had_next = search("Observation", {"patient": f"Patient/{pid}"}, args.count)
            state["paged"] |= check_pages(page1, page2, had_next, "Observation")
            return f"{len(page1)} on page 1, {len(page2)} via next" if had_next \
                else f"{len(page1)} on one page"

        def transaction() -> str:
            pid = state["patient"]
            plans, _, _ = search("CarePlan", {"patient": f"Patient/{pid}", "status": "active"}, 1)
            # fhirpy has no transaction helper; its documented way is a POST to the base.
            bundle = transaction_bundle(pid, args.value, plans[0] if plans else None)
            resp = client.execute("/", method="post", data=bundle)
            obs_id = check_transaction_response(resp)
            check_created(client.get("Observation", obs_id), obs_id, pid)
            return f"created Observation/{obs_id}"

        self.run_steps(name, capability, patients, read_patient, observations, transaction, state)

    # -- fhirclient ------------------------------------------------------------

    def fhirclient(self) -> None:
        from fhirclient import client as smart_client
        from fhirclient.auth import FHIROAuth2Auth
        from fhirclient.models.bundle import Bundle
        from fhirclient.models.careplan import CarePlan
        from fhirclient.models.observation import Observation
        from fhirclient.models.patient import Patient

        name = "fhirclient"
        args = self.args
        smart = smart_client.FHIRClient(settings={"app_id": "sammen-fhir-checks",
                                                  "api_base": args.base})
        server = smart.server
        state: dict[str, Any] = {"paged": False}

        def capability() -> str:
            cs = server.capabilityStatement  # GET metadata, parsed by the strict R4 model
            need(cs.fhirVersion == "4.0.1", f"fhirVersion is {cs.fhirVersion!r}")
            need_valid(cs.as_json(), "the CapabilityStatement")
            # A token obtained elsewhere: the client's OAuth2 auth signs requests with it.
            server.auth = FHIROAuth2Auth()
            server.auth.access_token = args.token
            return f"fhirVersion {cs.fhirVersion}"

        def search(model, struct: dict, count: int) -> tuple[list[str], list[str], bool]:
            rtype = model.resource_type
            pages = model.where(struct={**struct, "_count": str(count)}).perform_iter(server)
            bundles = list(itertools.islice(pages, 2))  # the client follows link[next]
            first = bundles[0]
            need(first.type == "searchset", f"{rtype} search did not answer a searchset Bundle")

            def ids(b) -> list[str]:
                return [e.resource.id for e in b.entry or []
                        if e.resource is not None and e.resource.resource_type == rtype]

            had_next = any(l.relation == "next" for l in first.link or [])
            return ids(first), ids(bundles[1]) if len(bundles) > 1 else [], had_next

        def patients() -> str:
            page1, page2, had_next = search(Patient, {}, args.count)
            need(page1, "Patient search found no patient")
            state["patient"] = args.patient or page1[0]
            state["paged"] |= check_pages(page1, page2, had_next, "Patient")
            if had_next:
                return f"{len(page1)} on page 1, {len(page2)} via next"
            if len(page1) < 2:
                return "1 patient, one page"
            # everything fit on one page: page by 1 so that paging is exercised
            p1, p2, nxt = search(Patient, {}, 1)
            state["paged"] |= check_pages(p1, p2, nxt, "Patient?_count=1")
            return f"{len(page1)} on one page; with _count=1: {len(p1)} on page 1, {len(p2)} via next"

        def read_patient() -> str:
            pid = state["patient"]
            pat = Patient.read(pid, server)
            need(pat.id == pid, "not that Patient")
            need_valid(pat.as_json(), f"Patient/{pid}")
            return f"Patient/{pid}"

        def observations() -> str:
            pid = state["patient"]
            page1, page2, had_next = search(Observation, {"patient": f"Patient/{pid}"}, args.count)
            state["paged"] |= check_pages(page1, page2, had_next, "Observation")
            return f"{len(page1)} on page 1, {len(page2)} via next" if had_next \
                else f"{len(page1)} on one page"

        def transaction() -> str:
            pid = state["patient"]
            plans, _, _ = search(CarePlan, {"patient": f"Patient/{pid}", "status": "active"}, 1)
            # fhirclient has no transaction helper; POST the Bundle to the base.
            res = server.post_json("", transaction_bundle(pid, args.value, plans[0] if plans else None))
            resp = res.json()
            Bundle(resp)  # strict R4 parse by the client's own model
            obs_id = check_transaction_response(resp)
            check_created(Observation.read(obs_id, server).as_json(), obs_id, pid)
            return f"created Observation/{obs_id}"

        self.run_steps(name, capability, patients, read_patient, observations, transaction, state)

    def run_steps(self, name, capability, patients, read_patient, observations, transaction,
                  state) -> None:
        self.step(name, "read the CapabilityStatement", capability)
        if self.step(name, f"search Patient?_count={self.args.count} and page", patients) is None:
            return
        self.step(name, "read one Patient", read_patient)
        self.step(name, "search Observation?patient=Patient/{id} and page", observations)
        self.paging_outcome(name, state["paged"])
        self.step(name, "POST a transaction with one Observation, read it back", transaction)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--count", type=int, default=2, help="_count of the searches (default 2)")
    ap.add_argument("--patient", help="Patient id to use (default: the first one found)")
    ap.add_argument("--value", choices=["integer", "quantity"], default="integer",
                    help="the pain score as valueInteger (default) or valueQuantity {score}")
    ap.add_argument("--allow-no-paging", action="store_true",
                    help="do not fail when no search had a second page")
    ap.add_argument("--only", choices=["fhirpy", "fhirclient"])
    ap.add_argument("-v", "--verbose", action="store_true", help="print tracebacks")
    args = ap.parse_args(argv)
    args.base = args.base.rstrip("/")

    run = Run(args)
    for client in ("fhirpy", "fhirclient"):
        if args.only in (None, client):
            getattr(run, client)()
    print(f"{run.passed} passed, {run.failed} failed")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
