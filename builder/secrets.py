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
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from .files import FileRefused, read_small_text

_SECRET_ENV_RE = re.compile(r"(PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|CREDENTIAL)", re.IGNORECASE)
# The Docker config is a few KB; anything near this is not one (and must not stall redaction).
CONFIG_LIMIT = 8 << 20
# The userinfo of a URL (RFC 3986 §3.2.1: ``scheme://user[:password]@host``): the one pattern
# for every URL the tool shows or writes (messages, logs, records, image labels, engine URLs).
# Linear in the text: a scheme starts only where a run of scheme characters starts (the lookbehind) and is at
# most 32 long, so a long run of letters is not tried again from each of its positions (which took seconds
# for 10,000 characters); the user and password stop at the next "/", so each "://" scans to the next one.
USERINFO_RE = re.compile(r"(?:(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}))?://"
                         r"(?P<user>[^/@\s:]*)(?::(?P<password>[^/@\s]*))?@")
# The same userinfo in a value written without a scheme, as users write image references and registries
# (``user:password@reg.example:5000/repo``). An image reference has no ``@`` before its first ``/`` but
# the one of a digest (``alpine@sha256:...``), which the lookahead leaves alone.
BARE_USERINFO_RE = re.compile(r"\A(?P<user>[^/@\s:]*)(?::(?P<password>[^/@\s]*))?@"
                              r"(?![A-Za-z0-9+._-]+:[0-9a-fA-F]{32,})")


def docker_config_path() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


@lru_cache(maxsize=1)
def _config_secrets(path: str, mtime: float) -> tuple[str, ...]:
    # Redaction runs while every error is reported: whatever the file is (a FIFO, a list, nested ten
    # thousand deep), it must answer, never raise or wait.
    try:
        config = json.loads(read_small_text(path, CONFIG_LIMIT))
    except (OSError, ValueError, FileRefused, RecursionError):
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
    return USERINFO_RE.sub(lambda m: f"{m['scheme'] or ''}://", url)


def redact_userinfo(text: str, keep_user: bool = False) -> str:
    """``***`` for the secrets of URLs' userinfo: a password, and (unless ``keep_user``) the whole
    userinfo when it has one, or when an http(s) URL carries a bare token (``https://TOKEN@host``).
    A bare user of another scheme (``ssh://git@host``) is no secret and stays."""
    def hide(match: re.Match) -> str:
        scheme = match["scheme"] or ""
        if match["password"] is not None:
            return f"{scheme}://{match['user']}:***@" if keep_user else f"{scheme}://***@"
        if not keep_user and match["user"] and scheme.lower() in ("http", "https"):
            return f"{scheme}://***@"
        return match.group(0)

    return USERINFO_RE.sub(hide, text)


def has_userinfo(value: str) -> bool:
    """Whether a registry or repository value (a flag, a matrix entry) carries ``user[:password]@``,
    with or without a scheme."""
    return BARE_USERINFO_RE.match(value) is not None or USERINFO_RE.search(value) is not None


def hide_userinfo(value: str) -> str:
    """``value`` fit for a message: ``user:password@host/repo`` becomes ``***@host/repo`` (with a scheme
    too), so a value refused for its credentials is named without them."""
    return USERINFO_RE.sub(lambda m: f"{m['scheme'] or ''}://***@", BARE_USERINFO_RE.sub("***@", value, count=1))


def flag_secrets(values: Iterable[object]) -> tuple[str, ...]:
    """The passwords (and bare tokens) written into flag values, with or without a scheme: secrets that
    no message may show, whichever flag they came in (strings, or lists of them)."""
    found = []
    for value in values:
        for text in [value] if isinstance(value, str) else (value if isinstance(value, (list, tuple)) else ()):
            if not isinstance(text, str):
                continue
            # --mirror FROM=TO: each side may be written with userinfo.
            for part in text.split("="):
                bare = BARE_USERINFO_RE.match(part)
                found.append(bare["password"] if bare else None)
                for match in USERINFO_RE.finditer(part):  # the rule of redact_userinfo: a lone http(s) user is a token
                    lone_token = (match["scheme"] or "").lower() in ("http", "https")
                    found.append(match["password"] if match["password"] is not None else
                                 match["user"] if lone_token else None)
    return tuple(secret for secret in found if secret)


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    if not text:
        return text
    text = redact_userinfo(text)
    for secret in sorted({*known_secrets(), *(e for e in extra if len(e) >= 4)}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
