"""`invoke publish`, and the records it reads: the index tags first (the per-base digests they find say which
records count), the evidence exchanged with the registry (what counts is imported, what it lacks is pushed,
signed), then the table (Markdown, JSON, HTML, README section) from every record of the published digests.

The flags are read by ``options.publish_run``; ``pipeline.publish_task`` hands them here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from . import checks
from .errors import InputError, TargetFailed, Unreachable
from .network import with_next_step
from .options import PublishRun, registry_client, trusted_keys
from .progress import Progress


def import_results(db: str | None, dirs: Iterable[str], dry_run: bool = False):
    """Import result records into the results database (``dry_run``: into a copy in memory); print what happened."""
    from . import store

    missing = [d for d in dirs if not Path(d).exists()]
    if missing:  # before the database is opened: bad input creates nothing
        raise InputError(f"{missing[0]}: no such folder; pass the folders that hold result records")
    path = Path(db) if db else store.DEFAULT_DB
    connection = store.scratch_copy(path) if dry_run else store.connect(path)
    imported = store.import_paths(connection, [Path(d) for d in dirs])
    for problem in imported.problems:
        print(f"skipped: {problem}")
    for note in imported.notes:
        print(f"note: {note}")
    print(f"imported {imported.imported} record{'s' if imported.imported != 1 else ''} ({imported.duplicates} "
          f"already known, {len(imported.problems)} skipped)")
    if imported.imported + imported.duplicates + len(imported.problems) == 0:
        print(f"warning: no *.json records under {', '.join(map(str, dirs))}")
    return connection, imported


def malformed(problems: list[str]) -> None:
    if problems:
        raise TargetFailed(f"{len(problems)} result record(s) were malformed and skipped; see above")


def publish(run: PublishRun) -> None:
    """Publish as ``run`` says. ``run.dry_run``: the same reads and decisions, said as what would be written;
    nothing is written anywhere."""
    from . import store, table_formats
    from . import table as table_mod
    from .errors import IndexIncomplete

    loaded, repo, dry_run = run.matrix, run.repo, run.dry_run
    # Every input is checked before anything is written.
    client = registry_client(run.insecure_registry) if repo is not None else None
    trusted = trusted_keys(loaded)
    signer = None
    if repo is not None:
        from .signing import signer_from_environment

        signer = signer_from_environment()
    table_formats.check_readme(run.readme)
    imported = None
    if run.results:
        connection, imported = import_results(run.db, run.results, dry_run)
    else:
        path = Path(run.db) if run.db else store.DEFAULT_DB
        connection = store.scratch_copy(path) if dry_run else store.connect(path)
    incomplete: list[str] = []
    evidence_problems: list[str] = []
    publication = None
    if repo is not None:
        progress = Progress()
        publication = table_mod.Publication(str(repo))
        images = _publish_indexes(run, client, publication, incomplete, progress)
        evidence_problems = exchange_evidence(client, repo, images, connection, progress, dry_run, signer, trusted)
    elif loaded.registries.publish:
        publication = table_mod.Publication(loaded.registries.publish)
    model = table_mod.build_table(loaded, store.all_records(connection), publication)
    try:
        written = table_formats.write_outputs(model, Path(run.docs), run.readme, dry_run)
    except OSError as exc:
        raise InputError(f"--docs {run.docs}: cannot write there ({exc.strerror or exc})") from None
    for path, changed in written:
        print(f"{('would write' if dry_run else 'wrote') if changed else 'unchanged'} {path}")
    if dry_run:
        print("dry run: nothing was written (no tag, no evidence, no file, no database)")
    if incomplete:
        for line in incomplete[:-1]:
            print(f"error: {line}")
        raise IndexIncomplete(incomplete[-1])
    if imported is not None:
        malformed(imported.problems)
    if evidence_problems:
        raise TargetFailed(f"{len(evidence_problems)} evidence artifact(s) could not be read; see the warnings above")


def _publish_indexes(run: PublishRun, client, publication, incomplete: list[str], progress: Progress) -> list:
    """The index tag of each selected Argo version; the per-base entries found, each a published image the table
    has a row for (``publication`` is given their digests, ``incomplete`` what an index lacks)."""
    from .errors import IndexIncomplete
    from .index_tag import publish_index

    loaded, repo, versions = run.matrix, run.repo, run.versions
    if repo is None:  # PublishRun has a repository whenever index tags are written (publish --to)
        raise ValueError("_publish_indexes: no repository")
    images: list = []
    for tag in dict.fromkeys(t.argo.tag for t in versions):
        expected = tuple(t.id for t in versions if t.argo.tag == tag and t.is_windows)
        try:
            published = publish_index(client, loaded, repo, tag, progress, with_linux=not run.no_linux,
                                      expected=expected, partial=run.partial, dry_run=run.dry_run)
        except Unreachable as exc:
            raise with_next_step(exc, loaded, publishing=True) from None
        except IndexIncomplete as exc:
            incomplete.append(str(exc))
            # The table says what is there: the index as it was, the per-base tags as they are.
            publication.indexes[tag] = client.head_manifest(repo.with_tag(tag))
            images.extend(e for e in exc.entries if e.target)
            continue
        publication.indexes[tag] = published.digest
        images.extend(e for e in published.entries if e.target)
        state = ("would be written" if run.dry_run else "written") if published.changed else "unchanged"
        print(f"{published.reference}@{published.digest} ({len(published.entries)} entries, {state})")
    publication.images.update({e.target: e.digest for e in images})
    return images


def exchange_evidence(client, repo, images: list, connection, progress: Progress, dry_run: bool = False,
                      signer=None, trusted: tuple = ()) -> list[str]:
    """For each published image: import the evidence its registry keeps that counts (signed by a ``trusted`` key,
    about that digest and target; what does not count is said, never imported), so nothing verified is
    forgotten when a runner reports nothing tonight; then, with a ``signer``, push the records of its digest
    the registry lacks, signed. Without one, nothing is pushed, and that is said once."""
    from . import evidence, store
    from .signing import SIGNING_KEY_ENV

    problems: list[str] = []
    progress.begin(f"evidence in {repo}")
    pushed = 0
    if signer is None:
        progress.line(f"no evidence pushed: ${SIGNING_KEY_ENV} is not set (publish signs what it pushes)")
    elif signer.keyid not in {key.keyid for key in trusted}:
        progress.line(f"warning: the signing key {signer.keyid} is not in evidence.trusted_keys: what is pushed "
                      "will not count")
    known: dict[tuple[str, str], list[dict]] = {}
    for record in store.all_records(connection):
        known.setdefault((record["target"], record["image_digest"]), []).append(record)
    for entry in images:
        found = evidence.load_evidence(client, repo, entry.digest, trusted, entry.target)
        for problem in found.problems:
            progress.line(f"warning: {problem}")
        # An entry that is no evidence artifact at all is reported here once and dropped from the referrers
        # tag (or by the push below): it does not fail this publish, nor every later one.
        foreign = {a.problem for a in found.not_evidence}
        if not dry_run:
            evidence.drop_not_evidence(client, repo, found, progress.line)
        problems.extend(p for p in found.problems if p not in foreign or found.via != evidence.TAG)
        for refused in found.not_counted:
            progress.line(f"not counted: {len(refused.records)} record(s) of {refused.artifact[:19]} for "
                          f"{entry.target}: {refused.reason}")
        if found.records:
            store.import_records(connection, found.records, f"evidence of {entry.target}")
        ours = known.get((entry.target, entry.digest), [])
        if not ours or signer is None:
            continue
        subject = evidence.Descriptor(entry.media_type, entry.digest, entry.size)
        result = evidence.push_evidence(client, repo, subject, [_present(r) for r in ours], signer,
                                        say=progress.line, existing=found, dry_run=dry_run)
        pushed += int(result.changed)
    progress.end(f"evidence in {repo}", checks.PASS if not problems else checks.FAIL,
                 f"{len(images)} images, {pushed} with new evidence" + (" (would be pushed)" if dry_run else ""))
    return problems


def _present(record: dict) -> dict:
    """A stored record as the tool writes one (results.Record.to_json leaves out a null ``argoexec`` and ``node``)."""
    return {k: v for k, v in record.items() if not (k in ("argoexec", "node") and v is None)}
