"""A Docker engine: connection and the host facts it reports.

The connection follows the Docker CLI's conventions through docker-py: ``--engine URL`` wins,
else ``DOCKER_HOST`` (unix://, tcp:// with TLS from ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``,
ssh://, npipe://), else the platform default. The host's facts come from ``GET /info``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import requests

from .compat import HostFacts, host_facts_from_info
from .errors import InputError, Unreachable
from .reference import Reference
from .registry.credentials import check_docker_config
from .secrets import redact_userinfo

DEFAULT_TIMEOUT = 120
SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://", "http://", "https://")


def redact_url(url: str) -> str:
    """An engine URL fit for a message: a password in ``user:password@`` replaced (the user is kept)."""
    return redact_userinfo(url, keep_user=True)


@dataclass
class Engine:
    client: docker.DockerClient
    url: str
    facts: HostFacts
    info: dict[str, Any] = field(default_factory=dict)  # the /info answer the facts were read from

    @property
    def api(self) -> docker.APIClient:
        return self.client.api

    def describe(self) -> str:
        build = f" {self.facts.build}" if self.facts.build else ""
        return f"{self.facts.os_type}{build} engine {self.facts.engine_version or '?'} at {redact_url(self.url)}"

    def close(self) -> None:
        self.client.close()


def pull(engine: Engine, reference: str, progress) -> str | None:
    """Pull ``REPO:TAG`` (or ``REPO@DIGEST``), showing its steps; the engine's error message if it failed, else None.

    The engine's API takes a digest in place of the tag (POST /images/create, ``tag``)."""
    ref = Reference.parse(reference)
    progress.line(f"pulling {reference}")
    try:
        for event in engine.api.pull(ref.familiar_name, tag=ref.ref, stream=True, decode=True):
            if "error" in event:
                return event["error"]
            if event.get("status") and not event.get("progressDetail"):
                progress.line(f"{event.get('id', '')} {event['status']}".strip())
    except docker.errors.APIError as exc:
        return exc.explanation or str(exc)
    return None


def connect(url: str | None = None, timeout: int = DEFAULT_TIMEOUT) -> Engine:
    """Connect and read /info; an engine that does not answer is exit 4, one line."""
    shown = redact_url(url or os.environ.get("DOCKER_HOST") or "the default socket")
    if url is not None and not url.startswith(SCHEMES):
        raise InputError(f"--engine {shown}: not an engine URL; expected one of {', '.join(SCHEMES[:4])} "
                         "(e.g. unix:///var/run/docker.sock, tcp://HOST:2376)")
    # docker-py reads the whole Docker config when the client starts, and answers a wrong shape with a
    # traceback (or waits on a FIFO): the same file, checked first, is one line naming the file and the key.
    check_docker_config()
    try:
        if url:
            tls = _tls_from_env()
            client = docker.DockerClient(base_url=url, timeout=timeout, tls=tls,
                                         use_ssh_client=url.startswith("ssh://"))
        else:
            client = docker.from_env(timeout=timeout,
                                     use_ssh_client=os.environ.get("DOCKER_HOST", "").startswith("ssh"))
        info = client.info()
    except docker.errors.TLSParameterError as exc:
        raise InputError(f"engine {shown}: TLS settings are incomplete ({exc}); check DOCKER_CERT_PATH") from None
    except docker.errors.DockerException as exc:
        if "Invalid bind address" in str(exc) or "paramiko" in str(exc):
            raise InputError(f"engine {shown}: {_short(exc)}; check the URL") from None
        raise Unreachable(f"cannot reach the Docker engine at {shown} ({_short(exc)}); {_next_step(url)}") from None
    except (requests.RequestException, OSError) as exc:
        raise Unreachable(f"cannot reach the Docker engine at {shown} ({_short(exc)}); {_next_step(url)}") from None
    return Engine(client, url or os.environ.get("DOCKER_HOST") or "default", host_facts_from_info(info), info)


def _next_step(url: str | None) -> str:
    """What to do about an engine that does not answer, without suggesting what was already given."""
    if url:
        return "check that the engine runs there and that --engine names it (scheme, host, port)"
    if os.environ.get("DOCKER_HOST"):
        return "check that the engine runs there, or correct DOCKER_HOST (or pass --engine URL)"
    return "start it, or pass --engine URL / set DOCKER_HOST"


def _tls_from_env():
    """TLS for a tcp:// --engine, from the same variables the Docker CLI reads."""
    if not os.environ.get("DOCKER_TLS_VERIFY") and not os.environ.get("DOCKER_CERT_PATH"):
        return False
    cert_path = os.environ.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
    verify = bool(os.environ.get("DOCKER_TLS_VERIFY"))
    return docker.tls.TLSConfig(
        client_cert=(os.path.join(cert_path, "cert.pem"), os.path.join(cert_path, "key.pem")),
        ca_cert=os.path.join(cert_path, "ca.pem") if verify else None,
        verify=verify,
    )


def _short(exc: Exception) -> str:
    """The gist of a connection error: the innermost reason, on one line, without URLs' secrets."""
    text = str(exc)
    for marker in ("Caused by", "Error while fetching server API version: "):
        text = text.split(marker)[-1]
    match = re.search(r"(\[Errno [^\]]+\][^')\"]*|Connection refused|No such file or directory|"
                      r"Name or service not known|timed out|Failed to resolve[^')\"]*)", text)
    reason = match.group(1) if match else text
    return redact_url(" ".join(reason.split()))[:200].strip(" ,:'\"()")
