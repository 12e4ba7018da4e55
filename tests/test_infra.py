"""The real engine and registry of the suite work end to end: build FROM an imported rootfs, push, pull."""

from __future__ import annotations

import requests


def test_build_push_pull_round_trip(docker_client, base_image, registry, tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base_image}\nRUN echo built-by-the-suite > /marker\nCMD [\"cat\", \"/marker\"]\n")
    events = list(docker_client.api.build(path=str(context), tag="suite/roundtrip:1", decode=True,
                                          network_mode="none", rm=True))
    assert not [e for e in events if "error" in e], events
    image = docker_client.images.get("suite/roundtrip:1")

    remote = f"{registry.host}/suite/roundtrip"
    image.tag(remote, "1")
    pushed = list(docker_client.api.push(remote, tag="1", stream=True, decode=True))
    assert not [e for e in pushed if "error" in e], pushed
    digest = next(e["aux"]["Digest"] for e in pushed if "aux" in e)

    # The registry holds the manifest under that digest.
    head = requests.head(f"{registry.url}/v2/suite/roundtrip/manifests/1",
                         headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, timeout=10)
    assert head.status_code == 200 and head.headers["Docker-Content-Digest"] == digest

    docker_client.images.remove(f"{remote}:1")
    docker_client.images.remove("suite/roundtrip:1")
    pulled = docker_client.images.pull(f"{remote}@{digest}")
    output = docker_client.containers.run(pulled.id, network_mode="none", remove=True)
    assert output.decode().strip() == "built-by-the-suite"
