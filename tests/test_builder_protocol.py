"""Both builders implement the one ``builders.Builder`` protocol the pipeline uses: the same members,
and methods whose parameters are the protocol's (``dry_run`` keyword-only, off by default)."""

from __future__ import annotations

import inspect

import pytest

from builder import plan
from builder.builders import Builder
from builder.builders.docker import DockerBuilder
from builder.builders.oci import OciBuilder

METHODS = ("inputs", "content", "build")


def _parameters(function) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("cls", [DockerBuilder, OciBuilder], ids=lambda c: c.__name__)
def test_a_builder_has_the_protocols_members_and_signatures(cls):
    assert cls.name in plan.BUILDERS and cls.name != plan.BUILDER_AUTO
    assert "{image}" in cls.done and "{digest}" in cls.done
    for method in METHODS:
        assert _parameters(getattr(cls, method)) == _parameters(getattr(Builder, method)), method
    dry_run = inspect.signature(cls.build).parameters["dry_run"]
    assert dry_run.kind is inspect.Parameter.KEYWORD_ONLY and dry_run.default is False


def test_every_builder_name_but_auto_has_a_builder():
    assert {c.name for c in (DockerBuilder, OciBuilder)} == set(plan.BUILDERS) - {plan.BUILDER_AUTO}
