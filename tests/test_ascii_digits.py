"""Only ASCII digits are digits: Python's ``\\d`` matches full-width and Arabic-Indic digits
too, and ``int()`` reads them, so a go.mod, a lock, a tag or a node written with them passed every check."""

from __future__ import annotations

import json

import pytest

from builder.compat import WindowsBuild
from builder.errors import InputError, MatrixError
from builder.github import ApiError, GitHub, Release
from builder.lock import parse_lock
from builder.matrix import ArgoReleases
from builder.refresh import select_releases
from builder.registry import Reference
from builder.render import go_directive
from builder.retry import retry_after_s
from tests.cli import invoke
from tests.hostile_http import Hostile, HostileServer

FULL_WIDTH_26 = "\uff12\uff16"  # "２６"
ARABIC_INDIC_413 = "\u0664.\u0661.\u0663"  # "٤.١.٣"


def test_a_go_directive_with_full_width_digits_is_refused():
    with pytest.raises(InputError, match="no `go 1.N"):
        go_directive(f"module x\n\ngo 1.{FULL_WIDTH_26}.5\n")


def test_a_lock_with_full_width_digits_in_go_is_refused():
    lock = {"schema": 1, "bases": {}, "argo": [{"version": "v4.1.2", "commit": "a" * 40, "go": f"1.{FULL_WIDTH_26}.5"}]}
    with pytest.raises(MatrixError, match=r"argo\[0\]\.go"):
        parse_lock(json.dumps(lock))


@pytest.mark.parametrize("text", ["\uff11\uff10.\uff10.\uff11\uff17\uff17\uff16\uff13",
                                  "10.0.\u0661\u0667\u0667\u0666\u0663"])
def test_a_windows_build_with_other_digits_is_refused(text):
    with pytest.raises(ValueError):
        WindowsBuild.parse(text)


def test_which_refuses_a_node_written_in_full_width_digits():
    result = invoke("which", "--node", "\uff11\uff10.\uff10.\uff11\uff17\uff17\uff16\uff13")
    assert result.returncode == 2, result.stdout
    assert "unknown node" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("tag", ["sha256:" + "\uff41" * 64, "\u0661\u0662\u0663"])
def test_digests_and_tags_are_ascii(tag):
    with pytest.raises(InputError):
        Reference.parse(f"reg.example/repo@{tag}" if tag.startswith("sha256") else f"reg.example/repo:v{tag}",
                        strict=True)


def test_an_odd_release_tag_is_skipped_with_a_reason():
    releases = [Release(f"v{ARABIC_INDIC_413}", False, None), Release("v4.1.2", False, None)]
    skipped: list[str] = []
    chosen = select_releases(releases, ArgoReleases("argoproj/argo-workflows", ">=4.0", 2, False), skipped)
    assert [r.tag for r in chosen] == ["v4.1.2"]
    assert skipped == [r"release tag 'v\u0664.\u0661.\u0663' is not vX.Y.Z[-rcN]; skipped"]


def test_deeply_nested_json_from_github_is_one_line():
    with HostileServer(Hostile("huge", size=200_000, fill=b"[")) as server:
        with pytest.raises(ApiError, match="nested too deeply"):
            GitHub(base_url=server.url, token=None, attempts=1).releases("argoproj/argo-workflows")


def test_a_retry_after_in_other_digits_is_no_delay():
    assert retry_after_s("\u0663") is None and retry_after_s("3") == 3.0
