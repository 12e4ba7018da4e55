"""The answers of the published table: `invoke table` (the compatibility table in a format) and
`invoke which` (for one node, per Argo version, the image to use, how, how sure, and the entry of the one
tag each runtime takes), with the digests the published tags have now when the registry answers in time.

The pipeline checks the flags (``pipeline.table_task``, ``pipeline.which_task``) and calls ``table`` or
``answer`` here; the words and layouts are ``table_formats``'.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from . import matrix as matrix_mod
from . import report, targets
from .errors import InputError
from .matrix import Matrix
from .options import Flag, registry_client

TABLE_FORMATS = ("text", "markdown", "json", "html")


# All of which's digest lookups together get at most this long (the issue asks for at most 5 s): a registry that
# accepts connections and never answers costs the user this, not a timeout per tag, and `which` still answers
# within 6 s of being started on a loaded machine (interpreter start and imports take up to 2 s there).
LOOKUP_DEADLINE_S = 3.0


def table_model(matrix: str | None, db: str | None, argo: Flag, lookup: bool = False,
                 insecure_registry: Flag = None, notes: list[str] | None = None):
    """The matrix, and the table of the selected Argo versions from the store's records, naming the matrix's
    publish repository; with ``lookup``, with the digests its tags have now (see ``published_digests``; what kept
    them unknown goes into ``notes``)."""
    from . import store, table_formats
    from . import table as table_mod

    loaded = matrix_mod.load_matrix(matrix)
    wanted = [t.argo.tag for t in targets.select(loaded, "all", argo or "all")]
    connection = store.open_for_reading(Path(db) if db else None)
    publication = table_mod.Publication(loaded.registries.publish) if loaded.registries.publish else None
    if publication is not None and lookup:
        note = published_digests(publication, [t for t in all_windows_targets(loaded) if t.argo.tag in wanted],
                                 insecure_registry)
        if note and notes is not None:
            notes.append(note)
    model = table_formats.only_argo(table_mod.build_table(loaded, store.all_records(connection), publication), wanted)
    return loaded, model


def all_windows_targets(loaded: Matrix) -> list[targets.Target]:
    return [t for t in targets.all_targets(loaded) if t.is_windows]


_UNREACHABLE_WHY_RE = re.compile(r"failed after \d+ attempts? \((.{1,80}?)\); check")


def published_digests(publication, windows: list[targets.Target], insecure_registry: Flag = None,
                      deadline_s: float = LOOKUP_DEADLINE_S) -> str | None:
    """Fill ``publication`` with the digests its tags have now: a HEAD for each ``REPO:<argo>`` and per-base tag,
    one attempt each, all of them within ``deadline_s``. A registry that cannot be asked in time leaves them
    unknown (the answer is still the rules' and the records'): looking up is a help, not a condition. Returns the
    one short line saying why none was looked up, or None."""
    import threading

    from .errors import BuilderError, in_words
    from .reference import Reference

    repo = Reference.parse(publication.repository)
    # Each request may take longer than the deadline: the deadline below, not a request timeout, ends the wait.
    client = registry_client(insecure_registry, attempts=1, timeout_s=deadline_s + 2)
    found: dict[str, dict[str, str | None]] = {"indexes": {}, "images": {}}
    failure: list[str] = []

    def look_up() -> None:
        try:
            for argo in dict.fromkeys(t.argo.tag for t in windows):
                found["indexes"][argo] = client.head_manifest(repo.with_tag(argo))
            for target in windows:
                found["images"][target.id] = client.head_manifest(repo.with_tag(target.id))
        except BuilderError as exc:
            match = _UNREACHABLE_WHY_RE.search(str(exc))
            failure.append(match.group(1) if match else in_words(exc))
        except Exception as exc:  # noqa: BLE001 - a help, not a condition: any failure leaves the digests unknown
            failure.append(in_words(exc))

    # The lookups run in a thread of their own, given up (it is a daemon) when the deadline passes: the
    # transport's own timeouts apply per request, this one to all of them together.
    worker = threading.Thread(target=look_up, name="which-digest-lookup", daemon=True)
    worker.start()
    worker.join(deadline_s)
    skip = "--offline skips the lookup"
    # What was found before the deadline or the failure is used (a snapshot: a late answer changes nothing).
    publication.indexes.update(dict(found["indexes"]))
    publication.images.update(dict(found["images"]))
    got = sum(1 for d in (publication.indexes, publication.images) for v in d.values() if v)
    some = f" ({got} found before it)" if got else ""
    if worker.is_alive():
        return f"note: {repo.registry} did not answer within {deadline_s:g} s{some}; {skip}"
    if failure:
        return f"note: digests not looked up in {repo.registry} ({failure[0]}){some}; {skip}"
    return None


def table(matrix: str | None, db: str | None, argo: Flag, format: str) -> None:
    """The table of the selected Argo versions in ``format`` (one of ``TABLE_FORMATS``), on stdout."""
    from . import table_formats

    _, model = table_model(matrix, db, argo)
    if format == "text":
        table_formats.to_text(model, report.console())
    else:
        text = {"markdown": table_formats.to_markdown, "json": table_formats.to_json,
                "html": table_formats.to_html}[format](model)
        print(text, end="")


WHICH_FORMATS = ("text", "json", "helm")


def answer(node: str, argo: Flag = None, format: str = "text", matrix: str | None = None, db: str | None = None,
          flag: str = "--node", offline: bool = False, insecure_registry: Flag = None, verbose: bool = False) -> None:
    """For a node (a build, a release name or its node.kubernetes.io/windows-build label), per Argo version the
    image to use, how, how sure, and the entry of the one tag Docker Engine and containerd take."""
    from . import table as table_mod
    from . import table_formats

    loaded = matrix_mod.load_matrix(matrix)
    resolved = table_mod.resolve_node(loaded, node, flag)  # a bad spelling is exit 2 before the store is read
    if format == "helm":
        argo = argo or [loaded.newest_argo.tag]
        if isinstance(argo, (list, tuple)) and len(argo) != 1:
            raise InputError("--format helm sets one executor image: give one --argo (default: the newest)")
        if not loaded.registries.publish:
            raise InputError("--format helm needs the repository the images are published to: set registries.publish "
                             "in the matrix")
    notes: list[str] = []
    _, model = table_model(matrix, db, argo, lookup=not offline, insecure_registry=insecure_registry, notes=notes)
    resolutions = table_mod.resolve(model, resolved)
    for note in notes:
        print("\n".join(table_formats.wrap(note, report.text_width())), file=sys.stderr)
    node_warnings = {res.argo: _which_warnings(loaded, resolved, res) for res in resolutions}
    if format == "json":
        print(table_formats.which_json(resolved, resolutions, table_mod.oldest_image(model), node_warnings), end="")
    elif format == "helm":
        print(table_formats.which_helm(resolved, resolutions[0], loaded.registries.publish or ""), end="")
    else:
        print(table_formats.which_text(resolved, resolutions, model.hosts, width=report.text_width(),
                                       verbose=verbose, oldest=table_mod.oldest_image(model),
                                       note=table_formats.placeholder_note(model), notes=node_warnings))


def _which_warnings(loaded: matrix_mod.Matrix, node, resolution) -> list[str]:
    """node_notes' warnings for the image ``which`` prefers on the node: its os.version from the lock (with the
    revision) when the lock pins its base, else the build alone."""
    from . import node_notes

    row = resolution.preferred.row
    if row is None:  # no image runs on the node: nothing to warn about running one
        return []
    release = next((r for r in loaded.releases if r.name == row.base), None)
    locked = loaded.locked_base(release) if release is not None else None
    os_version = locked.os_version if locked is not None else row.os_version
    return node_notes.for_node(node.build, resolution.argo, os_version)

