"""Engine push: the docker builder's per-base tags pushed by the Docker engine (credentials from the
Docker config); and ``destination``, the one reading of ``--to`` that every push shares."""

from __future__ import annotations

import re
from dataclasses import dataclass

import docker.errors
import requests

from . import checks
from .engine import Engine, redact_url
from .errors import BuilderError, InputError, PushDenied, Unreachable
from .matrix import REPO_RE, Matrix
from .progress import Progress
from .reference import is_registry_host
from .secrets import has_userinfo, hide_userinfo, redact
from .targets import Target

_UNREACHABLE_HINTS = ("connection refused", "no such host", "i/o timeout", "dial tcp", "no route to host",
                      "server misbehaving", "tls handshake timeout", "connection reset")
_DENIED_HINTS = ("denied", "unauthorized", "authentication required", "forbidden", "no basic auth credentials")


@dataclass(frozen=True)
class Pushed:
    target: Target
    reference: str
    digest: str


_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,15})://", re.ASCII)


def refuse_scheme(flag: str, value: str) -> None:
    """An image reference has no URL scheme: ``https://registry.example/argoexec`` is refused naming the scheme
    as the fault (before any other check, whose complaint about case or tags would mislead)."""
    found = _SCHEME_RE.match(value)
    if found:
        rest = hide_userinfo(value[found.end():])
        raise InputError(f"{flag} {hide_userinfo(value)}: an image reference has no scheme; drop "
                         f"'{found.group(1)}://' and give {rest or 'REGISTRY/REPO'} (plain http is "
                         "--insecure-registry REGISTRY)")


def destination(matrix: Matrix, to: str) -> str:
    """``--to``: a destination name from matrix.yaml or a repository ``REGISTRY/REPO``.

    The registry must be named (a host with a dot or a port, or localhost): a bare word is a typo of
    a destination far more often than a wish to push to Docker Hub."""
    if has_userinfo(to):  # refused without showing it: it would be in this message, and in every log after
        raise InputError(f"--to {hide_userinfo(to)}: give the repository without user:password@; credentials "
                         "come from the Docker config (docker login)")
    refuse_scheme("--to", to)
    known = ", ".join(matrix.registries.destinations) or "none"
    repo = matrix.registries.destinations.get(to, to)
    registry, slash, path = repo.partition("/")
    if not slash or not path:
        raise InputError(f"--to {to}: not a destination of {matrix.file} ({known}) nor a REGISTRY/REPO")
    if not is_registry_host(registry):
        raise InputError(f"--to {to}: {registry!r} is not a registry host (it needs a dot or a port, e.g. "
                         f"registry.example:5000/{path}); destinations of {matrix.file}: {known}")
    if "@" in repo or ":" in path:
        raise InputError(f"--to {to}: give the repository without a tag or digest; tags are the target ids")
    if not REPO_RE.match(repo):
        raise InputError(f"--to {to}: not a valid repository (the path must be lowercase letters, digits and "
                         "separators . _ -)")
    return repo


def push_targets(engine: Engine, targets: list[Target], repo: str, local_repo: str,
                 progress: Progress, dry_run: bool = False) -> list[Pushed]:
    """Tag each built image as ``REPO:<target-id>`` and push it; stop at the first refusal. ``dry_run``: check
    that each is built and say what would be pushed (the image ID, not yet a registry digest)."""
    registry = repo.split("/")[0]
    found = {}
    for target in targets:  # everything must be built before anything is pushed
        try:
            found[target.id] = engine.api.inspect_image(target.tagged(local_repo))["Id"]
        except docker.errors.ImageNotFound:
            raise InputError(f"{target.id}: {target.tagged(local_repo)} is not on the engine; run "
                             "`invoke build` for it first") from None
    if dry_run:
        for target in targets:
            progress.say(f"would push {target.tagged(local_repo)} (image {found[target.id][:19]}) as "
                         f"{repo}:{target.id}")
        return []
    pushed = []
    for target in targets:
        progress.begin(f"push {repo}:{target.id}")
        engine.api.tag(target.tagged(local_repo), repo, tag=target.id)
        digest, error = None, None
        try:
            for event in engine.api.push(repo, tag=target.id, stream=True, decode=True):
                if "error" in event:
                    error = event["error"]
                elif "aux" in event and "Digest" in event["aux"]:
                    digest = event["aux"]["Digest"]
                elif event.get("status") and not event.get("progressDetail"):
                    progress.line(f"{event.get('id', '')} {event['status']}".strip())
        except docker.errors.APIError as exc:
            error = exc.explanation or str(exc)
        except (requests.ConnectionError, requests.Timeout):
            raise Unreachable(f"lost the Docker engine at {redact_url(engine.url)} while pushing; run again") from None
        if error or not digest:
            message = redact(" ".join((error or "the engine reported no digest").split()))
            progress.end(target.id, checks.FAIL, message)
            lowered = message.lower()
            if any(hint in lowered for hint in _UNREACHABLE_HINTS):
                raise Unreachable(f"cannot reach registry {registry} to push {target.id} ({message}); check the "
                                  "address and that it is up")
            if any(hint in lowered for hint in _DENIED_HINTS):
                raise PushDenied(f"registry {registry} refused the push of {target.id} ({message}); log in with "
                                 f"`docker login {registry}` or check the repository's permissions")
            raise BuilderError(f"push of {target.id} to {repo} failed: {message}")
        progress.end(target.id, checks.PASS, digest)
        pushed.append(Pushed(target, f"{repo}:{target.id}", digest))
    return pushed
