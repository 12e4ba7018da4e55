"""What the tasks print: plain text for people, JSON for programs."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from . import plan as plan_mod
from .errors import InputError
from .plan import PlannedTarget


def console() -> Console:
    """A console for stdout; when piped (CI logs, files) wide enough that ids and images do not wrap."""
    import os
    import sys

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=200)


def text_width() -> int:
    """The width to wrap plain text to: COLUMNS when set, else the terminal's, else (piped) 80."""
    import os
    import shutil
    import sys

    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), 40)
    if sys.stdout.isatty():
        return max(shutil.get_terminal_size((80, 24)).columns, 40)
    return 80


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False)


PLAN_FORMATS = ("text", "json", "markdown", "github")
PLAN_COLUMNS = ("id", "os.version", "base image", "build", "on", "smoke-tested on")
# How the text, Markdown and GitHub outputs name the planner's build sites (plan.SITES says what each is).
_SITE_CELLS = {plan_mod.ASSEMBLE: "assemble (nightly, Linux)", plan_mod.ANYWHERE: "any machine",
               plan_mod.LINUX: "a Linux engine"}


def _build_cell(entry: PlannedTarget) -> str:
    if entry.builder == plan_mod.BUILDER_OCI and entry.build_site == plan_mod.ANYWHERE:
        return f"{entry.built_by} ({plan_mod.SITES[plan_mod.ANYWHERE]})"
    return entry.built_by


def _site_cell(entry: PlannedTarget) -> str:
    site = entry.build_site
    if site is None:
        return "-"
    if site == plan_mod.LOCAL:
        return f"host {entry.host_build.base}" if entry.host_build else "this engine"
    return _SITE_CELLS.get(site, site)


def _smoke_cell(entry: PlannedTarget) -> str:
    names = {plan_mod.LOCAL: "this host", plan_mod.LINUX: "a Linux engine"}
    return ", ".join(names.get(s.runner, s.runner) + (f" ({s.isolation})" if s.isolation else "")
                     for s in entry.smoke) or "none"


def plan_cells(entry: PlannedTarget) -> tuple[str, ...]:
    """One target as the values of PLAN_COLUMNS."""
    return (entry.target.id, entry.os_version or entry.target.platform, entry.base_image, _build_cell(entry),
            _site_cell(entry), _smoke_cell(entry))


def plan_note(entry: PlannedTarget) -> str | None:
    """Why a target does not build on an engine, or why nothing can smoke-test it (the planner's words)."""
    parts = [entry.reason] if entry.reason else []
    if entry.not_runnable and not any(entry.not_runnable in part for part in parts):
        parts.append(f"no smoke test: {entry.not_runnable}")
    return "; ".join(parts) or None


def plan_table(plan: Iterable[PlannedTarget]) -> Table:
    table = Table(title="argoexec build plan", show_lines=False)
    for column in PLAN_COLUMNS:
        table.add_column(column, no_wrap=True)
    for entry in plan:
        cells = plan_cells(entry)
        table.add_row(*cells[:-1], cells[-1] + (" *" if plan_note(entry) else ""))
    return table


def fits(out: Console, renderable) -> bool:
    """Whether ``renderable`` (a table) fits the console's width without wrapping any cell."""
    unbounded = out.options.update_width(1_000_000)
    return Measurement.get(out, unbounded, renderable).maximum <= out.width


def wrapped(text: str, width: int, first: str, rest: str) -> list[str]:
    """``text`` wrapped to ``width`` after the prefix ``first`` (later lines after ``rest``); words longer
    than a line (a digest-pinned reference) are cut, so no line is longer than ``width``."""
    return textwrap.wrap(text, width=max(width, len(first) + 8), initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False, break_long_words=True) or [first.rstrip()]


def plan_blocks(plan: Iterable[PlannedTarget], width: int) -> list[str]:
    """The plan stacked: one block per target with "key: value" lines, for a terminal too narrow for the table."""
    lines = []
    keys = ("os.version", "base image", "build", "smoke", "why")
    pad = max(len(k) for k in keys) + 4
    for entry in plan:
        target_id, os_version, base_image, build, site, smoke = plan_cells(entry)
        values = {"os.version": os_version, "base image": base_image,
                  "build": build + (f", on {site}" if site != "-" else ""), "smoke": smoke, "why": plan_note(entry)}
        lines.extend(wrapped(target_id, width, "", "  "))
        for key, value in values.items():
            if value:
                lines.extend(wrapped(value, width, f"  {key}:".ljust(pad), " " * pad))
        lines.append("")
    return lines[:-1]


def plan_text(plan: list[PlannedTarget], out: Console) -> None:
    """The table when it fits the console's width, else one block per target; then the notes."""
    table = plan_table(plan)
    if not fits(out, table):
        for line in plan_blocks(plan, out.width):
            out.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    out.print(table)
    notes = [(entry.target.id, plan_note(entry)) for entry in plan if plan_note(entry)]
    if notes:
        out.print("\n* why:", markup=False, highlight=False)
        for target_id, note in notes:
            for line in wrapped(f"{target_id}: {note}", out.width, "  ", "      "):
                out.print(line, markup=False, highlight=False, soft_wrap=True)


def plan_markdown(plan: list[PlannedTarget], github: bool = False) -> str:
    """A GitHub-flavoured Markdown table of the plan and its notes. ``github``: for $GITHUB_STEP_SUMMARY, with a
    heading, a count of where the targets build, and the notes folded in a <details> block."""
    from .table_formats import md_code, md_text

    code = {0, 2}  # the id and the base image are shown as code
    out = []
    if github:
        by_site: dict[str, int] = {}
        for entry in plan:
            key = f"{_build_cell(entry)} on {_site_cell(entry)}"
            by_site[key] = by_site.get(key, 0) + 1
        unsmoked = sum(1 for entry in plan if not entry.smoke)
        out += ["### argoexec build plan", "",
                f"{len(plan)} target(s): " + ", ".join(f"{n} {md_text(site)}" for site, n in by_site.items())
                + f"; {unsmoked} with no smoke site.", ""]
    out.append("| " + " | ".join(PLAN_COLUMNS) + " |")
    out.append("|" + "---|" * len(PLAN_COLUMNS))
    for entry in plan:
        cells = [md_code(value) if index in code else md_text(value) for index, value in enumerate(plan_cells(entry))]
        out.append("| " + " | ".join(cells) + " |")
    notes = [(entry.target.id, plan_note(entry)) for entry in plan if plan_note(entry)]
    if notes:
        items = [f"- {md_code(target_id)}: {md_text(note)}" for target_id, note in notes]
        if github:
            out += ["", "<details><summary>Why (no engine build, no smoke site)</summary>", "", *items, "",
                    "</details>"]
        else:
            out += ["", "Why:", "", *items]
    return "\n".join(out) + "\n"


def plan_format(as_json: bool, format: str | None) -> str:
    """``--format`` (text, json, markdown or github), with ``--json`` an alias of ``--format json``."""
    if format is not None and format not in PLAN_FORMATS:
        raise InputError(f"--format {format}: expected {', '.join(PLAN_FORMATS[:-1])} or {PLAN_FORMATS[-1]}")
    if as_json and format not in (None, "json"):
        raise InputError(f"--json is --format json: drop --json or --format {format}")
    return "json" if as_json else format or "text"


def print_plan(plan: list[PlannedTarget], format: str = "text", out: Console | None = None) -> None:
    if format == "json":
        print(dumps([entry.to_json() for entry in plan]))
    elif format in ("markdown", "github"):
        print(plan_markdown(plan, github=format == "github"), end="")
    else:
        plan_text(plan, out or console())


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
