"""A client of the OCI distribution API, in layers as go-containerregistry splits it.

- ``reference``: image references (``name`` in go-containerregistry), registry hosts, digests.
- ``credentials``: the Docker config and credential helpers (``authn``).
- ``transport``: HTTP with authentication and the one retry policy (``transport``).
- ``client``: manifests, blobs, mounts and uploads (``remote``).
- ``documents``: the manifests, indexes and configs it serves, read strictly.

Everything other modules use is importable from ``builder.registry``.
"""

from ..errors import CredentialsError, DigestMismatch, RegistryDenied, RegistryError
from ..reference import DIGEST_RE, DOCKER_HUB, Reference, is_loopback, is_registry_host, sha256_digest
from ..retry import RetryPolicy
from .client import (
    ACCEPT_ALL,
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_LAYER_GZIP,
    DOCKER_LIST,
    DOCKER_MANIFEST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    RegistryClient,
)
from .credentials import Credentials, docker_credentials
from .documents import image_config, image_index, image_manifest
from .transport import RETRY_STATUSES, Stats, Transport, env_insecure, env_timeout

__all__ = [
    "ACCEPT_ALL", "DIGEST_RE", "DOCKER_CONFIG", "DOCKER_FOREIGN_LAYER", "DOCKER_HUB", "DOCKER_LAYER_GZIP",
    "DOCKER_LIST", "DOCKER_MANIFEST", "INDEX_TYPES", "MANIFEST_TYPES", "OCI_CONFIG", "OCI_INDEX", "OCI_LAYER_GZIP",
    "OCI_MANIFEST", "RETRY_STATUSES", "Credentials", "CredentialsError", "DigestMismatch", "Reference",
    "RegistryClient", "RegistryDenied", "RegistryError", "RetryPolicy", "Stats", "Transport", "docker_credentials",
    "env_insecure", "env_timeout", "image_config", "image_index", "image_manifest", "is_loopback", "is_registry_host",
    "sha256_digest",
]
