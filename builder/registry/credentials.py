"""Registry credentials from the Docker config: inline ``auths`` or a credential helper."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..secrets import docker_config_path
from .reference import DOCKER_HUB


@dataclass
class Credentials:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"Credentials(username={self.username!r}, password=***)"


def docker_credentials(registry: str, config_path: Path | None = None) -> Credentials | None:
    """Credentials for ``registry`` from the Docker config: inline ``auths`` or a credential helper."""
    path = config_path or docker_config_path()
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    keys = {registry, f"https://{registry}", f"http://{registry}"}
    if registry == DOCKER_HUB:
        keys |= {"https://index.docker.io/v1/", "index.docker.io", "docker.io"}
    helper = next((config.get("credHelpers", {}).get(k) for k in keys if k in config.get("credHelpers", {})), None)
    helper = helper or config.get("credsStore")
    for key in keys:
        entry = (config.get("auths") or {}).get(key)
        if not isinstance(entry, dict):
            continue
        if entry.get("identitytoken"):
            return Credentials(identity_token=entry["identitytoken"])
        if entry.get("auth"):
            user, _, password = base64.b64decode(entry["auth"]).decode("utf-8", "replace").partition(":")
            return Credentials(user, password)
        if entry.get("username"):
            return Credentials(entry["username"], entry.get("password"))
    if helper:
        return _from_helper(helper, registry)
    return None


def _from_helper(helper: str, registry: str) -> Credentials | None:
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        return None
    result = subprocess.run([program, "get"], input=registry, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return None
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        return None
    if answer.get("Username") == "<token>":
        return Credentials(identity_token=answer.get("Secret"))
    return Credentials(answer.get("Username"), answer.get("Secret"))
