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
