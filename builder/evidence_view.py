"""`invoke evidence`: what was verified for exactly the image a reference names, shown: the evidence
artifacts attached to it in its registry, the records that count beside those that do not, each with its
reason; an index shows the evidence of each of its Windows entries.

``pipeline.evidence_task`` reads the flags and hands ``show`` the reference.
"""

from __future__ import annotations

import json

from .errors import InputError, TargetFailed

FORMATS = ("text", "json")
COLUMNS = (("check", "check"), ("status", "status"), ("runner", "runner"),
           ("host os.version", "host_os_version"), ("isolation", "isolation"),
           ("engine", "engine_version"), ("date", "started_at"))


def show(client, reference, trusted: tuple, format: str = "text") -> None:
    """The evidence of the image ``reference`` names (in ``format``, one of ``FORMATS``); exit 1 when an
    artifact could not be read."""
    from . import evidence
    from .registry import INDEX_TYPES, MANIFEST_TYPES, Reference, image_index

    digest = reference.digest
    if digest is None:
        digest = client.head_manifest(reference)
        if digest is None:
            raise InputError(f"{reference}: no such tag in registry {reference.registry}")
    shown = Reference(reference.registry, reference.repository, reference.tag, digest)
    found = evidence.subject_of(client, Reference(reference.registry, reference.repository, None, digest))
    if found is None:
        raise InputError(f"{shown}: no such manifest in registry {reference.registry}")
    subject, body = found
    repo = Reference(reference.registry, reference.repository)
    document = {"reference": str(shown), "subject": subject.to_json()}
    if subject.media_type in INDEX_TYPES:
        entries = [m for m in image_index(body, f"{shown}: the index").get("manifests", [])
                   if m.get("platform", {}).get("os") == "windows" and m["mediaType"] in MANIFEST_TYPES]
        document["images"] = [{"platform": m.get("platform", {}),
                               **_evidence_json(evidence.load_evidence(client, repo, m["digest"], trusted),
                                                evidence.Descriptor(m["mediaType"], m["digest"], m["size"]))}
                              for m in entries]
        parts = document["images"]
    else:
        document.update(_evidence_json(evidence.load_evidence(client, repo, digest, trusted), subject))
        parts = [document]
    problems = [p for part in parts for p in part["problems"]]
    if format == "json":
        print(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
    elif "images" in document:
        _print_index_evidence(repo, shown, list(document["images"]))
    else:
        _print_evidence(Reference(repo.registry, repo.repository, reference.tag, digest), document)
    if problems:
        raise TargetFailed(f"{len(problems)} evidence artifact(s) of {shown} could not be read; see the warnings")


def _evidence_json(found, subject) -> dict:
    """One image's evidence as `invoke evidence --format json` shows it; every string redacted again."""
    from .secrets import redact

    def shown(record: dict) -> dict:
        return {k: redact(v) if isinstance(v, str) else v for k, v in record.items()}

    artifacts = [{**a.descriptor, "records": None if a.records is None else len(a.records), "problem": a.problem,
                  "held": len(a.held), "signer": a.signer, "keyid": a.keyid, "reason": a.reason}
                 for a in found.artifacts]
    not_counted = [{"artifact": n.artifact, "reason": redact(n.reason), "records": [shown(r) for r in n.records]}
                   for n in found.not_counted]
    return {"subject": subject.to_json(), "via": found.via, "artifacts": artifacts,
            "records": [shown(r) for r in found.records], "not_counted": not_counted,
            "problems": [redact(p) for p in found.problems]}


def _print_evidence(reference, part: dict) -> None:
    """One image's records as aligned columns, counted and not counted side by side (the last column says
    which, and why not), then a summary line (or that nothing is verified)."""
    import sys

    for problem in part["problems"]:
        print(f"warning: {problem}", file=sys.stderr)
    records = part["records"]
    refused = [(record, entry["reason"]) for entry in part.get("not_counted", []) for record in entry["records"]]
    if not records and not refused:
        print(f"no evidence for {reference}: nothing verified yet")
        return
    rows = [[title for title, _ in COLUMNS] + ["counted"]]
    rows += [[str(r.get(key) or "-") for _, key in COLUMNS] + ["yes"] for r in records]
    rows += [[str(r.get(key) or "-") for _, key in COLUMNS] + [f"no: {why}"] for r, why in refused]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print(f"evidence for {reference} ({len(part['artifacts'])} artifact(s), found through the {part['via']})")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    counts: dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "none"
    print(f"{len(records)} record{'s' if len(records) != 1 else ''} counted: {summary}"
          + (f"; {len(refused)} not counted" if refused else ""))
    if not records:
        print(f"nothing verified for {reference}: no record counts")


def _print_index_evidence(repo, shown, images: list[dict]) -> None:
    from .reference import Reference

    print(f"{shown} is an index with {len(images)} Windows image(s)")
    for image in images:
        digest = image["subject"]["digest"]
        print(f"\n== windows/{image['platform'].get('architecture', '?')} "
              f"{image['platform'].get('os.version', '(no os.version)')} {digest} ==")
        _print_evidence(Reference(repo.registry, repo.repository, None, digest), image)
    verified = sum(1 for image in images if image["records"])
    total = sum(len(image["records"]) for image in images)
    print(f"\n{total} record{'s' if total != 1 else ''} for {verified} of {len(images)} Windows image(s)")
