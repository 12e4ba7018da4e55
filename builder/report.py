"""What the tasks print: plain text for people, JSON for programs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

from .plan import PlannedTarget


def console() -> Console:
    """A console for stdout; when piped (CI logs, files) wide enough that ids and images do not wrap."""
    import os
    import sys

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=200)


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


def plan_table(plan: Iterable[PlannedTarget]) -> Table:
    table = Table(title="argoexec build plan", show_lines=False)
    for column in ("id", "os.version", "base image", "build", "builder", "on", "smoke-tested on"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "os.version", "build", "builder"))
    for entry in plan:
        smoke = ", ".join(s.runner + (f" ({s.isolation})" if s.isolation else "") for s in entry.smoke) or "-"
        where = entry.runner if entry.runner != "local" else f"host {entry.host_build.base}"
        table.add_row(entry.target.id, entry.os_version or entry.target.platform, entry.base_image,
                      entry.build + (" *" if entry.reason else ""), entry.builder, where or "-", smoke)
    return table


def print_plan(plan: list[PlannedTarget], as_json: bool, out: Console | None = None) -> None:
    if as_json:
        print(dumps([entry.to_json() for entry in plan]))
        return
    out = out or console()
    out.print(plan_table(plan))
    notes = [entry for entry in plan if entry.reason]
    if notes:
        out.print("\n* why not:")
        for entry in notes:
            out.print(f"  {entry.target.id}: {entry.reason}", soft_wrap=True, highlight=False)


def print_compat(answer: dict[str, Any], host: str, image: str, as_json: bool) -> None:
    if as_json:
        print(dumps(answer))
        return
    yes = {True: "yes", False: "no"}
    print(f"image {image} on host {host}")
    print(f"  process isolation: {yes[answer['process']]}")
    print(f"  Hyper-V isolation: {yes[answer['hyperv']]}")
    for part in answer["reason"].split("; "):
        print(f"  - {part}")
