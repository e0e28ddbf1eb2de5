#!/usr/bin/env python3
"""Synthetic FHIR data and its import, the same for any FHIR R4 server.

    fhirload.py bundles --patients N --seed S --out DIR [--observations 10]
        writes DIR/bundles.jsonl: one transaction Bundle per patient (a Patient with a
        DK Core CPR identifier, an active CarePlan, a proposed Goal and 10 pain
        Observations, LOINC 72514-3, one a day, each naming the others by urn:uuid)
    fhirload.py import --base URL [--token T] --bundles FILE --out DIR [--clients 4] [--prefer P]
        POSTs each Bundle to the base, --clients at a time (with `Prefer: P` if given, e.g.
        return=minimal), and writes DIR/patients.txt
        and DIR/observations.txt (the ids the server gave) and DIR/import.json: bundles,
        resources, seconds, resources per second, p50 and p99 ms per Bundle
    fhirload.py ids --base URL [--token T] --out DIR [--max N]
        pages through Patient?_count=200 and writes DIR/patients.txt (for data a server
        already holds, e.g. `sammen generate`)
    fhirload.py answers --base URL [--token T] --ids FILE --out FILE [--sample 20]
        asks for the first --sample patients of FILE what the benchmark asks (read, search,
        $everything) once each and writes what came back: bytes, entries per Bundle, the
        search's matches and the resource types, so that two servers' figures can be seen
        to be for the same answers
    fhirload.py wrk FILE
        reads wrk's output (run with --latency) and prints one JSON object: requests,
        requests per second, p50 and p99 ms, bytes read per answer, and how many answers
        were not 2xx or 3xx

Only the standard library; nothing downloads. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import random
import re
import statistics
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

CPR = "urn:oid:1.2.208.176.1.2"
LOINC = "http://loinc.org"
GIVEN = ["Anne", "Bo", "Carl", "Dorte", "Erik", "Freja", "Gustav", "Hanne", "Ida", "Jonas", "Karen", "Lars"]
FAMILY = ["Hansen", "Jensen", "Nielsen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen"]


def bundle(rng: random.Random, n: int, observations: int) -> dict:
    def urn() -> str:
        return f"urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}"

    # Born from 2006 on, with serial digit 4 (the CPR century rule): never the number of
    # a patient `sammen generate` makes (born 1940-2005). Each thousand Bundles share a
    # birth date and differ in the serial, so numbers never repeat within a data set.
    born = datetime.date(2006, 1, 1) + datetime.timedelta(days=n // 1000)
    cpr = f"{born:%d%m%y}4{n % 1000:03d}"
    born = born.isoformat()
    p, c = urn(), urn()
    patient = {
        "resourceType": "Patient",
        "identifier": [{"system": CPR, "value": cpr}],
        "name": [{"use": "official", "family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)]}],
        "birthDate": born,
    }
    plan = {
        "resourceType": "CarePlan", "status": "active", "intent": "plan", "title": "Lændesmerter",
        "description": "Smerter i lænden i mere end seks uger", "subject": {"reference": p},
        "period": {"start": "2026-01-05"},
    }
    goal = {
        "resourceType": "Goal", "lifecycleStatus": "proposed",
        "description": {"text": "Gå 30 minutter uden pause"}, "subject": {"reference": p},
    }
    entries = [(p, patient), (c, plan), (urn(), goal)]
    for day in range(observations):
        entries.append((urn(), {
            "resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "72514-3"}]},
            "subject": {"reference": p}, "basedOn": [{"reference": c}],
            "effectiveDateTime": (datetime.date(2026, 1, 6) + datetime.timedelta(days=day)).isoformat(),
            "valueInteger": rng.randrange(0, 11),
        }))
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f, "resource": r, "request": {"method": "POST", "url": r["resourceType"]}} for f, r in entries]}


class Client:
    """One keep-alive connection to the server."""

    def __init__(self, base: str, token: str | None, prefer: str | None = None):
        u = urllib.parse.urlsplit(base)
        self.host, self.port, self.path = u.hostname, u.port or 80, u.path.rstrip("/")
        self.headers = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        if prefer:
            self.headers["Prefer"] = prefer
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
        status, answer, _ = self.call_sized(method, path, body)
        return status, answer

    def call_sized(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict, int]:
        """The status, the decoded answer and its size in bytes."""
        target = path if path.startswith("http") else f"{self.path}/{path.lstrip('/')}"
        if target.startswith("http"):
            target = urllib.parse.urlsplit(target)._replace(scheme="", netloc="").geturl()
        self.conn.request(method, target, body=body, headers=self.headers)
        r = self.conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else {}), len(raw)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else 0.0


def cmd_bundles(a) -> int:
    rng = random.Random(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "bundles.jsonl", "w", encoding="utf-8") as f:
        for n in range(a.patients):
            f.write(json.dumps(bundle(rng, n, a.observations), ensure_ascii=False) + "\n")
    print(f"wrote {a.patients} transaction Bundles to {out / 'bundles.jsonl'}")
    return 0


def cmd_import(a) -> int:
    lines = Path(a.bundles).read_text(encoding="utf-8").splitlines()
    work = list(enumerate(lines))
    lock = threading.Lock()
    latencies: list[float] = []
    patients: list[str] = []
    observations: list[str] = []
    failures: list[str] = []
    resources = 0

    def worker():
        nonlocal resources
        client = Client(a.base, a.token, a.prefer)
        while True:
            with lock:
                if not work or failures:
                    return
                _, line = work.pop(0)
            t = time.perf_counter()
            status, answer = client.call("POST", "", line.encode())
            dt = (time.perf_counter() - t) * 1000
            with lock:
                if status != 200:
                    failures.append(f"status {status}: {json.dumps(answer)[:300]}")
                    return
                latencies.append(dt)
                for e in answer.get("entry", []):
                    loc = (e.get("response") or {}).get("location", "")
                    parts = loc.split("/")
                    if len(parts) >= 2 and parts[0] == "Patient":
                        patients.append(parts[1])
                    elif len(parts) >= 2 and parts[0] == "Observation":
                        observations.append(parts[1])
                    resources += 1

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if failures:
        print(f"import failed: {failures[0]}", file=sys.stderr)
        return 1
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "patients.txt").write_text("\n".join(patients) + "\n")
    (out / "observations.txt").write_text("\n".join(observations) + "\n")
    report = {
        "bundles": len(latencies), "resources": resources, "clients": a.clients, "seconds": round(seconds, 2),
        "resources_per_s": round(resources / seconds, 1), "bundles_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies), 2), "p99_ms": round(pct(latencies, 0.99), 2),
    }
    (out / "import.json").write_text(json.dumps(report))
    print(json.dumps(report))
    return 0


def cmd_ids(a) -> int:
    client = Client(a.base, a.token)
    ids: list[str] = []
    url = "Patient?_count=200"
    while url and len(ids) < a.max:
        status, page = client.call("GET", url)
        if status != 200:
            print(f"ids: status {status}", file=sys.stderr)
            return 1
        ids.extend(e["resource"]["id"] for e in page.get("entry", []))
        url = next((l["url"] for l in page.get("link", []) if l.get("relation") == "next"), None)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "patients.txt").write_text("\n".join(ids[: a.max]) + "\n")
    print(f"{len(ids[: a.max])} patient ids in {out / 'patients.txt'}")
    return 0


def cmd_answers(a) -> int:
    """What each request of the benchmark answers, for a sample of its patients."""
    ids = [l for l in Path(a.ids).read_text().splitlines() if l][: a.sample]
    client = Client(a.base, a.token)
    asks = {
        "read": "Patient/{}",
        "search": "Observation?patient=Patient/{}",
        "everything": "Patient/{}/$everything",
    }
    report: dict = {}
    for op, pattern in asks.items():
        sizes, entries, matches, paged = [], [], [], 0
        types: dict[str, int] = {}
        for pid in ids:
            status, body, size = client.call_sized("GET", pattern.format(pid))
            if status != 200:
                print(f"answers: {op} got status {status}", file=sys.stderr)
                return 1
            sizes.append(size)
            if body.get("resourceType") == "Bundle":
                found = body.get("entry", [])
                entries.append(len(found))
                matches.append(sum(1 for e in found if (e.get("search") or {}).get("mode", "match") == "match"))
                paged += any(l.get("relation") == "next" for l in body.get("link", []))
                for e in found:
                    t = e.get("resource", {}).get("resourceType", "?")
                    types[t] = types.get(t, 0) + 1
        report[op] = {"bytes": round(statistics.mean(sizes))}
        if entries:
            report[op].update(
                entries=round(statistics.mean(entries), 1),
                matches=round(statistics.mean(matches), 1),
                with_next_page=paged,
                types={t: round(n / len(ids), 1) for t, n in sorted(types.items())},
            )
    report["patients"] = len(ids)
    Path(a.out).write_text(json.dumps(report))
    print(json.dumps(report))
    return 0


def wrk_summary(text: str) -> dict:
    """What the benchmarks report of one wrk run, from its output."""

    def ms(label: str) -> float | None:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else None

    requests = re.search(r"(\d+) requests in", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    read = re.search(r"requests in [\d.]+\w+, ([\d.]+)([KMG]?B) read", text)
    size = float(read.group(1)) * {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[read.group(2)] if read else 0.0
    return {
        "requests": int(requests.group(1)) if requests else 0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "not_2xx": int(bad.group(1)) if bad else 0,
        "bytes_per_answer": round(size / int(requests.group(1))) if requests and int(requests.group(1)) else None,
    }


def cmd_wrk(a) -> int:
    print(json.dumps(wrk_summary(Path(a.file).read_text())))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bundles")
    b.add_argument("--patients", type=int, required=True)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--out", required=True)
    b.add_argument("--observations", type=int, default=10)

    def server(name: str) -> argparse.ArgumentParser:
        """A command that talks to a FHIR server."""
        c = sub.add_parser(name)
        c.add_argument("--base", required=True)
        c.add_argument("--token")
        return c

    i = server("import")
    i.add_argument("--bundles", required=True)
    i.add_argument("--out", required=True)
    i.add_argument("--clients", type=int, default=4)
    i.add_argument("--prefer")
    d = server("ids")
    d.add_argument("--out", required=True)
    d.add_argument("--max", type=int, default=2000)
    n = server("answers")
    n.add_argument("--ids", required=True)
    n.add_argument("--out", required=True)
    n.add_argument("--sample", type=int, default=20)
    w = sub.add_parser("wrk")
    w.add_argument("file")
    a = ap.parse_args(argv)
    return {"bundles": cmd_bundles, "import": cmd_import, "ids": cmd_ids, "answers": cmd_answers, "wrk": cmd_wrk}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
