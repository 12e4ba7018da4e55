"""What this runner has verified already: `invoke smoke --skip-verified` leaves out the images whose every
smoke check passed here (this runner, this host's os.version, this isolation), as the counted evidence in
their registry says (see builder/evidence.py).
"""

from __future__ import annotations

from . import checks, compat, plan
from .progress import Progress


def unverified(plans: list[plan.PlannedTarget], client, repo, runner: str, facts: compat.HostFacts,
               progress: Progress, trusted: tuple = ()) -> list[plan.PlannedTarget]:
    """The plans whose image (the digest its tag has now) has no passing run of every smoke check on this runner,
    this host (its full os.version: a patched host checks again) and this isolation in its counted evidence
    (signed by a ``trusted`` key, about this digest and target; see builder/evidence.py)."""
    from . import evidence

    host = str(facts.build) if facts.build else None
    keep = []
    for planned in plans:
        here = planned.smoke_here
        digest = client.head_manifest(repo.with_tag(planned.target.id)) if here else None
        if here is None or digest is None:
            keep.append(planned)  # not runnable here, or not published: the checks say so
            continue
        newest: dict[str, dict] = {}
        for record in evidence.read_evidence(client, repo, digest, trusted=trusted, target=planned.target.id):
            if (record["image_digest"], record["runner"], record.get("host_os_version"), record.get("isolation")) \
                    == (digest, runner, host, here.isolation) and (
                    record["check"] not in newest or record["started_at"] > newest[record["check"]]["started_at"]):
                newest[record["check"]] = record
        wanted = checks.smoke_names(planned.target.os)
        if all(name in newest and newest[name]["status"] == checks.PASS for name in wanted):
            when = max(newest[name]["started_at"] for name in wanted)
            progress.skip(planned.target.id, f"verified {when} on {runner} (host {host or facts.os_type}, "
                                             f"{here.isolation or 'default'} isolation) for {digest[:19]}")
        else:
            keep.append(planned)
    return keep
