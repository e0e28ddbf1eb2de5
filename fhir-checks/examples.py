#!/usr/bin/env python3
"""The official FHIR R4 (4.0.1) example resources, from the npm package
hl7.fhir.r4.examples@4.0.1 that `npm ci` installs here.

    examples.py [--package DIR] [--types Patient,Observation,...]
        prints, per type, how many examples exist and their ids
    examples.py --write-sample DIR [--per-type N]
        also writes up to N examples per type to DIR as Type-id.json (to feed
        `validate.py --files`)

From Python: `load(types, package_dir=None) -> dict[type, list[resource dict]]`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The resource types Sammen's FHIR API is about.
TYPES = [
    "Patient", "Practitioner", "PractitionerRole", "Organization", "CareTeam", "CarePlan",
    "Goal", "ServiceRequest", "Task", "Communication", "Consent", "Encounter",
    "EpisodeOfCare", "Condition", "Observation", "QuestionnaireResponse", "AuditEvent",
]


def package_dir(path: str | Path | None = None) -> Path:
    """The package's directory. npm unpacks the tarball's `package/` folder straight into
    node_modules/hl7.fhir.r4.examples; a hand-unpacked tarball keeps `package/`: accept both."""
    root = Path(path) if path else HERE / "node_modules" / "hl7.fhir.r4.examples"
    if (root / "package" / "package.json").is_file():
        root = root / "package"
    if not (root / "package.json").is_file():
        raise FileNotFoundError(f"{root}: no FHIR package here (run `npm ci` in {HERE})")
    manifest = json.loads((root / "package.json").read_text(encoding="utf-8"))
    if manifest.get("name") != "hl7.fhir.r4.examples":
        raise ValueError(f"{root}: package is {manifest.get('name')!r}, not hl7.fhir.r4.examples")
    return root


def load(types: list[str] | None = None, package: str | Path | None = None) -> dict[str, list[dict]]:
    """Example resources by type, each list sorted by id. Every example in the package is
    named Type-id.json (checked for 4.0.1), so files are found by name; a file whose
    resourceType is not the one its name says is skipped."""
    wanted = list(types or TYPES)
    root = package_dir(package)
    out: dict[str, list[dict]] = {t: [] for t in wanted}
    for t in wanted:
        for f in sorted(root.glob(f"{t}-*.json")):
            res = json.loads(f.read_text(encoding="utf-8"))
            if res.get("resourceType") == t:
                out[t].append(res)
    for t in wanted:
        out[t].sort(key=lambda r: str(r.get("id", "")))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--package", help="package directory (default: node_modules/hl7.fhir.r4.examples)")
    ap.add_argument("--types", help="comma-separated resource types (default: Sammen's 17)")
    ap.add_argument("--write-sample", metavar="DIR", help="write examples to DIR as Type-id.json")
    ap.add_argument("--per-type", type=int, default=3, help="examples per type for --write-sample")
    args = ap.parse_args(argv)

    types = args.types.split(",") if args.types else TYPES
    examples = load(types, args.package)
    for t in types:
        ids = [str(r.get("id")) for r in examples[t]]
        print(f"{t:<22} {len(ids):>3}  {' '.join(ids)}")
    if args.write_sample:
        out = Path(args.write_sample)
        out.mkdir(parents=True, exist_ok=True)
        n = 0
        for t in types:
            for res in examples[t][: args.per_type]:
                (out / f"{t}-{res.get('id')}.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
                n += 1
        print(f"wrote {n} examples to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
