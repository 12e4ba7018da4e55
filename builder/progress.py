"""Progress for long work (builds, pulls, pushes, checks).

On a terminal: one line per build step and a final status per target. In CI (``CI=true`` or
``GITHUB_ACTIONS``): each target's output folded into a ``::group::`` and errors marked with
``::error::``, then a summary; with ``GITHUB_STEP_SUMMARY`` set, the summary is also appended
there as Markdown. Every line goes through ``secrets.redact``.
"""

from __future__ import annotations

import collections
import os
import sys
from dataclasses import dataclass, field

from rich.console import Console

from .checks import NOT_RUNNABLE, PASS
from .secrets import redact

UNCHANGED = "unchanged"  # a target skipped because its published image has the same inputs (builder.inputs)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true" or bool(os.environ.get("GITHUB_ACTIONS"))


@dataclass
class Progress:
    console: Console = field(default_factory=lambda: Console(file=sys.stdout, highlight=False,
                                                             width=None if sys.stdout.isatty() else 200))
    ci: bool = field(default_factory=in_ci)
    summary: list[tuple[str, str, str]] = field(default_factory=list)
    _tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=60))

    def say(self, text: str) -> None:
        """A line outside any step (what a run is about to do, which binary it uses)."""
        self.console.print(redact(text), markup=False, highlight=False, soft_wrap=True)

    def begin(self, title: str) -> None:
        self._tail.clear()
        if self.ci:
            print(f"::group::{title}", flush=True)
        else:
            self.console.print(f"[bold]==> {title}[/bold]")

    def line(self, text: str) -> None:
        text = redact(text.rstrip("\n"))
        if not text.strip():
            return
        self._tail.append(text)
        self.console.print(f"    {text}", markup=False, soft_wrap=True)

    def tail(self) -> str:
        return "\n".join(self._tail)

    def end(self, what: str, status: str, detail: str = "") -> None:
        detail = redact(detail)
        if self.ci:
            print("::endgroup::", flush=True)
            if status not in (PASS, NOT_RUNNABLE):
                print(f"::error title={what}::{status}: {detail}".replace("\n", " "), flush=True)
        self.console.print(f"    {what}: {status}" + (f" ({detail})" if detail else ""), markup=False)
        self.summary.append((what, status, detail))

    def skip(self, what: str, reason: str) -> None:
        """A target left alone (its published image is up to date): one line, and ``unchanged`` in the summary."""
        self.console.print(f"skip {what}: {redact(reason)}", markup=False, soft_wrap=True)
        self.summary.append((what, UNCHANGED, redact(reason)))

    def print_summary(self, heading: str) -> None:
        if not self.summary:
            return
        counts = collections.Counter(status for _, status, _ in self.summary)
        self.console.print(f"\n{heading}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())),
                           markup=False)
        for what, status, detail in self.summary:
            self.console.print(f"  {status:12} {what}" + (f"  {detail}" if detail and status not in (PASS, UNCHANGED)
                                                          else ""),
                               markup=False, soft_wrap=True)
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if step_summary:
            with open(step_summary, "a", encoding="utf-8") as out:
                out.write(f"### {heading}\n\n| target | status | detail |\n|---|---|---|\n")
                for what, status, detail in self.summary:
                    out.write(f"| {what} | {status} | {detail.replace('|', '/')} |\n")
