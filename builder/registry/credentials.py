"""Registry credentials from the Docker config, read the way the Docker CLI writes it.

``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``; docker/cli ``cli/config/configfile``):

- ``auths``: per registry key (``host``, ``https://host``, and for Docker Hub
  ``https://index.docker.io/v1/``), an entry with ``registrytoken`` (a Bearer token sent to the
  registry as it is), ``identitytoken`` (an OAuth refresh token for the token service), ``auth``
  (base64 of ``user:password``) or ``username`` and ``password``; the first present wins, in that
  order (go-containerregistry's ``authn.AuthConfig`` gives them the same precedence).
- ``credHelpers`` (per registry) and ``credsStore`` (for all): a ``docker-credential-NAME``
  program answering ``get`` with ``{"Username", "Secret"}``; ``Username`` ``<token>`` means the
  secret is an identity token. They are asked when ``auths`` has no usable entry (a credsStore
  leaves empty ``{}`` entries there).

Only the parts that concern the registry asked about are read. A file that is missing or
unreadable gives no credentials; one whose shape is wrong where it matters (not a JSON object,
``auths`` not an object, an ``auth`` that is not base64 of ``user:password``, ...) is bad input
naming the file and the key (``CredentialsError``, exit 2, which stops the run as a refusal
would), never a traceback. No message shows a secret. ``check_docker_config`` checks the whole file
the same way for the engine's client (docker-py reads every entry), and only a regular file of sane
size is read at all (a FIFO would never answer).
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import CredentialsError
from ..files import FileRefused, read_small_text
from ..reference import DOCKER_HUB
from ..secrets import CONFIG_LIMIT, docker_config_path


@dataclass
class Credentials:
    username: str | None = None
    password: str | None = None
    identity_token: str | None = None
    registry_token: str | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"Credentials(username={self.username!r}, password=***)"


def config_keys(registry: str) -> list[str]:
    """The ``auths``/``credHelpers`` keys that may name ``registry``, most specific first."""
    keys = [registry, f"https://{registry}", f"http://{registry}"]
    if registry == DOCKER_HUB:
        keys += ["https://index.docker.io/v1/", "index.docker.io", "docker.io"]
    return keys


def docker_credentials(registry: str, config_path: Path | None = None) -> Credentials | None:
    """Credentials for ``registry`` from the Docker config: inline ``auths`` or a credential helper."""
    path = config_path or docker_config_path()
    config = _load(path)
    if config is None:
        return None
    keys = config_keys(registry)
    helpers = _object(config, "credHelpers", path)
    helper = next((_string(helpers, key, path, f'credHelpers["{key}"]') for key in keys if key in helpers), None)
    helper = helper or _string(config, "credsStore", path, "credsStore")
    auths = _object(config, "auths", path)
    for key in keys:
        if key not in auths:
            continue
        credentials = _from_entry(auths[key], path, f'auths["{key}"]', registry)
        if credentials is not None:
            return credentials
    if helper:
        return _from_helper(helper, registry)
    return None


def check_docker_config(config_path: Path | None = None) -> None:
    """The whole Docker config as docker-py reads it when an engine client starts: every ``auths`` entry
    (not only the registry at hand), ``credHelpers``, ``credsStore`` and ``proxies``. docker-py answers a
    wrong shape with AttributeError, TypeError or binascii.Error (and a FIFO by waiting); here it is
    ``CredentialsError`` naming the file and the key, before docker-py opens the file."""
    path = config_path or docker_config_path()
    config = _load(path)
    if config is None:
        return
    for key, entry in _object(config, "auths", path).items():
        where = f'auths["{key}"]'
        if not isinstance(entry, dict):
            raise CredentialsError(f"{path}: {where}: expected an object (auth, username/password, identitytoken "
                                   f"or registrytoken), not {_kind(entry)}")
        for field in ("auth", "username", "password", "identitytoken", "registrytoken", "email"):
            _string(entry, field, path, f"{where}.{field}")
        # docker-py decodes `auth` unless an identitytoken is there (an empty one too, where the Docker CLI
        # reads no credentials); the Docker CLI decodes every non-empty one.
        auth = entry.get("auth")
        if (auth or ("auth" in entry and "identitytoken" not in entry)) and _user_password(auth or "") is None:
            raise CredentialsError(f"{path}: {where}.auth: {'not the base64 of user:password' if auth else 'empty'}; "
                                   f"run `docker login {key}` again")
    for key in _object(config, "credHelpers", path):
        _string(config["credHelpers"], key, path, f'credHelpers["{key}"]')
    _string(config, "credsStore", path, "credsStore")
    for key, proxies in _object(config, "proxies", path).items():
        if not isinstance(proxies, dict):
            raise CredentialsError(f'{path}: proxies["{key}"]: expected an object (httpProxy, httpsProxy, '
                                   f"noProxy), not {_kind(proxies)}")


def _user_password(auth: str) -> tuple[str, str] | None:
    """``(user, password)`` from ``auth``, base64 of ``user:password`` in UTF-8 (as docker-py decodes it)."""
    try:
        user, colon, password = base64.b64decode(auth.encode("ascii")).decode("utf-8").partition(":")
    except (binascii.Error, ValueError):  # UnicodeEncodeError and UnicodeDecodeError are ValueErrors
        return None
    return (user, password) if colon else None


def _load(path: Path) -> dict | None:
    try:
        text = read_small_text(path, CONFIG_LIMIT)
    except FileRefused as exc:
        raise CredentialsError(f"{path}: {exc}; the Docker config must be a JSON file") from None
    except (OSError, UnicodeDecodeError):
        return None
    try:
        config = json.loads(text)
    except RecursionError:
        raise CredentialsError(f"{path}: nested too deeply to be a Docker config; fix it or move it away") from None
    except ValueError as exc:
        raise CredentialsError(f"{path}: not valid JSON ({getattr(exc, 'msg', exc)}); fix it or move it away") from None
    if not isinstance(config, dict):
        raise CredentialsError(f"{path}: expected a JSON object (with auths, credHelpers, credsStore), "
                         f"not {_kind(config)}")
    return config


def _object(config: dict, key: str, path: Path) -> dict:
    value = config.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CredentialsError(f"{path}: {key}: expected an object keyed by registry, not {_kind(value)}")
    return value


def _string(mapping: dict, key: str, path: Path, where: str) -> str | None:
    value = mapping.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CredentialsError(f"{path}: {where}: expected a string, not {_kind(value)}")
    return value


def _from_entry(entry: object, path: Path, where: str, registry: str) -> Credentials | None:
    if not isinstance(entry, dict):
        raise CredentialsError(f"{path}: {where}: expected an object (auth, username/password, identitytoken or "
                         f"registrytoken), not {_kind(entry)}")
    registry_token = _string(entry, "registrytoken", path, f"{where}.registrytoken")
    if registry_token:
        return Credentials(registry_token=registry_token)
    identity_token = _string(entry, "identitytoken", path, f"{where}.identitytoken")
    if identity_token:
        return Credentials(identity_token=identity_token)
    auth = _string(entry, "auth", path, f"{where}.auth")
    if auth:
        decoded = _user_password(auth)
        if decoded is None:
            raise CredentialsError(f"{path}: {where}.auth: not the base64 of user:password; run "
                             f"`docker login {registry}` again")
        return Credentials(*decoded)
    username = _string(entry, "username", path, f"{where}.username")
    if username:
        return Credentials(username, _string(entry, "password", path, f"{where}.password"))
    return None


def _from_helper(helper: str, registry: str) -> Credentials | None:
    """Ask ``docker-credential-HELPER get``; no credentials when it is missing, fails or answers nonsense."""
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        return None
    try:
        result = subprocess.run([program, "get"], input=registry, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        return None
    if not isinstance(answer, dict):
        return None
    username, secret = answer.get("Username"), answer.get("Secret")
    if not isinstance(secret, str) or not isinstance(username, (str, type(None))):
        return None
    if username == "<token>":
        return Credentials(identity_token=secret)
    return Credentials(username, secret)


def _kind(value: object) -> str:
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number",
            type(None): "null"}.get(type(value), type(value).__name__)
