"""Evidence that travels with the image: result records pushed beside it as an OCI artifact.

What was verified about an image (its ``results.Record``s: builds, smoke checks) is pushed to the
image's own repository as an artifact whose ``subject`` is the image's manifest, so that whoever
pulls ``REPO@sha256:...`` can ask the registry what was verified for exactly those bytes
(``invoke evidence``), wherever the image is copied with its referrers.

The artifact (OCI image spec v1.1, manifest.md):

- an image manifest with ``artifactType`` ``ARTIFACT_TYPE``; ``config`` is the empty descriptor
  (manifest.md, "Guidance for an Empty Descriptor": media type ``application/vnd.oci.empty.v1+json``,
  the 2-byte blob ``{}``, which is uploaded like any blob); when ``config`` is the empty value,
  ``artifactType`` MUST be set ("Guidelines for Artifact Usage": an artifact with content and no
  config of its own puts its content in ``layers`` and the empty descriptor in ``config``);
- one layer, ``ENVELOPE_TYPE``: a DSSE envelope whose payload is an in-toto Statement about the image
  holding the records (sorted, compact), signed (``builder/signing.py``). The first layout
  (``UNSIGNED_ARTIFACT_TYPE``, a ``RECORDS_TYPE`` layer: the records as a plain JSON array) is still
  read, to be shown as unsigned;
- ``subject``: the image's descriptor (manifest.md, ``subject``: a weak association the referrers
  API lists the manifest under);
- annotations ``org.opencontainers.image.created`` (annotations.md: RFC 3339; here the newest
  record's ``started_at``, so that it too follows from the records) and ``COUNT_ANNOTATION``.

Discovery (OCI distribution spec v1.1, spec.md):

- "Listing Referrers": ``GET /v2/<name>/referrers/<digest>`` answers an image index of the descriptors
  whose ``subject`` is the digest. No ``artifactType`` filter is asked for (both our layouts are
  wanted); the descriptors of our types are picked here. A 404 means the registry has no
  referrers API: the client MUST fall back to the referrers tag schema, and when the tag holds no
  valid index SHOULD assume there are no referrers (reported here, not fatal).
- "Pushing Manifests with Subject": a registry with the referrers API answers the manifest PUT with
  ``OCI-Subject: <subject digest>``. Without that header the client MUST maintain the list itself:
  pull the referrers tag (404: start from an empty index; anything but an image index: report a
  failure and stop), add a descriptor of the pushed manifest carrying its ``artifactType`` and all
  of its annotations, never twice, and push the index back to the tag.
- "Backwards Compatibility" / "Referrers Tag Schema": the tag is the digest's algorithm (up to 32
  characters), ``-``, and its encoded part (up to 64), any character a tag may not hold replaced by
  ``-``: ``sha256-<hex>``. Updating it is a read-modify-write the spec leaves to clients ("race
  conditions and data loss" are possible when two clients update it at once; docker-registry 2.8
  offers no conditional PUT): a lost update loses a listing, never an artifact, and the next push
  for that image lists the union again.

Signed (since ``ARTIFACT_TYPE`` v2): the layer is a DSSE envelope (``ENVELOPE_TYPE``) whose payload is an
in-toto Statement v1 about the image, its predicate the records (``builder/signing.py``). What counts
is decided on reading, never on pushing: an artifact's records count only when its envelope verifies
under a trusted key (``evidence.trusted_keys`` in matrix.yaml), the statement's subject is the digest
the artifact is attached to, and each record names that digest (and, when the reader knows it, that
target) and is not dated more than ``FUTURE_SLACK`` ahead of now. Everything else is kept in
``Evidence.not_counted`` with its reason, to be shown: unsigned (today's v1 artifacts, or an envelope
without signatures), untrusted key (its keyid), bad signature, subject mismatch, names another image or
target, dated in the future. Nothing is dropped silently and none of it is counted.

Records are deduplicated against what the registry already holds. Before pushing, the existing
evidence is read; an artifact is pushed only when the union of the existing and the new records
differs from what is there (only counted records are carried over: a push re-signs what it
trusts), and it holds that whole union, kept bounded: per (check, runner,
host_os_version, isolation, target) only the newest record. So a reader needs only the newest
artifact, and in referrers-tag mode the rewritten index drops the artifacts of ours it supersedes
(those whose records it holds); descriptors of other artifact types are kept untouched. With the
referrers API the superseded artifacts stay listed (deleting them is no business of a push): a
reader takes the union of every artifact with the same rule, which gives the same records.

Reading validates every record (``store.validate``); an artifact that is not one of ours of the
expected shape, or holds a bad record, is reported by digest and skipped, the others read. Artifact
manifests and layers are content-addressed, so they are cached by digest under
``cache.cache_root()/evidence`` (checked against their digest when read back): reading the evidence
of an image again costs the listing alone.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import signing, store
from .errors import DigestMismatch, InputError, ManifestUnknown, RegistryError
from .files import write_atomically
from .registry import OCI_INDEX, OCI_MANIFEST, Reference, RegistryClient, image_index, image_manifest, sha256_digest

ARTIFACT_TYPE = "application/vnd.argoexec-builder.evidence.v2+json"
ENVELOPE_TYPE = "application/vnd.dsse.envelope.v1+json"  # the layer: a DSSE envelope of an in-toto Statement
# Today's unsigned format (v1): listed by readers, never counted.
UNSIGNED_ARTIFACT_TYPE = "application/vnd.argoexec-builder.results.v1+json"
RECORDS_TYPE = "application/vnd.argoexec-builder.records.v1+json"  # v1's layer: a JSON array of records
OUR_TYPES = (ARTIFACT_TYPE, UNSIGNED_ARTIFACT_TYPE)
FUTURE_SLACK = store.FUTURE_SLACK  # a record dated further ahead of now never counts
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"
EMPTY_DESCRIPTOR = {"mediaType": EMPTY_TYPE, "digest": sha256_digest(EMPTY_BLOB), "size": len(EMPTY_BLOB)}
CREATED_ANNOTATION = "org.opencontainers.image.created"
COUNT_ANNOTATION = "io.argoexec-builder.records"
# What identifies "the same check of the same image on the same host": only the newest record of each is kept.
RECORD_IDENTITY = ("check", "runner", "host_os_version", "isolation", "target")
# Far more than the records of every check on every runner of one image; a layer beyond it is not read.
MAX_RECORDS_BYTES = 8 << 20
API = "referrers API"
TAG = "referrers tag"
# The spec's tag grammar (<tag-or-digest>): what the referrers tag replaces with "-".
_NOT_IN_TAG_RE = re.compile(r"[^A-Za-z0-9_.-]")

# (registry, repository) pairs whose registry answered 404 to the referrers API, per client: the
# probe is made once per repository for a client's life, not once per image.
_WITHOUT_API: weakref.WeakKeyDictionary[RegistryClient, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Descriptor:
    """What the artifact's ``subject`` names: the image manifest's media type, digest and size."""

    media_type: str
    digest: str
    size: int

    def to_json(self) -> dict:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


class Pushed(str):
    """The digest of the artifact that holds the image's evidence (a ``str``), and what the push did.

    ``changed`` is False when the registry already held every record (nothing was pushed; the digest
    is then the newest existing artifact, or '' if there is no evidence and no record was given);
    ``via`` says how the artifact is listed (``API`` or ``TAG``); ``superseded`` the artifacts of
    ours dropped from the referrers tag's index."""

    changed: bool
    via: str | None
    records: int
    superseded: tuple[str, ...]

    def __new__(cls, digest: str, changed: bool, via: str | None, records: int,
                superseded: tuple[str, ...] = ()) -> Pushed:
        made = super().__new__(cls, digest)
        made.changed, made.via, made.records, made.superseded = changed, via, records, superseded
        return made


@dataclass
class Artifact:
    """One artifact of ours found for the image: its descriptor, the records it holds and which of them
    count (``records``), or why it is unreadable (``problem``); who signed it (``signer``: the trusted key's
    name; ``keyid``) and why its records do not count (``reason``, for the whole artifact)."""

    descriptor: dict
    records: list[dict] | None = None
    problem: str | None = None
    held: list[dict] = field(default_factory=list)  # every record it holds, counted or not
    signer: str | None = None
    keyid: str | None = None
    reason: str | None = None
    not_evidence: bool = False  # listed as ours, but no evidence artifact for this image (see NotEvidence)


@dataclass(frozen=True)
class NotCounted:
    """Records found that do not count, and why (one reason per entry)."""

    artifact: str  # its digest
    reason: str
    records: tuple[dict, ...]

    def to_json(self) -> dict:
        return {"artifact": self.artifact, "reason": self.reason, "records": list(self.records)}


@dataclass
class Evidence:
    """Everything found for one image: where it was listed, each artifact, the records that count (newest per
    identity), the records that do not (with their reasons), and the artifacts that could not be read."""

    subject_digest: str
    via: str
    artifacts: list[Artifact] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    not_counted: list[NotCounted] = field(default_factory=list)

    @property
    def not_evidence(self) -> list[Artifact]:
        return [a for a in self.artifacts if a.not_evidence]


class NotEvidence(RegistryError):
    """A referrers entry with our artifactType whose manifest is no evidence artifact of this image (a plain
    image, another subject, no records layer, or gone): not ours to read, and dropped from our referrers tag
    (``drop_not_evidence``) so that it is reported once, not on every publish."""


# ---------------------------------------------------------------------------------------------
# The documents


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag of a digest: ``sha256:<hex>`` -> ``sha256-<hex>``."""
    algorithm, _, encoded = digest.partition(":")
    return _NOT_IN_TAG_RE.sub("-", f"{algorithm[:32]}-{encoded[:64]}")


def _moment(record: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(store.normalise_time(record["started_at"]).replace("Z", "+00:00"))


def _order(record: dict) -> tuple:
    return _moment(record), store.record_key(record)


def merge(records: Iterable[dict]) -> list[dict]:
    """The records, newest per ``RECORD_IDENTITY`` (ties by content, so any order gives the same), oldest first."""
    newest: dict[tuple, dict] = {}
    for record in records:
        identity = tuple(record.get(key) for key in RECORD_IDENTITY)
        kept = newest.get(identity)
        if kept is None or _order(record) > _order(kept):
            newest[identity] = record
    return sorted(newest.values(), key=_order)


def records_bytes(records: list[dict]) -> bytes:
    """The layer: the (merged, ordered) records as one compact JSON array, keys sorted."""
    return json.dumps(records, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def artifact_manifest(subject: Descriptor, records: list[dict], signer: signing.Signer | None = None,
                      name: str = "") -> tuple[bytes, bytes]:
    """(manifest bytes, layer bytes) of the artifact holding ``records`` (already merged) for ``subject``:
    signed by ``signer`` (the statement names the image ``name@digest``), or without one today's unsigned
    v1 layout (which no reader counts)."""
    if signer is None:
        layer, artifact_type, layer_type = records_bytes(records), UNSIGNED_ARTIFACT_TYPE, RECORDS_TYPE
    else:
        layer = signing.sign(signing.statement(name, subject.digest, records), signer)
        artifact_type, layer_type = ARTIFACT_TYPE, ENVELOPE_TYPE
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": EMPTY_DESCRIPTOR,
        "layers": [{"mediaType": layer_type, "digest": sha256_digest(layer), "size": len(layer)}],
        "subject": subject.to_json(),
        "annotations": {CREATED_ANNOTATION: store.normalise_time(records[-1]["started_at"]),
                        COUNT_ANNOTATION: str(len(records))},
    }
    return json.dumps(manifest, separators=(",", ":")).encode(), layer


def referrer_descriptor(manifest: bytes) -> dict:
    """The descriptor of an artifact manifest as a referrers list holds it: its artifactType and annotations."""
    document = json.loads(manifest)
    return {"mediaType": OCI_MANIFEST, "digest": sha256_digest(manifest), "size": len(manifest),
            "artifactType": document["artifactType"], "annotations": dict(document.get("annotations", {}))}


# ---------------------------------------------------------------------------------------------
# Finding and reading


def find_evidence(client: RegistryClient, repo: Reference, subject_digest: str) -> list[dict]:
    """The descriptors of our artifacts (signed or not) whose subject is ``subject_digest``, oldest first."""
    return _listing(client, repo, subject_digest)[1]


def _listing(client: RegistryClient, repo: Reference, subject_digest: str) -> tuple[str, list[dict], list[str]]:
    """(how it was listed, our descriptors, problems): the referrers API, else the referrers tag."""
    problems: list[str] = []
    index = None
    known_without = _WITHOUT_API.setdefault(client, set())
    if (repo.registry, repo.repository) not in known_without:
        # No artifactType filter: both our types are wanted (the unsigned ones to be shown as such).
        index = client.get_referrers(repo.registry, repo.repository, subject_digest)
        if index is None:
            known_without.add((repo.registry, repo.repository))
    via = API if index is not None else TAG
    if index is None:
        tag = repo.with_tag(referrers_tag(subject_digest))
        found = client.find_manifest(tag, accept=OCI_INDEX)
        if found is not None:
            body, media_type, _ = found
            try:
                if media_type != OCI_INDEX:
                    raise RegistryError(f"{tag} holds a {media_type}, not a referrers index")
                index = image_index(body, f"{tag}: the referrers index")
            except RegistryError as exc:
                problems.append(f"{exc}; taken as no evidence")  # the spec: assume there are no referrers
    ours = [m for m in (index or {}).get("manifests", []) if m.get("artifactType") in OUR_TYPES]
    ours.sort(key=lambda m: (str(m.get("annotations", {}).get(CREATED_ANNOTATION, "")), m["digest"]))
    return via, ours, problems


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def load_evidence(client: RegistryClient, repo: Reference, subject_digest: str,
                  trusted: tuple[signing.TrustedKey, ...] = (), target: str | None = None,
                  now: dt.datetime | None = None) -> Evidence:
    """Every artifact of ours for the image, each read (from the cache when it can be) and judged: which
    records count (see the module's docstring) and why the others do not. ``target``: the target the image
    is published as, when the caller knows it (a record naming another does not count)."""
    via, descriptors, problems = _listing(client, repo, subject_digest)
    evidence = Evidence(subject_digest, via, problems=problems)
    latest = (now or now_utc()) + FUTURE_SLACK
    gathered = []
    for descriptor in descriptors:
        artifact = Artifact(descriptor)
        try:
            _read_artifact(client, repo, subject_digest, descriptor, trusted, artifact)
        except (RegistryError, DigestMismatch) as exc:
            artifact.problem = str(exc)
            artifact.not_evidence = isinstance(exc, (NotEvidence, ManifestUnknown))
            evidence.problems.append(artifact.problem)
            evidence.artifacts.append(artifact)
            continue
        digest = descriptor["digest"]
        if artifact.reason is not None:
            reason = artifact.reason + (f" {artifact.keyid}" if artifact.reason == signing.UNTRUSTED and artifact.keyid
                                        else "")
            evidence.not_counted.append(NotCounted(digest, reason, tuple(artifact.held)))
            artifact.records = []
            evidence.artifacts.append(artifact)
            continue
        counted: list[dict] = []
        refused: dict[str, list[dict]] = {}
        for record in artifact.held:
            why = _record_refused(record, subject_digest, target, latest)
            if why:
                refused.setdefault(why, []).append(record)
            else:
                counted.append(record)
        for why, records in refused.items():
            evidence.not_counted.append(NotCounted(digest, why, tuple(records)))
        artifact.records = counted
        gathered.extend(counted)
        evidence.artifacts.append(artifact)
    evidence.records = merge(gathered)
    return evidence


def _record_refused(record: dict, subject_digest: str, target: str | None, latest: dt.datetime) -> str | None:
    """Why a record of a verified artifact does not count, or None."""
    if record.get("image_digest") != subject_digest:
        return f"names another image ({str(record.get('image_digest'))[:19]})"
    if target is not None and record.get("target") != target:
        return f"names another target ({str(record.get('target'))[:80]}, not {target})"
    if _moment(record) > latest:
        return f"dated in the future ({store.normalise_time(record['started_at'])})"
    return None


def read_evidence(client: RegistryClient, repo: Reference, subject_digest: str,
                  problems: list[str] | None = None, trusted: tuple[signing.TrustedKey, ...] = (),
                  target: str | None = None) -> list[dict]:
    """The records that count for the image (newest per check, runner, host, isolation and target).

    An artifact that cannot be read is skipped; why is appended to ``problems`` when given."""
    evidence = load_evidence(client, repo, subject_digest, trusted, target)
    if problems is not None:
        problems.extend(evidence.problems)
    return evidence.records


def _read_artifact(client: RegistryClient, repo: Reference, subject_digest: str, descriptor: dict,
                   trusted: tuple[signing.TrustedKey, ...], artifact: Artifact) -> None:
    """Fill ``artifact`` (held records, signer or reason): RegistryError when it is no artifact of ours
    of the expected shape, or holds a record that is no record."""
    digest = descriptor["digest"]
    where = f"{repo.registry}/{repo.repository}@{digest}"
    reference = Reference(repo.registry, repo.repository, None, digest)
    manifest_bytes = _cached(digest, lambda: client.get_manifest(reference, accept=OCI_MANIFEST)[0])
    try:
        manifest = image_manifest(manifest_bytes, f"{where}: the evidence manifest")
    except RegistryError as exc:
        raise NotEvidence(str(exc)) from None
    artifact_type = manifest.get("artifactType")
    if artifact_type not in OUR_TYPES:
        raise NotEvidence(f"{where}: artifactType {str(artifact_type)[:80]!r} is not {ARTIFACT_TYPE}")
    subject = manifest.get("subject")
    if not isinstance(subject, dict) or subject.get("digest") != subject_digest:
        raise NotEvidence(f"{where}: its subject is not {subject_digest}")
    layer_type = ENVELOPE_TYPE if artifact_type == ARTIFACT_TYPE else RECORDS_TYPE
    layers = [layer for layer in manifest.get("layers", []) if layer["mediaType"] == layer_type]
    if len(layers) != 1:
        raise NotEvidence(f"{where}: expected one {layer_type} layer, found {len(layers)}")
    layer = layers[0]
    if layer["size"] > MAX_RECORDS_BYTES:
        raise RegistryError(f"{where}: its records layer is {layer['size']} bytes, more than records ever take")
    # Streamed, refused as soon as it passes the size its descriptor gives (client.stream_blob), digest checked.
    data = _cached(layer["digest"], lambda: client.get_blob(repo.registry, repo.repository, layer["digest"],
                                                            size=layer["size"]))
    if artifact_type == ARTIFACT_TYPE:
        opened = signing.open_envelope(data, subject_digest, trusted)
        if opened.records is None:
            raise RegistryError(f"{where}: its layer is {opened.reason}")
        records = opened.records
        artifact.signer, artifact.keyid, artifact.reason = opened.signer, opened.keyid, opened.reason
    else:
        try:
            records = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise RegistryError(f"{where}: its records layer is not UTF-8 JSON") from None
        if not isinstance(records, list):
            raise RegistryError(f"{where}: its records layer is not a JSON array")
        artifact.reason = signing.UNSIGNED
    for number, record in enumerate(records):
        problem = store.validate(record)
        if problem:
            raise RegistryError(f"{where}: record {number}: {problem}")
    artifact.held = records


# -- the cache of artifact manifests and layers, by digest

def cache_folder() -> Path:
    from .cache import cache_root

    return cache_root() / "evidence" / "sha256"


def _cached(digest: str, fetch: Callable[[], bytes]) -> bytes:
    """The bytes of ``digest``: from the cache when they are there and still match it, else fetched
    (the client checks the digest) and kept. The cache is a saving, never a source of errors."""
    path = cache_folder() / digest.partition(":")[2]
    try:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() == path.name:
            return data
    except OSError:
        pass
    data = fetch()
    _keep(data)
    return data


def _keep(data: bytes) -> None:
    path = cache_folder() / hashlib.sha256(data).hexdigest()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# Pushing


def push_evidence(client: RegistryClient, repo: Reference, subject: Descriptor, records: list[dict],
                  signer: signing.Signer, say: Callable[[str], None] | None = None, existing: Evidence | None = None,
                  dry_run: bool = False, trusted: tuple[signing.TrustedKey, ...] | None = None,
                  target: str | None = None) -> Pushed:
    """Attach ``records`` to the image ``subject`` in ``repo``, signed by ``signer``; see the module's docstring.

    Each record must be one ``store.validate`` accepts (InputError naming it otherwise). Blobs are
    pushed first, then the manifest by digest, then (without ``OCI-Subject`` in the answer) the
    referrers tag's index. ``existing``: the image's evidence as ``load_evidence`` just read it (else it is
    read here with ``trusted`` (default: the signer's own key) and ``target``); only its counted records are
    carried into the new artifact.
    ``dry_run``: decide, say, and push nothing."""
    say = say or (lambda line: None)
    for number, record in enumerate(records):
        problem = store.validate(record)
        if problem:
            raise InputError(f"evidence for {subject.digest}: record {number}: {problem}")
    if existing is None:
        keys = (signer.trusted(),) if trusted is None else trusted
        existing = load_evidence(client, repo, subject.digest, keys, target)
    for problem in existing.problems:
        say(f"warning: {problem}")
    merged = merge([*existing.records, *records])
    # What a reader counts in full: an artifact the new one replaces.
    whole = [a for a in existing.artifacts
             if a.records is not None and a.reason is None and len(a.records) == len(a.held)]
    if {store.record_key(r) for r in merged} == {store.record_key(r) for r in existing.records}:
        newest = whole[-1].descriptor["digest"] if whole else ""
        say(f"evidence for {subject.digest}: nothing new ({len(merged)} records already there)")
        return Pushed(newest, False, existing.via if whole else None, len(merged))
    manifest, layer = artifact_manifest(subject, merged, signer, f"{repo.registry}/{repo.repository}")
    if dry_run:
        say(f"evidence {sha256_digest(manifest)} for {subject.digest}: {len(merged)} records would be pushed")
        return Pushed(sha256_digest(manifest), True, None, len(merged))
    for blob in (EMPTY_BLOB, layer):
        state = client.push_blob(repo.registry, repo.repository, sha256_digest(blob), len(blob),
                                  functools.partial(bytes, blob))
        say(f"{sha256_digest(blob)[:19]} {state}")
    digest = sha256_digest(manifest)
    _, answer = client.put_manifest_answer(Reference(repo.registry, repo.repository, None, digest), manifest,
                                           OCI_MANIFEST)
    for written in (manifest, layer):
        _keep(written)  # what this client wrote, it need not read back
    superseded = tuple(a.descriptor["digest"] for a in [*whole, *existing.not_evidence]
                       if a.descriptor["digest"] != digest)
    signed = f"signed by {signer.keyid[:19]}"
    if answer.get("OCI-Subject", "").strip() == subject.digest:
        _WITHOUT_API.setdefault(client, set()).discard((repo.registry, repo.repository))
        say(f"evidence {digest} for {subject.digest}: {len(merged)} records, {signed}, listed by the registry's "
            "referrers API")
        return Pushed(digest, True, API, len(merged))
    _update_referrers_tag(client, repo, subject.digest, referrer_descriptor(manifest), set(superseded))
    say(f"evidence {digest} for {subject.digest}: {len(merged)} records, {signed}, listed in "
        f"{referrers_tag(subject.digest)}")
    return Pushed(digest, True, TAG, len(merged), superseded)


def drop_not_evidence(client: RegistryClient, repo: Reference, found: Evidence,
                      say: Callable[[str], None] | None = None) -> list[str]:
    """Remove from the image's referrers tag the entries of ours that are no evidence artifact (NotEvidence),
    saying so once; their digests. A registry with the referrers API keeps its own list: nothing to drop."""
    dropped = [a.descriptor["digest"] for a in found.not_evidence]
    if not dropped or found.via != TAG:
        return []
    _update_referrers_tag(client, repo, found.subject_digest, None, set(dropped))
    for digest in dropped:
        (say or (lambda line: None))(f"{referrers_tag(found.subject_digest)}: dropped {digest}, listed as evidence "
                                     "but no evidence artifact of this image")
    return dropped


def _update_referrers_tag(client: RegistryClient, repo: Reference, subject_digest: str, descriptor: dict | None,
                          superseded: set[str]) -> None:
    """Add ``descriptor`` (if any) to the referrers tag's index, dropping the artifacts of ours it supersedes."""
    tag = repo.with_tag(referrers_tag(subject_digest))
    found = client.find_manifest(tag, accept=OCI_INDEX)
    if found is None:
        index: dict = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    else:
        body, media_type, _ = found
        if media_type != OCI_INDEX:
            raise RegistryError(f"{tag} holds a {media_type}, not a referrers index; not overwriting it")
        index = image_index(body, f"{tag}: the referrers index")
    entries = [m for m in index.get("manifests", [])
               if not (m.get("artifactType") in OUR_TYPES and m.get("digest") in superseded)]
    if descriptor is not None and not any(m.get("digest") == descriptor["digest"] for m in entries):
        entries.append(descriptor)
    index = {**index, "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    body = json.dumps(index, separators=(",", ":")).encode()
    if found is not None and found[2] == sha256_digest(body):
        return
    client.put_manifest(tag, body, OCI_INDEX)


def subject_of(client: RegistryClient, reference: Reference) -> tuple[Descriptor, bytes] | None:
    """The descriptor (and bytes) of the manifest ``reference`` names, or None if the registry has none."""
    found = client.find_manifest(reference)
    if found is None:
        return None
    body, media_type, digest = found
    return Descriptor(media_type, digest, len(body)), body

