#!/usr/bin/env python3
"""Validate what a FHIR R4 server answers, or local FHIR JSON files.

    validate.py --base http://127.0.0.1:PORT/fhir --token TOKEN [--max-pages N] [--min-types N]
                [--strict]
    validate.py --files a.json b.json ...

Every resource is checked four ways (see README.md):
  R4B   parsed by the fhir.resources R4B pydantic model of its resourceType
  R4    parsed strictly by the fhirclient R4 (4.0.1) model of its resourceType
  code  codes of required bindings are in their value set (from the R4B models)
  json  FHIR JSON rules the models let through: no null, no empty array/object/string,
        and the Bundle invariants bdl-1..4 and bdl-7, fullUrl agrees with the id

Failures name the resource type, the id and the validator's message; element values are
never printed (the messages of both validators name elements, not their contents), so no
patient data ends up in CI logs.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Iterable

warnings.filterwarnings("ignore", category=DeprecationWarning)

from fhir.resources.core.fhirabstractmodel import FHIRAbstractModel  # noqa: E402
from fhir.resources.R4B import get_fhir_model_class  # noqa: E402
from fhir.resources.R4B.resource import Resource as R4BResource  # noqa: E402
from fhirclient.models.fhirelementfactory import FHIRElementFactory  # noqa: E402
from fhirclient.models.resource import Resource as R4Resource  # noqa: E402

FHIR_JSON = "application/fhir+json"
FHIR_VERSION = "4.0.1"
READS_PER_TYPE = 3
EVERYTHING_PATIENTS = 3
HINTS = {"+", "etc.", "mime"}  # a code list with one of these is not a value set


# ---------------------------------------------------------------------------
# Checking one resource
# ---------------------------------------------------------------------------


def _one_line(text: str) -> str:
    text = re.sub(r" object at 0x[0-9a-f]+", "", text)
    text = re.sub(r"<(?:class )?'?fhirclient\.models\.[a-z_]+\.([A-Za-z]+)'?>", r"\1", text)
    return re.sub(r"\s*\n\s*", " | ", text.strip())


def r4b_model(resource_type: str):
    """The fhir.resources R4B model class of a resource type, or None."""
    try:
        klass = get_fhir_model_class(resource_type)
    except KeyError:
        return None
    if not issubclass(klass, R4BResource) or klass.get_resource_type() != resource_type:
        return None
    return klass


def check_r4b(res: dict) -> tuple[list[str], FHIRAbstractModel | None]:
    klass = r4b_model(res.get("resourceType", ""))
    if klass is None:
        return [f"R4B: no R4B model for resourceType {res.get('resourceType')!r}"], None
    try:
        return [], klass.parse_obj(res)
    except Exception as e:  # pydantic.v1 ValidationError and friends
        return [f"R4B: {_one_line(str(e))}"], None


def check_r4(res: dict) -> list[str]:
    rt = res.get("resourceType", "")
    try:
        obj = FHIRElementFactory.instantiate(rt, res)
    except Exception as e:  # FHIRValidationError, TypeError
        return [f"R4: {_one_line(str(e))}"]
    if not isinstance(obj, R4Resource) or type(obj).__name__ != rt:
        return [f"R4: {rt!r} is not an R4 resource type"]
    return []


def check_codes(model: FHIRAbstractModel, path: str) -> list[str]:
    """Codes against the list of codes the R4B model keeps per code element (pydantic
    does not enforce it). The list comes from the element's short description, which names
    the codes of a required binding; where it is only a hint (it has '+' or 'etc.', or
    names 'mime' as for CapabilityStatement.format) it is skipped."""
    errors = []
    for name, field in model.__fields__.items():
        value = getattr(model, name, None)
        if value is None:
            continue
        allowed = field.field_info.extra.get("enum_values")
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            here = f"{path}.{field.alias}" + (f"[{i}]" if isinstance(value, list) else "")
            if isinstance(item, FHIRAbstractModel):
                errors.extend(check_codes(item, here))
            elif allowed and not HINTS & set(allowed) and isinstance(item, str) \
                    and item not in allowed:
                errors.append(f"code: {here} is not one of {'|'.join(allowed)}")
    return errors


def check_json(value: Any, path: str) -> list[str]:
    """FHIR JSON rules: no null (except inside a primitive array paired with its _array),
    no empty object, array or string."""
    errors = []
    if isinstance(value, dict):
        if not value:
            errors.append(f"json: {path} is an empty object")
        for key, item in value.items():
            here = f"{path}.{key}"
            base = key[1:] if key.startswith("_") else key
            paired = base in value and "_" + base in value
            if item is None:
                errors.append(f"json: {here} is null")
            elif isinstance(item, list):
                if not item:
                    errors.append(f"json: {here} is an empty array")
                for i, sub in enumerate(item):
                    if sub is None:
                        if not paired:
                            errors.append(f"json: {here}[{i}] is null")
                    else:
                        errors.extend(check_json(sub, f"{here}[{i}]"))
            elif key == "div":
                continue  # xhtml, checked by the models
            else:
                errors.extend(check_json(item, here))
    elif isinstance(value, str) and value == "":
        errors.append(f"json: {path} is an empty string")
    return errors


_RESTFUL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def check_bundle(bundle: dict) -> list[str]:
    """Bundle invariants that the models do not check (R4 bdl-1..4, bdl-7, fullUrl/id)."""
    errors = []
    btype = bundle.get("type")
    entries = bundle.get("entry") or []
    if "total" in bundle and btype not in ("searchset", "history"):
        errors.append("bdl-1: total only when a search or history")
    seen = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        if "search" in entry and btype != "searchset":
            errors.append(f"bdl-2: entry[{i}].search only when a search")
        if "request" in entry and btype not in ("batch", "transaction", "history"):
            errors.append(f"bdl-3: entry[{i}].request only for batch, transaction or history")
        if "response" in entry and btype not in ("batch-response", "transaction-response", "history"):
            errors.append(f"bdl-4: entry[{i}].response only for batch/transaction responses")
        res = entry.get("resource")
        full_url = entry.get("fullUrl")
        if full_url and isinstance(res, dict):
            key = (full_url, (res.get("meta") or {}).get("versionId"))
            if key in seen:
                errors.append(f"bdl-7: entry[{i}].fullUrl is not unique")
            seen.add(key)
            m = _RESTFUL.search(full_url)
            if m and not full_url.startswith("urn:") and (
                m.group(1) != res.get("resourceType") or m.group(2) != res.get("id")
            ):
                errors.append(f"entry[{i}].fullUrl does not end with the resource's type and id")
    return errors


def envelope(bundle: dict) -> dict:
    """A Bundle without its entries' resources (checked one by one instead, so that each
    failure is reported once, under the resource's own type and id)."""
    out = dict(bundle)
    if isinstance(bundle.get("entry"), list):
        out["entry"] = [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                        for e in bundle["entry"]]
    return out


def check_resource(res: Any, envelope_only: bool = False) -> list[str]:
    """All failures of one resource (an empty list when it is valid). With envelope_only,
    a Bundle's entry resources are left out (the caller checks them itself)."""
    if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
        return ["not a JSON object with a resourceType"]
    whole = res
    if envelope_only and res["resourceType"] == "Bundle":
        res = envelope(res)
    errors, model = check_r4b(res)
    errors += check_r4(res)
    if model is not None:
        errors += check_codes(model, res["resourceType"])
    errors += check_json(res, res["resourceType"])
    if res["resourceType"] == "Bundle":
        errors += check_bundle(whole)
    return errors


# ---------------------------------------------------------------------------
# Bookkeeping and reporting
# ---------------------------------------------------------------------------


class Report:
    def __init__(self) -> None:
        self.ok: collections.Counter[str] = collections.Counter()
        self.bad: collections.Counter[str] = collections.Counter()
        self.failures: list[str] = []
        self.warnings: list[str] = []

    def resource(self, res: Any, where: str, envelope_only: bool = False) -> bool:
        """Validate one resource, count it by type; True when it is valid."""
        rt = res.get("resourceType", "?") if isinstance(res, dict) else "?"
        rid = str(res.get("id", "-"))[:64] if isinstance(res, dict) else "-"
        errors = check_resource(res, envelope_only)
        if errors:
            self.bad[rt] += 1
            for e in errors:
                self.fail(f"{rt}/{rid} ({where}): {e}")
            return False
        self.ok[rt] += 1
        return True

    def bundle(self, bundle: Any, where: str) -> list[dict]:
        """Validate a Bundle and, one by one, every entry's resource; return those."""
        self.resource(bundle, where, envelope_only=True)
        entries = (bundle.get("entry") or []) if isinstance(bundle, dict) else []
        resources = []
        for i, entry in enumerate(entries):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if res is None:
                continue
            self.resource(res, f"{where} entry[{i}]")
            if isinstance(res, dict):
                resources.append(res)
        return resources

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def print_summary(self) -> None:
        types = sorted(set(self.ok) | set(self.bad))
        print("\nresources validated per type (valid / invalid):")
        for t in types:
            print(f"  {t:<28} {self.ok[t]:>6} / {self.bad[t]}")
        if not types:
            print("  (none)")
        for w in self.warnings:
            print(f"WARNING {w}")
        for f in self.failures:
            print(f"FAIL {f}")
        print(f"\n{len(self.failures)} failures, {len(self.warnings)} warnings, "
              f"{sum(self.ok.values())} valid resources of {len(self.ok)} types")


# ---------------------------------------------------------------------------
# Files mode
# ---------------------------------------------------------------------------


def run_files(paths: Iterable[str], report: Report) -> None:
    for p in paths:
        try:
            data = json.loads(Path(p).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            report.fail(f"{p}: cannot read JSON: {e}")
            continue
        if isinstance(data, dict) and data.get("resourceType") == "Bundle":
            report.bundle(data, Path(p).name)
        else:
            report.resource(data, Path(p).name)


# ---------------------------------------------------------------------------
# Server mode
# ---------------------------------------------------------------------------


class Server:
    def __init__(self, base: str, token: str, report: Report) -> None:
        import requests  # only the server mode needs it

        self.base = base.rstrip("/")
        self.token = token
        self.report = report
        self.http = requests.Session()

    def get(self, url: str, *, token: bool = True, expect: int = 200) -> Any:
        """GET url (relative to base unless absolute); check status and content type;
        return the parsed JSON body, or None after recording a failure."""
        if not url.startswith(("http://", "https://")):
            url = f"{self.base}/{url.lstrip('/')}"
        headers = {"Accept": FHIR_JSON}
        if token:
            headers["Authorization"] = f"Bearer {self.token}"
        short = (url[len(self.base):] or "/") if url.startswith(self.base) else url
        try:
            r = self.http.get(url, headers=headers, timeout=60)
        except Exception as e:
            self.report.fail(f"GET {short}: {type(e).__name__}: {e}")
            return None
        if r.status_code != expect:
            self.report.fail(f"GET {short}: status {r.status_code}, expected {expect}")
        ctype = r.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != FHIR_JSON:
            self.report.fail(f"GET {short}: Content-Type {ctype!r}, expected {FHIR_JSON}")
        try:
            body = r.json()
        except ValueError:
            self.report.fail(f"GET {short}: body is not JSON")
            return None
        if expect == 401 and not r.headers.get("WWW-Authenticate"):
            self.report.warn(f"GET {short}: 401 without a WWW-Authenticate header (RFC 6750)")
        return body if r.status_code == expect else None

    def expect_outcome(self, url: str, status: int, *, token: bool = True) -> None:
        body = self.get(url, token=token, expect=status)
        if body is None:
            return
        if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
            self.report.fail(f"GET {url}: the {status} body is not an OperationOutcome")
            return
        self.report.resource(body, f"GET {url}")

    def search_pages(self, first_url: str, max_pages: int, where: str,
                     resource_type: str | None) -> list[dict]:
        """Follow a searchset Bundle's next links; validate everything; return the
        matched resources."""
        found: list[dict] = []
        url: str | None = first_url
        seen_urls = set()
        matched: set[tuple[Any, Any]] = set()
        for page in range(1, max_pages + 1):
            if url is None:
                break
            seen_urls.add(url)
            bundle = self.get(url)
            if bundle is None:
                break
            label = f"{where} page {page}"
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                self.report.fail(f"{label}: the answer is not a Bundle")
                break
            if bundle.get("type") != "searchset":
                self.report.fail(f"{label}: Bundle.type is {bundle.get('type')!r}, not 'searchset'")
            self.report.resource(bundle, label, envelope_only=True)
            entries = [e for e in bundle.get("entry") or [] if isinstance(e, dict)]
            missing = sum(1 for e in entries if not e.get("fullUrl"))
            if missing:
                self.report.warn(f"{label}: {missing} entries have no fullUrl")
            repeated = 0
            for i, entry in enumerate(entries):
                res = entry.get("resource")
                if res is None:
                    continue
                self.report.resource(res, f"{label} entry[{i}]")
                mode = (entry.get("search") or {}).get("mode", "match")
                if mode == "match" and isinstance(res, dict):
                    if resource_type and res.get("resourceType") != resource_type:
                        self.report.fail(f"{label}: entry[{i}] is a {res.get('resourceType')}, "
                                         f"not a {resource_type}")
                    elif (res.get("resourceType"), res.get("id")) in matched:
                        repeated += 1
                    else:
                        matched.add((res.get("resourceType"), res.get("id")))
                        found.append(res)
            if repeated:
                self.report.fail(f"{label}: {repeated} matches were already on an earlier page")
            nexts = [l.get("url") for l in bundle.get("link") or []
                     if isinstance(l, dict) and l.get("relation") == "next"]
            url = nexts[0] if nexts else None
            if url is not None:
                if not url.startswith(("http://", "https://")):
                    self.report.fail(f"{label}: the next link is not an absolute URL")
                    url = None
                elif not url.startswith(self.base + "/"):
                    self.report.warn(f"{label}: the next link is not under --base "
                                     f"(fhirpy refuses to follow it)")
                elif url in seen_urls:
                    self.report.fail(f"{label}: the next link points back to a page already read")
                    url = None
        return found

    def run(self, max_pages: int) -> None:
        report = self.report

        # 1. The CapabilityStatement, without a token.
        cs = self.get("metadata", token=False)
        if not isinstance(cs, dict) or cs.get("resourceType") != "CapabilityStatement":
            report.fail("GET /metadata: no CapabilityStatement; nothing more to check")
            return
        report.resource(cs, "GET /metadata")
        if cs.get("fhirVersion") != FHIR_VERSION:
            report.fail(f"CapabilityStatement.fhirVersion is {cs.get('fhirVersion')!r}, "
                        f"expected {FHIR_VERSION!r}")
        formats = cs.get("format") or []
        if not any(f in ("json", FHIR_JSON) or f.startswith(FHIR_JSON) for f in formats):
            report.fail("CapabilityStatement.format does not list json")
        rest = (cs.get("rest") or [{}])[0]
        if rest.get("mode") != "server":
            report.fail("CapabilityStatement.rest[0].mode is not 'server'")

        # 2. Each type: search (with paging), then read the first few ids.
        patients: list[str] = []
        everything = False
        for rdef in rest.get("resource") or []:
            rtype = rdef.get("type")
            interactions = {i.get("code") for i in rdef.get("interaction") or []}
            if rtype == "Patient":
                everything = any(op.get("name") == "everything"
                                 for op in rdef.get("operation") or [])
            if "search-type" not in interactions:
                continue
            found = self.search_pages(f"{rtype}?_count=20", max_pages,
                                      f"GET /{rtype}?_count=20", rtype)
            ids = [r["id"] for r in found if isinstance(r.get("id"), str)]
            if rtype == "Patient":
                patients = ids
            if "read" in interactions:
                for rid in ids[:READS_PER_TYPE]:
                    res = self.get(f"{rtype}/{rid}")
                    if res is None:
                        continue
                    if not isinstance(res, dict) or res.get("resourceType") != rtype \
                            or res.get("id") != rid:
                        report.fail(f"GET /{rtype}/{rid}: the answer is not that {rtype}")
                        continue
                    report.resource(res, f"GET /{rtype}/{rid}")

        # 3. Patient/$everything for the first patients.
        if everything:
            if not patients:
                report.warn("Patient $everything is declared but no Patient was found to try it on")
            for pid in patients[:EVERYTHING_PATIENTS]:
                self.search_pages(f"Patient/{pid}/$everything", max_pages,
                                  f"GET /Patient/{pid}/$everything", None)

        # 4. Errors answer with an OperationOutcome.
        self.expect_outcome("NoSuchType", 404)
        self.expect_outcome("Patient/does-not-exist", 404)
        self.expect_outcome("Patient", 401, token=False)


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", help="the server's FHIR base, e.g. http://127.0.0.1:8080/fhir")
    ap.add_argument("--token", help="bearer token for the server")
    ap.add_argument("--max-pages", type=int, default=5, help="search pages to follow per type")
    ap.add_argument("--min-types", type=int, default=1,
                    help="fail unless this many resource types had a valid resource")
    ap.add_argument("--strict", action="store_true", help="count warnings as failures")
    ap.add_argument("--files", nargs="+", metavar="FILE", help="validate local JSON files")
    args = ap.parse_args(argv)

    report = Report()
    if args.files:
        run_files(args.files, report)
    elif args.base and args.token:
        Server(args.base, args.token, report).run(args.max_pages)
    else:
        ap.error("give --files, or both --base and --token")

    report.print_summary()
    failed = bool(report.failures) or (args.strict and bool(report.warnings))
    if len(report.ok) < args.min_types:
        print(f"FAIL only {len(report.ok)} resource types had a valid resource; "
              f"--min-types is {args.min_types}")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
