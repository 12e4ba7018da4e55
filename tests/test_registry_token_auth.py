"""The registry token flow against Debian's docker-registry configured with ``auth: token`` and the suite's
token server (tests/token_server.py: RS256 JWTs with an ``x5c`` chain, the claims distribution checks):
the realm of the challenge, anonymous pull, credentials, an identity token used as a refresh token, a refused
password, and a realm that is not https off loopback."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import requests
from requests.adapters import HTTPAdapter

from builder.errors import RegistryDenied
from builder.registry import OCI_MANIFEST, Reference, RegistryClient
from builder.registry.credentials import Credentials
from tests import infra
from tests.cli import invoke
from tests.test_registry_auth import _build, _env, _everything, binaries, open_mirror  # noqa: F401 - fixtures
from tests.token_server import ISSUER, SERVICE, TokenPolicy, TokenServer

USER, PASSWORD, REFRESH = "robot", "t0ken-flow-pa55-word", "refresh-token-of-the-suite-42"


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    policy = TokenPolicy(USER, PASSWORD, REFRESH)
    with TokenServer(policy, tmp_path_factory.mktemp("token")) as server:
        registry = infra.start_registry(token=(server.realm, SERVICE, ISSUER, server.cert_bundle))
        try:
            yield registry, server, policy
        finally:
            registry.stop()


def _creds(**given):
    return lambda registry: Credentials(**given)


def _push_small_image(client: RegistryClient, ref: Reference, content: bytes) -> str:
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    blobs = [(config, "application/vnd.oci.image.config.v1+json"), (content, "application/vnd.oci.image.layer.v1.tar")]
    descriptors = []
    for data, media_type in blobs:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        client.push_blob(ref.registry, ref.repository, digest, len(data), lambda d=data: d)
        descriptors.append({"mediaType": media_type, "digest": digest, "size": len(data)})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptors[0],
                           "layers": descriptors[1:]}).encode()
    return client.put_manifest(ref, manifest, OCI_MANIFEST)


def test_the_registry_challenges_with_the_realm_and_scope(token_registry):
    registry, server, _ = token_registry
    answer = requests.get(f"{registry.url}/v2/public/app/manifests/1", timeout=10)
    assert answer.status_code == 401
    challenge = answer.headers["WWW-Authenticate"]
    assert challenge.startswith(f'Bearer realm="{server.realm}",service="{SERVICE}"')
    assert 'scope="repository:public/app:pull"' in challenge


def test_credentials_push_and_anonymous_pull_of_a_public_repository(token_registry):
    registry, _, policy = token_registry
    ref = Reference.parse(f"{registry.host}/public/app:1")
    pushed = _push_small_image(RegistryClient(credentials=_creds(username=USER, password=PASSWORD)), ref, b"layer 1")
    assert any(r["grant"] == "password" and r["user"] == USER and
               f"repository:{ref.repository}:pull,push" in r["scopes"] for r in policy.requests)
    before = len(policy.requests)
    _, _, digest = RegistryClient(credentials=lambda registry: None).get_manifest(ref)
    assert digest == pushed
    anonymous = policy.requests[before:]
    assert anonymous and all(r["grant"] == "anonymous" and r["user"] == "" for r in anonymous)


def test_anonymous_push_is_refused_in_one_line(token_registry):
    registry, _, _ = token_registry
    ref = Reference.parse(f"{registry.host}/public/app:anonymous")
    with pytest.raises(RegistryDenied) as info:
        _push_small_image(RegistryClient(credentials=lambda registry: None, attempts=1), ref, b"anonymous layer")
    message = str(info.value)
    assert f"registry {registry.host} denied" in message and "docker login" in message and "\n" not in message


def test_a_private_repository_needs_credentials(token_registry):
    registry, _, _ = token_registry
    ref = Reference.parse(f"{registry.host}/private/app:1")
    _push_small_image(RegistryClient(credentials=_creds(username=USER, password=PASSWORD)), ref, b"private")
    with pytest.raises(RegistryDenied):
        RegistryClient(credentials=lambda registry: None, attempts=1).get_manifest(ref)


def test_an_identity_token_is_sent_as_a_refresh_token(token_registry):
    registry, _, policy = token_registry
    ref = Reference.parse(f"{registry.host}/private/refreshed:1")
    client = RegistryClient(credentials=_creds(username="<token>", identity_token=REFRESH))
    pushed = _push_small_image(client, ref, b"refreshed layer")
    assert client.get_manifest(ref)[2] == pushed
    refreshed = [r for r in policy.requests if r["grant"] == "refresh_token" and not r.get("refused")]
    assert refreshed and all(r["method"] == "POST" and r["user"] == USER for r in refreshed)


@pytest.mark.parametrize("given", [{"username": USER, "password": "not-the-password"},
                                   {"username": "<token>", "identity_token": "a-refresh-token-that-is-wrong"}])
def test_refused_credentials_are_one_line_without_the_secret(token_registry, given):
    registry, _, _ = token_registry
    ref = Reference.parse(f"{registry.host}/private/app:1")
    with pytest.raises(RegistryDenied) as info:
        RegistryClient(credentials=_creds(**given), attempts=1).get_manifest(ref)
    message = str(info.value)
    assert "the token service refused the credentials (401)" in message
    assert all(secret not in message for secret in given.values() if secret != "<token>")


class _Remote(HTTPAdapter):
    """The network path to a registry that is not on loopback (so reached over https): the request goes to
    the real registry on loopback instead. Constructed; only the address is rewritten, never the answer."""

    def __init__(self, remote: str, local: str):
        super().__init__()
        self.remote, self.local = remote, local

    def send(self, request, **kwargs):
        request.url = request.url.replace(self.remote, self.local, 1)
        return super().send(request, **kwargs)


def test_a_token_realm_that_is_not_https_gets_no_credentials_off_loopback(token_registry):
    registry, server, policy = token_registry
    session = requests.Session()
    session.mount("https://registry.example.test", _Remote("https://registry.example.test", registry.url))
    client = RegistryClient(credentials=_creds(username=USER, password=PASSWORD), attempts=1, session=session)
    before = len(policy.requests)
    with pytest.raises(RegistryDenied) as info:
        client.get_manifest(Reference.parse("registry.example.test/private/app:1"))
    assert f"its token service is not https ({server.realm}); refusing to send credentials there" in str(info.value)
    assert len(policy.requests) == before  # the token server never heard of it


def test_invoke_build_pushes_through_the_token_flow(token_registry, open_mirror, binaries, tmp_path):  # noqa: F811
    registry, _, policy = token_registry
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    env = _env(tmp_path, {"auths": {registry.host: {"auth": auth}}})
    result = _build(registry, open_mirror, binaries, tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"assembled {registry.host}/secure/argoexec:v4.1.2-windows-ltsc2022@sha256:" in result.stdout
    assert PASSWORD not in _everything(result, tmp_path) and auth not in _everything(result, tmp_path)
    assert any(r["user"] == USER and "repository:secure/argoexec:pull,push" in r.get("scopes", ())
               for r in policy.requests)
    shown = invoke("evidence", f"{registry.host}/secure/argoexec:v4.1.2-windows-ltsc2022", env=env)
    assert PASSWORD not in shown.stdout + shown.stderr
