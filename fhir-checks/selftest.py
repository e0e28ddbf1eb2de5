#!/usr/bin/env python3
"""Test the checks themselves, without Sammen (needs the venv and `npm ci`):

  - every official R4 example of Sammen's 17 resource types is valid to validate.py;
  - each file in testdata/broken-*.json is rejected, for the reason it was broken;
  - against mock_server.py (the R4 examples served the way Sammen's API is specified),
    validate.py, clients.py and clients.mjs pass, also with only 2 patients (as the demo);
  - against each --flaw of mock_server.py, validate.py fails.

Closes with 'N passed, N failed'; exits 1 on any failure.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import clients  # noqa: E402
import examples  # noqa: E402
import mock_server  # noqa: E402
import validate  # noqa: E402

TOKEN = "selftest-token"

# What each broken file must be rejected for (substrings of the failure lines).
BROKEN = {
    "broken-unknown-element.json": ["R4B: 1 validation error", "extra fields not permitted",
                                    'R4: {root}: | Superfluous entry "favouriteColour"'],
    "broken-bad-date.json": ["invalid date format", "invalid datetime format",
                             "day is out of range for month"],
    "broken-code.json": ["code: Patient.gender is not one of male|female|other|unknown"],
    "broken-json.json": ["Patient.name is an empty array", "Patient.telecom is null",
                         'Wrong type <class \'str\'> for property "active"'],
    "broken-bundle.json": ["bdl-1:", "bdl-3:", "fullUrl does not end with",
                           "Patient/in-broken-bundle"],
}

passed = failed = 0


def check(name: str, ok: bool, detail: str = "") -> None:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}" + (f"\n{detail}" if detail else ""))


def quiet(fn, *args) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = fn(*args)
    return rc, out.getvalue()


def main() -> int:
    # 1. The official examples are valid.
    ex = examples.load()
    for t, resources in ex.items():
        bad = [(r.get("id"), e) for r in resources for e in validate.check_resource(r)]
        check(f"R4 examples valid: {t} ({len(resources)})", resources and not bad, str(bad[:3]))

    # 2. Broken resources are rejected, each for its reason; a valid one is accepted.
    for name, expected in BROKEN.items():
        rc, out = quiet(validate.main, ["--files", str(HERE / "testdata" / name)])
        missing = [e for e in expected if e not in out]
        check(f"rejects testdata/{name}", rc == 1 and not missing, f"missing {missing}\n{out}")
    rc, out = quiet(validate.main, ["--files", str(HERE / "testdata" / "valid-pain-observation.json")])
    check("accepts testdata/valid-pain-observation.json", rc == 0, out)
    for kind in ("integer", "quantity"):
        bundle = clients.transaction_bundle("example", kind)
        errs = validate.check_resource(bundle) + validate.check_resource(bundle["entry"][0]["resource"])
        check(f"the clients' transaction Bundle is valid (value {kind})", not errs, str(errs))

    # 3. A well-behaved server passes every check.
    for patients in (None, 2):
        httpd = mock_server.start(token=TOKEN, patients=patients)
        base = f"http://127.0.0.1:{httpd.server_port}/fhir"
        label = "mock server" + (f" with {patients} patients" if patients else "")
        try:
            rc, out = quiet(validate.main, ["--base", base, "--token", TOKEN, "--min-types", "17"])
            check(f"validate.py passes against the {label}", rc == 0, out[-3000:])
            rc, out = quiet(clients.main, ["--base", base, "--token", TOKEN])
            check(f"clients.py passes against the {label}", rc == 0, out)
            node = subprocess.run(["node", str(HERE / "clients.mjs"), "--base", base, "--token", TOKEN],
                                  capture_output=True, text=True, timeout=120)
            check(f"clients.mjs passes against the {label}", node.returncode == 0,
                  node.stdout + node.stderr)
        finally:
            httpd.shutdown()

    # 4. Each flaw is caught.
    for flaw in mock_server.FLAWS:
        httpd = mock_server.start(token=TOKEN, flaw=flaw)
        base = f"http://127.0.0.1:{httpd.server_port}/fhir"
        try:
            rc, out = quiet(validate.main, ["--base", base, "--token", TOKEN, "--max-pages", "2"])
            check(f"validate.py fails against the mock server with flaw {flaw}", rc == 1, out[-2000:])
        finally:
            httpd.shutdown()

    # 5. A token is needed: a wrong one fails.
    httpd = mock_server.start(token=TOKEN)
    try:
        base = f"http://127.0.0.1:{httpd.server_port}/fhir"
        rc, out = quiet(validate.main, ["--base", base, "--token", "wrong"])
        check("validate.py fails with a wrong token", rc == 1, out[-2000:])
        rc, out = quiet(clients.main, ["--base", base, "--token", "wrong"])
        check("clients.py fails with a wrong token", rc == 1, out)
    finally:
        httpd.shutdown()

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
