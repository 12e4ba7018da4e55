"""Keys for the signed-evidence tests, generated when the tests run (no private key is committed).

``SIGNER``/``TRUSTED``: an ECDSA P-256 key the tests' matrices trust; ``ED_SIGNER``: an Ed25519 key they
also trust; ``STRANGER``: a key nobody trusts. ``write_keys`` writes PEM files and ``trusting_matrix``
a copy of the project's matrix.yaml whose ``evidence.trusted_keys`` names the public ones.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from builder import signing
from builder.matrix import DEFAULT_MATRIX


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes
    private_key: object

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        private, public = folder / f"{name}.pem", folder / f"{name}.pub"
        private.write_bytes(self.private_pem)
        private.chmod(0o600)
        public.write_bytes(self.public_pem)
        return private, public


def generate(kind: str = "ecdsa") -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ecdsa" else ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(private, public, key)


MAINTAINER, CLUSTER_OWNER, STRANGER_PAIR = generate("ecdsa"), generate("ed25519"), generate("ecdsa")
_FOLDER = Path(tempfile.mkdtemp(prefix="evidence-keys-"))
atexit.register(shutil.rmtree, _FOLDER, True)
_PATHS = {name: pair.write(_FOLDER, name) for name, pair in
          (("maintainer", MAINTAINER), ("cluster", CLUSTER_OWNER), ("stranger", STRANGER_PAIR))}

SIGNER = signing.load_signer(_PATHS["maintainer"][0])
ED_SIGNER = signing.load_signer(_PATHS["cluster"][0])
STRANGER = signing.load_signer(_PATHS["stranger"][0])
TRUSTED = (signing.load_public_key(_PATHS["maintainer"][1], "keys/maintainer.pub"),
           signing.load_public_key(_PATHS["cluster"][1], "keys/cluster.pub"))


def private_key_file(name: str = "maintainer") -> Path:
    return _PATHS[name][0]


def trusting_matrix(folder: Path, names: tuple[str, ...] = ("maintainer", "cluster"),
                    source: Path = DEFAULT_MATRIX) -> Path:
    """A copy of ``source`` in ``folder`` trusting the named public keys (written to ``folder/keys``)."""
    keys = folder / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    for name in names:
        (keys / f"{name}.pub").write_bytes(_PATHS[name][1].read_bytes())
    listed = ", ".join(f"keys/{name}.pub" for name in names)
    matrix = folder / "matrix.yaml"
    text = source.read_text()
    if "\nevidence:\n  trusted_keys: []\n" in text:
        text = text.replace("\nevidence:\n  trusted_keys: []\n", f"\nevidence:\n  trusted_keys: [{listed}]\n")
    else:
        text += f"\nevidence:\n  trusted_keys: [{listed}]\n"
    matrix.write_text(text)
    lock = source.parent / "matrix.lock.json"
    if lock.is_file():  # the same pins as the matrix it copies
        (folder / "matrix.lock.json").write_bytes(lock.read_bytes())
    return matrix
