"""Image references: ``[registry/]repository[:tag][@digest]``, with Docker Hub's defaults.

Which first component names a registry follows the Docker CLI (distribution/reference's
``splitDockerDomain``): one with a dot or a port, or ``localhost``; anything else is a path on
Docker Hub.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass

from ..errors import InputError

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
DOCKER_HUB = "registry-1.docker.io"


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_registry_host(component: str) -> bool:
    """Whether the first component of a reference names a registry (a dot, a port, or localhost),
    as the Docker CLI decides it; otherwise the reference is on Docker Hub."""
    return "." in component or ":" in component or component == "localhost"


@dataclass(frozen=True)
class Reference:
    """``registry/repository[:tag][@digest]``, with Docker Hub's defaults."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        rest, _, digest = text.partition("@")
        tag = None
        slash, colon = rest.rfind("/"), rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1:]
        first, _, remainder = rest.partition("/")
        if remainder and is_registry_host(first):
            registry, repository = first, remainder
        else:
            registry, repository = DOCKER_HUB, rest if "/" in rest else f"library/{rest}"
        if registry == "docker.io":
            registry = DOCKER_HUB
        if digest and not DIGEST_RE.match(digest):
            raise InputError(f"{text}: malformed digest; expected sha256:<64 hex digits>")
        if not repository:
            raise InputError(f"{text}: no repository in the reference")
        return cls(registry, repository, tag, digest or None)

    @property
    def ref(self) -> str:
        return self.digest or self.tag or "latest"

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_loopback(registry: str) -> bool:
    if registry.startswith("["):
        host = registry[1:].split("]", 1)[0]  # [::1]:5000
    else:
        host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 else registry
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
