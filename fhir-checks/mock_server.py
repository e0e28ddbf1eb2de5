#!/usr/bin/env python3
"""A tiny stand-in FHIR R4 server, for testing the checks here without Sammen.

    mock_server.py [--port 0] [--token T] [--patients N] [--flaw NAME]

It serves the official R4 examples of Sammen's resource types (examples.load), under
/fhir, the way Sammen's API is specified to: bearer tokens, application/fhir+json,
searchset Bundles without total, paging by absolute link[next] URLs, Patient/$everything,
a transaction POSTed to the base, and OperationOutcome for 401 and 404.

--flaw makes it wrong in one way, to prove the checks notice:
  bad-resource   one Patient carries an element R4 does not have
  plain-404      404 answers are text/plain, not an OperationOutcome
  json-ctype     answers are application/json, not application/fhir+json
  relative-next  link[next] is a relative URL
  stuck-next     link[next] points at the same page again
  r4b-version    the CapabilityStatement says fhirVersion 4.3.0
"""

from __future__ import annotations

import argparse
import copy
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import examples

FLAWS = ["bad-resource", "plain-404", "json-ctype", "relative-next", "stuck-next", "r4b-version"]
SEARCH_PARAMS = {"patient": ("subject", "patient"), "subject": ("subject",)}


def outcome(code: str, text: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}


class Store:
    def __init__(self, flaw: str | None, patients: int | None = None) -> None:
        data = examples.load()
        if patients is not None:  # e.g. 2, like Sammen's demo
            data["Patient"] = [p for p in data["Patient"] if p["id"] == "example"] + \
                [p for p in data["Patient"] if p["id"] != "example"][: max(patients - 1, 0)]
        self.types = [t for t in examples.TYPES if data[t]]
        self.db: dict[str, dict[str, dict]] = {t: {r["id"]: r for r in data[t]} for t in self.types}
        self.next_id = 1
        self.lock = threading.Lock()
        if flaw == "bad-resource":
            first = next(iter(self.db["Patient"].values()))
            first["favouriteColour"] = "blue"

    def capability(self, flaw: str | None) -> dict:
        resources = []
        for t in self.types:
            r = {"type": t, "interaction": [{"code": "read"}, {"code": "search-type"}]}
            if t == "Patient":
                r["operation"] = [{"name": "everything",
                                   "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}]
            if t == "Observation":
                r["interaction"].append({"code": "create"})
                r["searchParam"] = [{"name": "patient", "type": "reference"}]
            resources.append(r)
        return {
            "resourceType": "CapabilityStatement", "status": "active", "date": "2024-01-01",
            "kind": "instance", "fhirVersion": "4.3.0" if flaw == "r4b-version" else "4.0.1",
            "format": ["application/fhir+json"],
            "rest": [{"mode": "server", "resource": resources,
                      "interaction": [{"code": "transaction"}]}],
        }

    def search(self, rtype: str, query: dict[str, list[str]]) -> list[dict]:
        items = sorted(self.db[rtype].values(), key=lambda r: r["id"])
        for name, values in query.items():
            if name in SEARCH_PARAMS:
                ref = values[0] if "/" in values[0] else f"Patient/{values[0]}"
                items = [r for r in items
                         if any((r.get(f) or {}).get("reference") == ref for f in SEARCH_PARAMS[name])]
        return items

    def everything(self, pid: str) -> list[dict]:
        ref = f"Patient/{pid}"
        out = [self.db["Patient"][pid]]
        for t in self.types:
            for r in self.db[t].values():
                if any((r.get(f) or {}).get("reference") == ref for f in ("subject", "patient")):
                    out.append(r)
        return out

    def create(self, res: dict) -> dict:
        with self.lock:
            res = copy.deepcopy(res)
            res["id"] = f"mock-{self.next_id}"
            self.next_id += 1
            res["meta"] = {"versionId": "1", "lastUpdated": "2024-01-01T00:00:00Z"}
            self.db.setdefault(res["resourceType"], {})[res["id"]] = res
            return res


def make_handler(store: Store, token: str, flaw: str | None):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a) -> None:  # quiet
            pass

        def send(self, status: int, body: dict | str, extra: dict | None = None) -> None:
            if isinstance(body, dict):
                data = json.dumps(body).encode()
                ctype = "application/json" if flaw == "json-ctype" else "application/fhir+json"
            else:
                data = body.encode()
                ctype = "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", f"{ctype}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def not_found(self, text: str) -> None:
            if flaw == "plain-404":
                self.send(404, text)
            else:
                self.send(404, outcome("not-found", text))

        def base(self) -> str:
            return f"http://{self.headers.get('Host')}/fhir"

        def authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {token}":
                return True
            self.send(401, outcome("login", "a bearer token is needed"),
                      {"WWW-Authenticate": 'Bearer realm="fhir"'})
            return False

        def searchset(self, items: list[dict], path: str, query: dict[str, list[str]]) -> dict:
            count = int(query.get("_count", ["20"])[0])
            offset = int(query.get("_offset", ["0"])[0])
            page = items[offset:offset + count]
            plain = {k: v[0] for k, v in query.items() if k not in ("_count", "_offset")}

            def url(off: int) -> str:
                q = urllib.parse.urlencode({**plain, "_count": count, "_offset": off})
                prefix = "/fhir" if flaw == "relative-next" else self.base()
                return f"{prefix}/{path}?{q}"

            links = [{"relation": "self", "url": url(offset)}]
            if offset + count < len(items):
                links.append({"relation": "next",
                              "url": url(offset if flaw == "stuck-next" else offset + count)})
            return {"resourceType": "Bundle", "type": "searchset", "link": links,
                    "entry": [{"fullUrl": f"{self.base()}/{r['resourceType']}/{r['id']}",
                               "resource": r, "search": {"mode": "match"}} for r in page]}

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            parts = [p for p in parsed.path.split("/") if p]
            query = urllib.parse.parse_qs(parsed.query)
            if not parts or parts[0] != "fhir":
                return self.send(404, "not here")
            parts = parts[1:]
            if parts == ["metadata"]:
                return self.send(200, store.capability(flaw))
            if not self.authorized():
                return
            if not parts or parts[0] not in store.db:
                return self.not_found("unknown resource type")
            rtype = parts[0]
            if len(parts) == 1:
                return self.send(200, self.searchset(store.search(rtype, query), rtype, query))
            res = store.db[rtype].get(parts[1])
            if res is None:
                return self.not_found("no such resource")
            if len(parts) == 2:
                return self.send(200, res)
            if rtype == "Patient" and parts[2:] == ["$everything"]:
                return self.send(200, self.searchset(store.everything(parts[1]),
                                                     f"Patient/{parts[1]}/$everything", query))
            return self.not_found("no such operation")

        def do_POST(self) -> None:
            parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
            if parts != ["fhir"]:
                return self.not_found("POST a transaction to the base")
            if not self.authorized():
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            if body.get("resourceType") != "Bundle" or body.get("type") != "transaction":
                return self.send(400, outcome("invalid", "a transaction Bundle is needed"))
            entries = []
            for e in body.get("entry") or []:
                created = store.create(e["resource"])
                entries.append({"fullUrl": f"{self.base()}/{created['resourceType']}/{created['id']}",
                                "response": {"status": "201 Created",
                                             "location": f"{created['resourceType']}/{created['id']}/_history/1",
                                             "etag": 'W/"1"'}})
            self.send(200, {"resourceType": "Bundle", "type": "transaction-response", "entry": entries})

    return Handler


def start(port: int = 0, token: str = "mock-token", flaw: str | None = None,
          patients: int | None = None) -> ThreadingHTTPServer:
    """Start in a background thread; the caller calls .shutdown(). The base URL is
    http://127.0.0.1:{server.server_port}/fhir."""
    httpd = ThreadingHTTPServer(("127.0.0.1", port),
                                make_handler(Store(flaw, patients), token, flaw))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default="mock-token")
    ap.add_argument("--flaw", choices=FLAWS)
    ap.add_argument("--patients", type=int, help="serve only this many patients ('example' first)")
    args = ap.parse_args()
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port),
                                make_handler(Store(args.flaw, args.patients), args.token, args.flaw))
    print(f"http://127.0.0.1:{httpd.server_port}/fhir token {args.token}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
