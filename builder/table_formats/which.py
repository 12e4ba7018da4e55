"""``invoke which``: the answer for one node, per Argo version (reference, isolation, how sure, warnings), as text,
JSON and the argo-workflows Helm chart's values; the page's "my node" box shows the same text."""

from __future__ import annotations

import dataclasses
import json

from .. import checks as checks_mod
from ..compat import WindowsBuild
from ..reference import DOCKER_HUB, Reference
from ..selection import CONTAINERD, DOCKER, RUNTIME_LABELS
from ..table import (
    DIFFER,
    ISOLATION_LABELS,
    LABEL,
    OLDER_RELEASES,
    PREFERENCES,
    VERIFIED_PASS,
    Cell,
    Node,
    Resolution,
    Taken,
    nearest_column,
)
from .common import SHORT
from .text import wrap


def _node_heading(node: Node, hosts: tuple, oldest: WindowsBuild | None = None) -> str:
    if oldest is not None and node.build.build < oldest.build:
        name = OLDER_RELEASES.get(node.build.build)
        return (f"{name + ' ' if name else ''}({node.build}): not supported: no nanoserver of this matrix runs "
                f"there (the oldest is {oldest.base}; Windows runs no image newer than its host)")
    if node.column is not None:
        return f"{node.column.label}, build {node.build}:"
    near = nearest_column(hosts, node.build)
    nearest = f"; nearest: {near.name}, {near.build.base}" if near else ""
    return f"A {node.build} node (no column: the rules decide{nearest}):"


def _proof(cell: Cell, rule: str) -> str:
    """How sure: verified where and when, or predicted by which rule."""
    if cell.state == VERIFIED_PASS:
        ev = cell.evidence
        if ev.checks and all(check == checks_mod.WORKFLOW_CHECK.name for check, _ in ev.checks):
            return f"verified {ev.date[:10]} on {ev.runner}, host {ev.host_os_version} (a workflow on an Argo cluster)"
        return (f"verified {ev.date[:10]} on runner {ev.runner}, host {ev.host_os_version} "
                f"(engine {ev.engine_version or '?'})")
    return f"predicted by the rule: {rule}; not yet verified"


def _taken_line(label: str, taken: Taken) -> str:
    pick = taken.pick
    if pick.entry is None:
        return f"{label}: no entry: {pick.rule}"
    how = (f"runs with {ISOLATION_LABELS[taken.placement.isolation]} isolation" if taken.placement and
           taken.placement.isolation else f"cannot run it ({taken.placement.reason})" if taken.placement else "")
    state = f", {SHORT[taken.cell.state]}" if taken.cell and taken.placement and taken.placement.isolation else ""
    return f"{label}: the {pick.entry.name} entry ({pick.entry.os_version}): {pick.rule}; {how}{state}"


def _one_tag_line(res: Resolution) -> str:
    """Which entry of the one tag each runtime takes, in one line (``≠`` only when they take different ones)."""
    subject = f"the one tag {res.index.pinned}" if res.index is not None else "the one tag"
    docker, containerd = res.taken[DOCKER].pick.entry, res.taken[CONTAINERD].pick.entry
    if docker == containerd:
        what = f"its {docker.name} entry" if docker else "no entry of it"
        return f"{subject}: Docker Engine and containerd take {what}"
    return (f"{subject}: Docker Engine takes {f'its {docker.name} entry' if docker else 'no entry'}, containerd "
            f"{f'its {containerd.name} entry' if containerd else 'none'}")


@dataclasses.dataclass
class WhichAnswer:
    """One Argo version's answer on one node, as ``invoke which`` and the page's box lead with it: the reference
    to pull, the isolation, how sure, and ``warnings`` (each one line, shown after those three; other checks add
    theirs to the list)."""

    argo: str
    reference: str | None  # None: no image of this matrix runs on the node
    isolation: str | None
    how_sure: str
    warnings: list[str]
    details: list[str]  # the runtimes' picks and the preference, after the answer (all of them with --verbose)
    verbose: list[str]


def which_answers(node: Node, resolutions: list[Resolution], oldest: WindowsBuild | None = None,
                  notes: dict[str, list[str]] | None = None) -> list[WhichAnswer]:
    """``notes``: per Argo version, what the rules cannot show on this node (builder/node_notes.py), each a
    warning of that version's answer."""
    answers = []
    for res in resolutions:
        advice = res.preferred
        warnings: list[str] = list((notes or {}).get(res.argo, []))
        if res.disagreement and (res.taken[DOCKER].pick.entry or res.taken[CONTAINERD].pick.entry):
            warnings.append(f"{DIFFER[0]} the runtimes differ: {res.disagreement}")
        verbose = [_taken_line("Docker Engine", res.taken[DOCKER]), _taken_line("containerd", res.taken[CONTAINERD])]
        if advice.row is None:
            why = ("the node is older than every base" if oldest is not None and node.build.build < oldest.build
                   else "the rules forbid every image of this matrix here")
            answers.append(WhichAnswer(res.argo, None, None, why, warnings, [_one_tag_line(res)], verbose))
            continue
        pull = advice.row.pull
        reference = (pull.pinned + ("" if pull.digest else " (not published yet)")) if pull else advice.row.id
        verbose.append(f"preferred {advice.row.id}, picked by: {advice.rule}")
        answers.append(WhichAnswer(res.argo, reference, ISOLATION_LABELS[advice.isolation],
                                   _proof(advice.cell, advice.cell.rule), warnings, [_one_tag_line(res)], verbose))
    return answers


def which_text(node: Node, resolutions: list[Resolution], hosts: tuple, width: int | None = None,
               verbose: bool = False, oldest: WindowsBuild | None = None, note: str | None = None,
               notes: dict[str, list[str]] | None = None) -> str:
    """``invoke which``: the answer first, per Argo version: the reference to pull, the isolation, how sure, and
    the warnings; then which entry of the one tag the runtimes take (with ``verbose``: each runtime's rule and the
    preference). Every line wrapped to ``width``."""
    lines = [_node_heading(node, hosts, oldest)]
    for answer in which_answers(node, resolutions, oldest, notes):
        if answer.reference is None:
            lines.append(f"{answer.argo}: no image runs here: {answer.how_sure}")
        else:
            lines.append(f"{answer.argo}: pull {answer.reference}")
            lines.append(f"  isolation: {answer.isolation}")
            lines.append(f"  how sure: {answer.how_sure}")
        lines.extend(f"  ! {warning}" for warning in answer.warnings)
        lines.extend(f"  {detail}" for detail in answer.details)
        if verbose:
            lines.extend(f"  {detail}" for detail in answer.verbose)
    if note:
        lines.append(note)
    return "\n".join(out for line in lines for out in wrap(line, width))


def which_json(node: Node, resolutions: list[Resolution], oldest: WindowsBuild | None = None,
               notes: dict[str, list[str]] | None = None) -> str:
    answers = []
    for res, answer in zip(resolutions, which_answers(node, resolutions, oldest, notes), strict=True):
        answers.append({**res.to_json(), "warnings": answer.warnings})
    document = {"schema": 1, "node": node.to_json(), "label": LABEL,
                "supported": not (oldest is not None and node.build.build < oldest.build),
                "preferences": list(PREFERENCES), "answers": answers}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# argoproj/argo-helm, charts/argo-workflows: values.yaml `executor.image.registry`, `.repository`, `.tag`; the
# controller's Deployment passes them as `--executor-image REGISTRY/REPOSITORY:TAG`.
HELM_SOURCE = "argoproj/argo-helm charts/argo-workflows (values.yaml executor.image)"


def which_helm(node: Node, resolution: Resolution, repository: str) -> str:
    """The argo-workflows chart's values that make the one multi-platform tag the executor image."""
    ref = Reference.parse(repository)
    registry = "docker.io" if ref.registry == DOCKER_HUB else ref.registry
    index = resolution.index
    tag = resolution.argo + (f"@{index.digest}" if index is not None and index.digest else "")
    notes = [f"# {HELM_SOURCE}: the executor image for a hybrid cluster,",
             f"# the one tag {repository}:{resolution.argo} (every Windows build and Linux)."]
    for runtime in (DOCKER, CONTAINERD):
        taken = resolution.taken[runtime]
        what = f"its {taken.pick.entry.name} entry" if taken.pick.entry else "no entry"
        notes.append(f"# On {node.build}: {RUNTIME_LABELS[runtime]} takes {what}.")
    if resolution.disagreement:
        notes.append(f"# {DIFFER[0]} {resolution.disagreement}")
    if index is None or not index.digest:
        notes.append("# Not published yet (or not looked up): no digest to pin.")
    body = ["executor:", "  image:", f"    registry: {json.dumps(registry)}",
            f"    repository: {json.dumps(ref.repository)}", f"    tag: {json.dumps(tag)}"]
    return "\n".join(notes + body) + "\n"
