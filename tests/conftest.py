from __future__ import annotations

import pytest

from tests import infra


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
