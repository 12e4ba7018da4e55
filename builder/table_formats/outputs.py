"""Writing the outputs: docs/compatibility.md, docs/compatibility.json, docs/index.html and the README section,
each whole (a temporary name, then a rename), the README checked before anything is written."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..files import write_atomically
from ..table import Table
from .html import to_html
from .json import to_json
from .markdown import to_markdown
from .readme import readme_section_problem, replace_readme_section, to_readme_summary


def check_readme(readme: Path | None) -> str | None:
    """The README to update must exist and hold one pair of section markers (checked before writing
    anything); its text."""
    if readme is None:
        return None
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        raise InputError(f"--readme {readme}: no such file; pass --readme '' to skip the README") from None
    problem = readme_section_problem(text)
    if problem:
        raise InputError(f"--readme {readme}: {problem}, or pass --readme ''")
    return text


def write_outputs(table: Table, docs: Path, readme: Path | None, dry_run: bool = False) -> list[tuple[Path, bool]]:
    """docs/compatibility.md, docs/compatibility.json, docs/index.html and the README section: each path and
    whether it changed. A file whose text is already that is left alone; ``dry_run`` writes nothing."""
    # The README is checked and its new text made first: a README that cannot be updated leaves
    # every output as it was.
    current = check_readme(readme)
    updated = None if current is None else replace_readme_section(current, to_readme_summary(table))
    markdown = to_markdown(table)
    outputs = [(docs / name, text) for name, text in (
        ("compatibility.md", "# argoexec for Windows: compatibility\n\n" + markdown),
        ("compatibility.json", to_json(table)), ("index.html", to_html(table)))]
    if readme is not None:
        outputs.append((readme, updated))
    results = []
    for path, text in outputs:
        changed = not _holds(path, text)
        if changed and not dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A temporary name of its own: publishes into one folder run at once, and a publish running at once
            # never reads half a file.
            write_atomically(path, text)
        results.append((path, changed))
    return results


def _holds(path: Path, text: str) -> bool:
    """Whether ``path`` is a regular file (not a link) whose text is ``text``."""
    try:
        return path.is_file() and not path.is_symlink() and path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False
