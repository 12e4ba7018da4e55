"""No function in builder/ is longer than 80 lines: a longer one does several things, and each of
them wants a name of its own (issue 19: options once, a thin pipeline)."""

from __future__ import annotations

import ast
from pathlib import Path

BUILDER = Path(__file__).resolve().parent.parent / "builder"
LIMIT = 80


def long_functions(root: Path, limit: int = LIMIT) -> list[str]:
    """``path:line name (N lines)`` for every function or method under ``root`` longer than ``limit``
    lines, from its ``def`` (or first decorator) to its last line, nested functions counted in theirs."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = node.end_lineno - first + 1
                if length > limit:
                    found.append(f"{path.relative_to(root.parent)}:{first} {node.name} ({length} lines)")
    return found


def test_no_function_in_builder_is_over_80_lines():
    assert long_functions(BUILDER) == [], "split these into named steps"


def test_the_scan_finds_a_long_function_and_a_long_method(tmp_path):
    body = "".join(f"    x{i} = {i}\n" for i in range(LIMIT))
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "long.py").write_text(
        f"def short():\n    return 1\n\n\ndef long():\n{body}\n\nclass C:\n    @staticmethod\n    async def m():\n"
        + body.replace("    ", "        "), encoding="utf-8")
    found = long_functions(tmp_path / "pkg")
    assert found == [f"pkg/long.py:5 long ({LIMIT + 1} lines)", f"pkg/long.py:{LIMIT + 9} m ({LIMIT + 2} lines)"]
    assert long_functions(tmp_path / "pkg", limit=LIMIT + 2) == []
