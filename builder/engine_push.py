"""Engine push: the docker builder's per-base tags pushed by the Docker engine (credentials from the
Docker config). ``--to`` is read by ``options.destination``, which every builder, push and publish share."""

from __future__ import annotations

from dataclasses import dataclass

import docker.errors
import requests

from . import checks
from .engine import Engine, redact_url
from .errors import BuilderError, InputError, PushDenied, Unreachable
from .progress import Progress
from .secrets import redact
from .targets import Target

_UNREACHABLE_HINTS = ("connection refused", "no such host", "i/o timeout", "dial tcp", "no route to host",
                      "server misbehaving", "tls handshake timeout", "connection reset")
_DENIED_HINTS = ("denied", "unauthorized", "authentication required", "forbidden", "no basic auth credentials")


@dataclass(frozen=True)
class Pushed:
    target: Target
    reference: str
    digest: str


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
