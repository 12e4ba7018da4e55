"""What ``pip install .`` carries: every package of ``builder`` and every file the code reads from its package
(the compatibility page's template, CSS and script), as pyproject.toml declares them to setuptools."""

from __future__ import annotations

import fnmatch
import sys

import pytest
from setuptools import find_packages

from tests.cli import ROOT

tomllib = pytest.importorskip("tomllib") if sys.version_info < (3, 11) else __import__("tomllib")
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _package_dirs() -> list[str]:
    return sorted(str(p.parent.relative_to(ROOT)).replace("/", ".") for p in (ROOT / "builder").rglob("__init__.py")
                  if "__pycache__" not in p.parts)


def test_every_package_of_builder_is_installed():
    found = set(find_packages(where=str(ROOT), **SETUPTOOLS["packages"]["find"]))
    assert set(_package_dirs()) <= found, f"pyproject.toml installs {sorted(found)}"


def test_every_file_a_package_reads_is_package_data():
    declared = SETUPTOOLS.get("package-data", {})
    for package in _package_dirs():
        folder = ROOT / package.replace(".", "/")
        subpackages = {p.parent for p in folder.rglob("__init__.py")} - {folder}
        for path in folder.rglob("*"):
            if (not path.is_file() or path.suffix in (".py", ".pyc") or "__pycache__" in path.parts
                    or any(sub in path.parents for sub in subpackages)):
                continue
            relative = str(path.relative_to(folder))
            assert any(fnmatch.fnmatch(relative, glob) for glob in declared.get(package, [])), \
                f"{package}: {relative} is not in [tool.setuptools.package-data] of pyproject.toml"


def test_the_page_reads_its_template_and_static_files_from_the_package():
    from builder.table_formats import html

    assert "function" in html.static("page.js") and "font-family" in html.static("page.css")
    assert html._environment().get_template("page.html.j2") is not None
