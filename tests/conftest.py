"""Shared fixtures, and the markers that split the suite.

``pytest -m "not integration"`` runs the unit tests alone, in seconds: everything that starts a
real engine, a registry, a browser or another real tool (skopeo, busybox, htpasswd...) is marked
``integration`` here, from the fixtures it uses (directly or through another fixture), so no test
file has to remember to. Tests that only run the CLI (tests/cli.py: in this process, unless a test
asks for a real one) stay unit tests unless they need such a service. A unit test that reaches for one
of those tools anyway fails, naming itself.
"""

from __future__ import annotations

import pytest

from tests import infra

# Fixture -> the markers of every test that uses it.
FIXTURE_MARKERS = {
    "docker_engine": ("engine", "integration"),  # Debian's dockerd, started by the suite
    "docker_client": ("engine", "integration"),
    "base_image": ("engine", "integration"),
    "registry": ("registry", "integration"),  # Debian's docker-registry, started by the suite
    "secure_registry": ("registry", "integration"),  # tests/test_registry_auth.py: one with htpasswd
    "browser": ("integration",),  # tests/test_table_page.py: headless Chromium through Playwright
    "go_binary": ("integration",),  # tests/test_compile.py: Debian's Go and make compile a stand-in Argo tree
    "wine": ("integration",),  # tests/test_compile.py: Debian's Wine runs the compiled argoexec.exe
}
# A test marked with one of these (by hand or above) is an integration test.
INTEGRATION_MARKERS = ("engine", "registry")


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = {name for fixture in item.fixturenames for name in FIXTURE_MARKERS.get(fixture, ())}
        names |= {m.name for m in item.iter_markers() if m.name in INTEGRATION_MARKERS}
        if names & set(INTEGRATION_MARKERS):
            names.add("integration")
        for name in sorted(names):
            if item.get_closest_marker(name) is None:
                item.add_marker(getattr(pytest.mark, name))


@pytest.fixture(autouse=True)
def _unit_tests_start_no_tools(request, monkeypatch):
    """A test not marked integration must not start dockerd, a registry, skopeo...: it fails if it tries."""
    if request.node.get_closest_marker("integration") is not None:
        return

    def refuse(name: str) -> str:
        pytest.fail(f"{request.node.nodeid} is a unit test but needs {name}: use the fixture that provides it "
                    "(see tests/conftest.py) or mark the test integration")

    monkeypatch.setattr(infra, "require_binary", refuse)


@pytest.fixture(scope="session")
def docker_engine():
    engine = infra.start_docker_engine()
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def registry():
    reg = infra.start_registry()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def docker_client(docker_engine):
    import docker

    client = docker.DockerClient(base_url=docker_engine.url, timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_client, tmp_path_factory):
    """A Linux base image imported from a busybox rootfs (no image can be pulled here)."""
    tar_path = infra.busybox_rootfs_tar(tmp_path_factory.mktemp("rootfs"))
    with open(tar_path, "rb") as data:
        docker_client.api.import_image_from_data(data.read(), repository="local/base", tag="1")
    return "local/base:1"
