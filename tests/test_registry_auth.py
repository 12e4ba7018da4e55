"""Credentials for a registry that demands them: the Docker config, a credential helper, a refusal.

The registry is Debian's docker-registry with htpasswd (Basic) auth; the password must never
appear in output or records.
"""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from tests import infra, windows_images
from tests.cli import invoke

USER, PASSWORD = "robot", "pa55-w0rd-for-the-suite"


@pytest.fixture(scope="module")
def secure_registry():
    registry = infra.start_registry(htpasswd=(USER, PASSWORD))
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def open_mirror(registry, tmp_path_factory):
    work = tmp_path_factory.mktemp("bases")
    windows_images.push_windows_bases(registry.host, work)
    return ("--mirror", f"mcr.microsoft.com={registry.host}/mcr")


@pytest.fixture()
def binaries(tmp_path):
    (tmp_path / "argoexec.exe").write_bytes(b"MZ argoexec")
    (tmp_path / "7za.exe").write_bytes(b"MZ 7za")
    return tmp_path / "argoexec.exe"


def _env(tmp_path, config: dict, path_prefix: str | None = None) -> dict:
    folder = tmp_path / "docker-config"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "DOCKER_CONFIG": str(folder), "ARGOEXEC_BUILDER_CACHE": str(tmp_path / "cache")}
    if path_prefix:
        env["PATH"] = f"{path_prefix}{os.pathsep}{env['PATH']}"
    return env


def _build(secure_registry, open_mirror, binaries, tmp_path, env):
    return invoke("build", "--builder", "oci", "--base", "ltsc2022", "--to", f"{secure_registry.host}/secure/argoexec",
                  "--argoexec-exe", str(binaries), "--results", str(tmp_path / "results"), *open_mirror, env=env)


def _everything(result, tmp_path) -> str:
    records = "".join(p.read_text() for p in (tmp_path / "results").glob("*.json"))
    return result.stdout + result.stderr + records


def test_credentials_from_the_docker_config(secure_registry, open_mirror, binaries, tmp_path):
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    env = _env(tmp_path, {"auths": {secure_registry.host: {"auth": auth}}})
    result = _build(secure_registry, open_mirror, binaries, tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"assembled {secure_registry.host}/secure/argoexec:v4.1.2-windows-ltsc2022@sha256:" in result.stdout
    assert PASSWORD not in _everything(result, tmp_path) and auth not in _everything(result, tmp_path)


def test_credentials_from_a_credential_helper(secure_registry, open_mirror, binaries, tmp_path):
    helpers = tmp_path / "helpers"
    helpers.mkdir()
    helper = helpers / "docker-credential-suite"
    helper.write_text(f'#!/bin/sh\nread host\necho \'{{"ServerURL": "\'$host\'", "Username": "{USER}", '
                      f'"Secret": "{PASSWORD}"}}\'\n')
    helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
    env = _env(tmp_path, {"credHelpers": {secure_registry.host: "suite"}}, path_prefix=str(helpers))
    result = _build(secure_registry, open_mirror, binaries, tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert PASSWORD not in _everything(result, tmp_path)


def test_no_or_wrong_credentials_are_refused_with_one_line(secure_registry, open_mirror, binaries, tmp_path):
    for config in ({}, {"auths": {secure_registry.host: {"username": USER, "password": "wrong-password"}}}):
        result = _build(secure_registry, open_mirror, binaries, tmp_path, _env(tmp_path, config))
        assert result.returncode == 2, result.stdout + result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: registry {secure_registry.host} denied ")
        assert f"`docker login {secure_registry.host}`" in line
        assert "wrong-password" not in _everything(result, tmp_path)


def test_a_docker_config_of_the_wrong_shape_is_one_line_of_bad_input(secure_registry, open_mirror, binaries,
                                                                     tmp_path):
    host = secure_registry.host
    result = _build(secure_registry, open_mirror, binaries, tmp_path,
                    _env(tmp_path, {"auths": {host: {"auth": "not base64 at all!"}}}))
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    config = tmp_path / "docker-config" / "config.json"
    assert line == (f'error: {config}: auths["{host}"].auth: not the base64 of user:password; run '
                    f"`docker login {host}` again")


ODD_CONFIGS = [
    ([], None, "expected a JSON object"),
    ({"auths": []}, None, "auths: expected an object keyed by registry, not a list"),
    ({"auths": {"reg.example:5000": "user:pw"}}, None, 'auths["reg.example:5000"]: expected an object'),
    ({"auths": {"reg.example:5000": {"auth": 42}}}, None, 'auths["reg.example:5000"].auth: expected a string'),
    ({"auths": {"reg.example:5000": {"auth": "%%%"}}}, None, 'auths["reg.example:5000"].auth: not the base64'),
    ({"auths": {"reg.example:5000": {"auth": base64.b64encode(b"no-colon").decode()}}}, None, "not the base64"),
    ({"auths": {"https://reg.example:5000": {"username": ["x"]}}}, None,
     'auths["https://reg.example:5000"].username: expected a string, not a list'),
    ({"credHelpers": "suite"}, None, "credHelpers: expected an object"),
    ({"credsStore": {"x": 1}}, None, "credsStore: expected a string"),
    ({"auths": {"elsewhere.example": []}, "credHelpers": {"elsewhere.example": 3}}, "none", ""),  # not ours
    ({"auths": {"reg.example:5000": {}}}, "none", ""),  # what a credsStore leaves behind
    ({"auths": {"reg.example:5000": {"auth": base64.b64encode(b"u:p:w").decode()}}}, ("u", "p:w"), ""),
    ({"auths": {"http://reg.example:5000": {"username": "u", "password": "p"}}}, ("u", "p"), ""),
    ({"auths": {"reg.example:5000": {"registrytoken": "rt-1234", "auth": "ignored"}}}, "registry", ""),
    ({"auths": {"reg.example:5000": {"identitytoken": "it-1234", "username": "u"}}}, "identity", ""),
]


@pytest.mark.parametrize("config,expected,message", ODD_CONFIGS, ids=[str(i) for i in range(len(ODD_CONFIGS))])
def test_docker_config_shapes(tmp_path, config, expected, message):
    from builder.errors import InputError
    from builder.registry import docker_credentials

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    if expected is None:
        with pytest.raises(InputError) as caught:
            docker_credentials("reg.example:5000", path)
        assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
        return
    found = docker_credentials("reg.example:5000", path)
    if expected == "none":
        assert found is None
    elif expected == "registry":
        assert found.registry_token == "rt-1234" and found.username is None
    elif expected == "identity":
        assert found.identity_token == "it-1234"
    else:
        assert (found.username, found.password) == expected


def test_a_docker_config_that_is_not_json_is_bad_input_and_a_missing_one_is_no_credentials(tmp_path):
    from builder.errors import InputError
    from builder.registry import docker_credentials

    assert docker_credentials("reg.example:5000", tmp_path / "missing.json") is None
    path = tmp_path / "config.json"
    path.write_text('{"auths": {')
    with pytest.raises(InputError, match=r"config.json: not valid JSON"):
        docker_credentials("reg.example:5000", path)


def test_credential_helper_answers_that_make_no_sense_are_no_credentials(tmp_path, monkeypatch):
    from builder.registry import docker_credentials

    helpers = tmp_path / "helpers"
    helpers.mkdir()
    monkeypatch.setenv("PATH", f"{helpers}{os.pathsep}{os.environ['PATH']}")
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"credsStore": "odd"}))
    for answer in ("[]", '{"Username": 1, "Secret": "s"}', "not json", '{"Username": "u"}'):
        helper = helpers / "docker-credential-odd"
        helper.write_text(f"#!/bin/sh\ncat >/dev/null\necho '{answer}'\n")
        helper.chmod(helper.stat().st_mode | stat.S_IEXEC)
        assert docker_credentials("reg.example:5000", path) is None
    helper.write_text('#!/bin/sh\ncat >/dev/null\necho \'{"Username": "<token>", "Secret": "tok-1234"}\'\n')
    assert docker_credentials("reg.example:5000", path).identity_token == "tok-1234"
