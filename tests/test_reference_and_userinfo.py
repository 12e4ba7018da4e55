"""The one image-reference parser and its users, and the one userinfo pattern: no engine, no registry."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from builder import engine as engine_mod
from builder import smoke
from builder.errors import InputError
from builder.registry import DOCKER_HUB, Reference
from builder.secrets import redact, strip_userinfo

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text,registry,repository,tag,digest,named,familiar", [
    ("alpine:3", DOCKER_HUB, "library/alpine", "3", None, False, "alpine"),
    ("local/base:1", DOCKER_HUB, "local/base", "1", None, False, "local/base"),
    ("docker.io/library/alpine", DOCKER_HUB, "library/alpine", None, None, True, "alpine"),
    ("index.docker.io/argoproj/argoexec:v4.1.2", DOCKER_HUB, "argoproj/argoexec", "v4.1.2", None, True,
     "argoproj/argoexec"),
    ("127.0.0.1:5000/mcr/windows/nanoserver:ltsc2022", "127.0.0.1:5000", "mcr/windows/nanoserver", "ltsc2022", None,
     True, "127.0.0.1:5000/mcr/windows/nanoserver"),
    (f"localhost/x@{DIGEST}", "localhost", "x", None, DIGEST, True, "localhost/x"),
    (f"reg.example:5000/a/b:t@{DIGEST}", "reg.example:5000", "a/b", "t", DIGEST, True, "reg.example:5000/a/b"),
    ("[::1]:5000/x:1", "[::1]:5000", "x", "1", None, True, "[::1]:5000/x"),
])
def test_parse(text, registry, repository, tag, digest, named, familiar):
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert ref.registry_named is named and ref.familiar_name == familiar
    assert ref == Reference(registry, repository, tag, digest)  # registry_named takes no part in equality


@pytest.mark.parametrize("text,message", [
    ("x@sha256:abc", "x@sha256:abc: malformed digest"),
    (":1", ":1: no repository"),
    ("reg.example/", "reg.example/: no repository"),
])
def test_parse_refuses(text, message):
    with pytest.raises(InputError, match=message):
        Reference.parse(text)


@pytest.mark.parametrize("text,message", [
    ("Local Base:1", "base: 'Local Base:1' is not a valid image reference; expected registry/repository:tag"),
    ("local/base:1\nRUN evil", r"base: tag '1\nRUN evil' breaks the OCI tag grammar"),
    ("local/base:ltsc2022\n", r"base: tag 'ltsc2022\n' breaks the OCI tag grammar"),
    ("local/base", "base: 'local/base' has neither tag nor digest; pin one"),
    ("local/base:1@", "base: 'local/base:1@' has a malformed digest; expected @sha256:<64 hex digits>"),
    ("local/base@sha256:AB", "malformed digest"),
    (3, "base: 3 is not an image reference"),
])
def test_strict_parse_is_the_dockerfile_grammar(text, message):
    with pytest.raises(InputError) as caught:
        Reference.parse(text, strict=True, what="base")
    assert message in str(caught.value)


def test_strict_parse_accepts_pinned_references():
    assert Reference.parse(f"reg.example:5000/mcr/windows/servercore@{DIGEST}", strict=True).digest == DIGEST
    assert Reference.parse("mcr.microsoft.com/windows/nanoserver:ltsc2022", strict=True).tag == "ltsc2022"


class _Api:
    def __init__(self, repo_digests=()):
        self.pulls: list[tuple[str, str]] = []
        self.repo_digests = list(repo_digests)

    def pull(self, repository, tag, stream, decode):
        self.pulls.append((repository, tag))
        return iter([{"status": "Downloaded"}])

    def inspect_image(self, image):
        return {"Id": "sha256:" + "0" * 64, "RepoDigests": self.repo_digests}


def _progress() -> SimpleNamespace:
    return SimpleNamespace(line=lambda text: None)


def test_the_engine_pulls_what_the_parser_reads():
    api = _Api()
    engine = SimpleNamespace(api=api)
    for text in ("127.0.0.1:5000/x/y:t", f"127.0.0.1:5000/x/y@{DIGEST}", "docker.io/library/alpine:3", "alpine"):
        assert engine_mod.pull(engine, text, _progress()) is None
    assert api.pulls == [("127.0.0.1:5000/x/y", "t"), ("127.0.0.1:5000/x/y", DIGEST), ("alpine", "3"),
                         ("alpine", "latest")]


def test_smoke_pulls_registry_images_and_keeps_local_ones():
    api = _Api(repo_digests=[f"127.0.0.1:5000/argoexec@{DIGEST}"])
    engine = SimpleNamespace(api=api)
    assert smoke._image_for_check(engine, "127.0.0.1:5000/argoexec:v4.1.2-windows-1809", _progress()) == DIGEST
    assert api.pulls == [("127.0.0.1:5000/argoexec", "v4.1.2-windows-1809")]
    local = _Api()
    assert smoke._image_for_check(SimpleNamespace(api=local), "argoexec-builder/argoexec:v4.1.2-windows-1809",
                                  _progress()) == "sha256:" + "0" * 64
    assert local.pulls == []


@pytest.mark.parametrize("url,redacted,stripped,engine_shown", [
    ("https://u:pw-1234@github.com/x", "https://***@github.com/x", "https://github.com/x",
     "https://u:***@github.com/x"),
    ("https://tok-1234@github.com/x", "https://***@github.com/x", "https://github.com/x",
     "https://tok-1234@github.com/x"),
    ("ssh://git@github.com/x", "ssh://git@github.com/x", "ssh://github.com/x", "ssh://git@github.com/x"),
    ("tcp://admin:s3cret@host:2376", "tcp://***@host:2376", "tcp://host:2376", "tcp://admin:***@host:2376"),
    ("https://github.com/a@b", "https://github.com/a@b", "https://github.com/a@b", "https://github.com/a@b"),
])
def test_one_userinfo_pattern(url, redacted, stripped, engine_shown):
    assert redact(f"fetching {url} failed") == f"fetching {redacted} failed"
    assert strip_userinfo(url) == stripped
    assert engine_mod.redact_url(url) == engine_shown
