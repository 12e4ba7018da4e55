"""Names as a leaf: the modules that only name images (the matrix, render, the table and its formats) parse
references with ``builder.reference`` and never load the registry client (its HTTP transport, credentials)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli import ROOT


@pytest.mark.parametrize("module", ["builder.render", "builder.table", "builder.table_formats", "builder.matrix"])
def test_module_imports_nothing_from_the_registry_client(module):
    # A fresh interpreter: the test session has long imported the registry package for other tests.
    code = (f"import sys, {module}; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('builder.registry'))))")
    found = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "", f"{module} loads {found.stdout.strip()}"


def test_the_registry_client_uses_the_one_parser():
    from builder import reference, registry

    assert registry.Reference is reference.Reference
    assert registry.DIGEST_RE is reference.DIGEST_RE
