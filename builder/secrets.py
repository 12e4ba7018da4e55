"""Keep secrets out of everything the tool prints or writes.

Registry passwords and tokens reach the tool through the Docker config (``auths``) and the
environment. ``redact`` replaces each known secret value with ``***`` in any text: log lines,
error messages, result records. Values shorter than 4 characters are not treated as secrets
(they would mangle ordinary text and protect nothing).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from functools import lru_cache
from pathlib import Path

_SECRET_ENV_RE = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|CREDENTIAL)", re.IGNORECASE)
_URL_USERINFO_RE = re.compile(r"(?<=://)[^/@\s:]+:[^/@\s]+@")
_HTTP_TOKEN_RE = re.compile(r"(?<=https://)[^/@\s:]+@|(?<=http://)[^/@\s:]+@")  # https://TOKEN@host


def docker_config_path() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


@lru_cache(maxsize=1)
def _config_secrets(path: str, mtime: float) -> tuple[str, ...]:
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    auths = config.get("auths") if isinstance(config, dict) else None
    found: list[str] = []
    for entry in (auths.values() if isinstance(auths, dict) else ()):
        if not isinstance(entry, dict):
            continue
        for key in ("password", "identitytoken", "registrytoken", "auth"):
            value = entry.get(key)
            if isinstance(value, str) and value:
                found.append(value)
        auth = entry.get("auth")
        if isinstance(auth, str):
            try:
                _, _, password = base64.b64decode(auth).decode("utf-8", "replace").partition(":")
            except (binascii.Error, ValueError):
                password = ""
            if password:
                found.append(password)
    return tuple(found)


def known_secrets() -> list[str]:
    secrets = [value for name, value in os.environ.items() if _SECRET_ENV_RE.search(name) and value]
    path = docker_config_path()
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = -1.0
    if mtime >= 0:
        secrets.extend(_config_secrets(str(path), mtime))
    # Longest first, so a secret containing another is replaced whole.
    return sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)


def strip_userinfo(url: str) -> str:
    """A URL without any ``user[:password]@`` part: what may be written into an image label."""
    return re.sub(r"(?<=://)[^/@\s]+@", "", url)


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    if not text:
        return text
    text = _URL_USERINFO_RE.sub("***@", text)
    text = _HTTP_TOKEN_RE.sub("***@", text)
    for secret in sorted({*known_secrets(), *(e for e in extra if len(e) >= 4)}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
