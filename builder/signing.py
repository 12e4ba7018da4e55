"""Signed evidence: result records as an in-toto Statement in a DSSE envelope, signed and verified with keys.

The format is standard, so that anyone can check it with other tools:

- the payload is an in-toto Statement v1 (in-toto/attestation, spec/v1/statement.md): ``_type``
  ``https://in-toto.io/Statement/v1``; ``subject``: one resource descriptor, the image (``name`` its
  repository, ``digest`` ``{"sha256": hex}``); ``predicateType`` ``PREDICATE_TYPE``; ``predicate``
  ``{"records": [...]}``;
- the envelope is DSSE v1 (secure-systems-lab/dsse, envelope.md and protocol.md): ``payloadType``
  ``application/vnd.in-toto+json``, ``payload`` base64, ``signatures`` ``[{"keyid", "sig"}]``; the
  signature is over the pre-authentication encoding ``"DSSEv1" SP len(type) SP type SP len(body) SP
  body``. securesystemslib (``securesystemslib.dsse.Envelope``, ``signer.CryptoSigner``,
  ``signer.SSlibKey``) does the encoding, signing and verifying; nothing here is a primitive of its own.

Keys are PEM files: a private key (PKCS#8 or the traditional forms ``cryptography`` reads) to sign,
public keys (SubjectPublicKeyInfo) to trust. ECDSA P-256 (signatures with SHA-256, DER-encoded, the
``ecdsa-sha2-nistp256`` scheme) and Ed25519 are accepted. A key's ``keyid`` (in the envelope, and its
fingerprint wherever one is shown) is ``sha256:`` and the SHA-256 of its DER SubjectPublicKeyInfo:
``openssl pkey -pubin -in key.pub -outform DER | sha256sum`` prints the same. The keyid is a hint, never
trusted: a signature counts only when a trusted key verifies it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import UnverifiedSignatureError
from securesystemslib.signer import CryptoSigner, Signature, SSlibKey

from .errors import InputError
from .files import FileRefused, read_small_text

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "urn:argoexec-builder:results:v1"
SIGNING_KEY_ENV = "ARGOEXEC_BUILDER_SIGNING_KEY"
MAX_KEY_BYTES = 64 * 1024

# Why an envelope's records do not count (shown by `invoke evidence`, never counted).
UNSIGNED = "unsigned"
UNTRUSTED = "untrusted key"
BAD_SIGNATURE = "bad signature"
SUBJECT_MISMATCH = "subject mismatch"
NOT_A_STATEMENT = "not an in-toto statement of records"


def _der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public_key) -> str:
    """``sha256:<hex>`` of the key's DER SubjectPublicKeyInfo: its keyid."""
    return "sha256:" + hashlib.sha256(_der(public_key)).hexdigest()


def _supported(key, where: str) -> None:
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InputError(f"{where}: an ECDSA key on {key.curve.name}; expected P-256 (secp256r1) or Ed25519")
        return
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return
    raise InputError(f"{where}: a {type(key).__name__.lstrip('_')}; expected an ECDSA P-256 or Ed25519 key")


def _read_pem(path: Path, where: str) -> bytes:
    try:
        return read_small_text(path, MAX_KEY_BYTES).encode("ascii")
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    except (FileRefused, OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
        raise InputError(f"{where}: cannot read it ({reason}); expected a PEM key file") from None


@dataclass(frozen=True)
class TrustedKey:
    """A public key whose signatures count, and where it came from (shown as the signer)."""

    name: str  # the file as the matrix names it
    keyid: str
    key: SSlibKey


def _public(public_key, keyid: str) -> SSlibKey:
    return SSlibKey.from_crypto(public_key, keyid=keyid)


def load_public_key(path: Path, name: str | None = None, where: str | None = None) -> TrustedKey:
    """A trusted key from a PEM public key file; InputError (one line naming ``where``) if it is none."""
    where = where or str(path)
    data = _read_pem(path, where)
    try:
        public_key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        if b"PRIVATE KEY" in data:
            raise InputError(f"{where}: a private key; trust the PUBLIC key (openssl pkey -in KEY -pubout)") from None
        raise InputError(f"{where}: not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    _supported(public_key, where)
    keyid = fingerprint(public_key)
    return TrustedKey(name or str(path), keyid, _public(public_key, keyid))


def load_trusted_keys(paths: tuple[tuple[str, Path, str], ...]) -> tuple[TrustedKey, ...]:
    """The trusted keys from (name, path, where) triples, as the matrix lists them."""
    return tuple(load_public_key(path, name, where) for name, path, where in paths)


@dataclass(frozen=True)
class Signer:
    keyid: str
    signer: CryptoSigner

    def trusted(self) -> TrustedKey:
        """Its own public key, as a trusted key."""
        return TrustedKey("the signing key", self.keyid, self.signer.public_key)


def load_signer(path: str | os.PathLike, where: str | None = None) -> Signer:
    """The signer of a PEM private key file (not encrypted: the nightly holds it in a secret)."""
    where = where or f"${SIGNING_KEY_ENV} {path}"
    data = _read_pem(Path(path), where)
    try:
        private_key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InputError(f"{where}: the key is encrypted; give an unencrypted PEM private key") from None
    except (ValueError, UnsupportedAlgorithm):
        raise InputError(f"{where}: not a PEM private key (-----BEGIN PRIVATE KEY-----)") from None
    _supported(private_key, where)
    keyid = fingerprint(private_key.public_key())
    return Signer(keyid, CryptoSigner(private_key, _public(private_key.public_key(), keyid)))


def signer_from_environment(environ: dict[str, str] | None = None) -> Signer | None:
    """The signer ``ARGOEXEC_BUILDER_SIGNING_KEY`` names, or None when it is unset or empty."""
    path = (os.environ if environ is None else environ).get(SIGNING_KEY_ENV, "").strip()
    return load_signer(path) if path else None


# ---------------------------------------------------------------------------------------------
# Statements and envelopes


def statement(name: str, digest: str, records: list[dict]) -> dict:
    """The in-toto Statement of ``records`` about the image ``name@digest``."""
    algorithm, _, encoded = digest.partition(":")
    return {"_type": STATEMENT_TYPE, "subject": [{"name": name, "digest": {algorithm: encoded}}],
            "predicateType": PREDICATE_TYPE, "predicate": {"records": records}}


def sign(document: dict, signer: Signer) -> bytes:
    """The DSSE envelope (JSON bytes, keys sorted) of ``document`` signed by ``signer``."""
    payload = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    envelope = Envelope(payload, PAYLOAD_TYPE, {})
    envelope.sign(signer.signer)
    return json.dumps(envelope.to_dict(), sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Opened:
    """What an envelope says, and whether it counts: ``records`` always (to show them), ``signer`` the
    trusted key that verified it, or ``reason`` (with ``keyid`` for an untrusted key) why it does not count."""

    records: list | None = None
    signer: str | None = None
    keyid: str | None = None
    reason: str | None = None

    @property
    def counted(self) -> bool:
        return self.reason is None


def _b64(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def open_envelope(data: bytes, subject_digest: str, trusted: tuple[TrustedKey, ...]) -> Opened:
    """Read a DSSE envelope of records: verified under a trusted key, about ``subject_digest``."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Opened(reason="not a DSSE envelope (not UTF-8 JSON)")
    if not isinstance(document, dict) or document.get("payloadType") != PAYLOAD_TYPE:
        return Opened(reason=f"not a DSSE envelope of {PAYLOAD_TYPE}")
    payload = _b64(document.get("payload"))
    if payload is None:
        return Opened(reason="not a DSSE envelope (its payload is not base64)")
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return Opened(reason=NOT_A_STATEMENT)
    predicate = body.get("predicate") if isinstance(body, dict) else None
    records = predicate.get("records") if isinstance(predicate, dict) else None
    if not isinstance(body, dict) or body.get("_type") != STATEMENT_TYPE or \
            body.get("predicateType") != PREDICATE_TYPE or not isinstance(records, list):
        return Opened(reason=NOT_A_STATEMENT)
    opened = Opened(records=records)
    signatures = document.get("signatures")
    signatures = [s for s in signatures if isinstance(s, dict)] if isinstance(signatures, list) else []
    if not signatures:
        opened.reason = UNSIGNED
        return opened
    pae = Envelope(payload, PAYLOAD_TYPE, {}).pae()
    hinted = None
    for entry in signatures:
        raw = _b64(entry.get("sig"))
        keyid = entry.get("keyid") if isinstance(entry.get("keyid"), str) else ""
        hinted = hinted or keyid[:80]
        if raw is None:
            continue
        signature = Signature(keyid, raw.hex())
        # The keyid is only a hint: every trusted key is tried, the hinted one first.
        for key in sorted(trusted, key=lambda k: k.keyid != keyid):
            try:
                key.key.verify_signature(signature, pae)
            except UnverifiedSignatureError:
                continue
            opened.signer, opened.keyid = key.name, key.keyid
            break
        if opened.signer:
            break
    if opened.signer is None:
        known = {k.keyid for k in trusted}
        opened.keyid = hinted or None
        opened.reason = BAD_SIGNATURE if hinted in known else UNTRUSTED
        return opened
    algorithm, _, encoded = subject_digest.partition(":")
    subject = body.get("subject")
    subjects = subject if isinstance(subject, list) else []
    if not any(isinstance(s, dict) and isinstance(s.get("digest"), dict) and s["digest"].get(algorithm) == encoded
               for s in subjects):
        opened.reason = SUBJECT_MISMATCH
    return opened
