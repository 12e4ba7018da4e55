"""Image references, ``[registry/]repository[:tag][@digest]``: the one parser of the project.

Every reference the tool reads goes through ``Reference.parse``: the registry client's, the
engine's pulls (engine.pull), the smoke checks' choice between a registry image and a local one
(smoke), the values a Dockerfile template may hold (render, ``strict=True``) and the Linux bases
of matrix.yaml.

The grammar is distribution/reference's (reference/regexp.go): a name is an optional domain
(host names joined by dots, an optional port) and path components of lowercase alphanumerics
joined by ``.``, ``_``, ``__`` or runs of ``-``. A tag is the OCI distribution spec's
``[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}``; the only digest algorithm the tool handles is sha256.
Which first component names a registry follows the Docker CLI (``splitDockerDomain``): one with a
dot or a port, or ``localhost``; anything else is a path on Docker Hub, whose ``library/``
holds the one-component names.

A leaf: it imports only ``errors``. The registry client (``registry/``) imports it, and so do the
modules that only name images (matrix, lock, render, the table and its formats), which therefore
never load the HTTP client.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field

from .errors import InputError

# \Z rather than $: `$` also matches before a trailing newline, which must never pass.
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z", re.ASCII)
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?)"
REPO_RE = re.compile(rf"^(?:{DOMAIN}/)?{COMPONENT}(?:/{COMPONENT})*\Z", re.ASCII)
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}\Z", re.ASCII)
DOCKER_HUB = "registry-1.docker.io"
_DOCKER_HUB_NAMES = ("docker.io", "index.docker.io", DOCKER_HUB)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_registry_host(component: str) -> bool:
    """Whether the first component of a reference names a registry (a dot, a port, or localhost),
    as the Docker CLI decides it; otherwise the reference is on Docker Hub."""
    return "." in component or ":" in component or component == "localhost"


def split(text: str) -> tuple[str, str | None, str | None]:
    """``(name, tag, digest)`` as written: the tag is after the last ``:`` that follows the last
    ``/`` (a ``:`` before it is a registry's port); the digest after ``@`` ('' if ``@`` ends the text)."""
    rest, at, digest = text.partition("@")
    tag = None
    slash, colon = rest.rfind("/"), rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
    return rest, tag, digest if at else None


@dataclass(frozen=True)
class Reference:
    """``registry/repository[:tag][@digest]``, with Docker Hub's defaults.

    ``registry_named`` is False when the text named no registry (``alpine:3``, ``local/base:1``):
    Docker Hub is assumed, and to an engine such a name may as well be an image it built itself."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    registry_named: bool = field(default=True, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str, strict: bool = False, what: str = "") -> Reference:
        """The reference ``text`` names; InputError if it names none.

        ``strict``: the whole grammar (see the module's docstring), and a tag or a digest must pin
        the image, as in a Dockerfile's FROM; messages start with ``what``, the value's place."""
        if strict:
            _check(text, what)
        name, tag, digest = split(text)
        if digest and not DIGEST_RE.match(digest):
            raise InputError(f"{text}: malformed digest; expected sha256:<64 hex digits>")
        first, _, remainder = name.partition("/")
        named = bool(remainder) and is_registry_host(first)
        if named:
            registry, repository = first, remainder
        else:
            registry, repository = DOCKER_HUB, name if "/" in name else f"library/{name}"
        if registry in _DOCKER_HUB_NAMES:
            registry = DOCKER_HUB
        if not repository or repository.endswith("/") or not name:
            raise InputError(f"{text}: no repository in the reference")
        return cls(registry, repository, tag, digest or None, named)

    @property
    def ref(self) -> str:
        return self.digest or self.tag or "latest"

    @property
    def familiar_name(self) -> str:
        """The repository as the Docker CLI and engine show it (``RepoTags``, ``RepoDigests``):
        without Docker Hub's host, and without ``library/`` for its one-component names."""
        if self.registry != DOCKER_HUB:
            return f"{self.registry}/{self.repository}"
        path = self.repository
        return path[len("library/"):] if path.startswith("library/") and path.count("/") == 1 else path

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None, self.registry_named)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _check(text: object, what: str) -> None:
    """The strict grammar; each message names the place (``what``) and the value."""
    lead = f"{what}: " if what else ""
    if not isinstance(text, str):
        raise InputError(f"{lead}{text!r} is not an image reference; expected registry/repository:tag")
    name, tag, digest = split(text)
    if digest is not None and not DIGEST_RE.match(digest):
        raise InputError(f"{lead}{text!r} has a malformed digest; expected @sha256:<64 hex digits>")
    if not REPO_RE.match(name):
        raise InputError(f"{lead}{text!r} is not a valid image reference; expected registry/repository:tag")
    if tag is not None and not TAG_RE.match(tag):
        raise InputError(f"{lead}tag {tag!r} breaks the OCI tag grammar [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}")
    if tag is None and digest is None:
        raise InputError(f"{lead}{text!r} has neither tag nor digest; pin one")


def is_loopback(registry: str) -> bool:
    """Whether ``host[:port]`` (a registry, an engine's address) is this machine: localhost or a loopback IP."""
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
