"""What an evaluation says per route and model, and the route change it proposes: never applied, shown as a diff.

:func:`summarise` gives per route and model the tasks, mean score, success rate, mean cost, median latency, quality
per dollar, provider errors and unscored outputs. :func:`propose` picks per route the cheapest model whose mean score
is within ``max_quality_loss`` of the best, and only when the route's current model was measured too (a switch is
never proposed against a model that was not run, or never answered). A sovereign route (a ``final`` rule sends tasks
to it, or its model is self-hosted: :func:`~semroute.learning.evaluation_inputs.sovereignty_of`) is only proposed
models of its own chain or self-hosted ones. A proposed switch is a unified diff of the route's file that sets
``model:`` and keeps the current model in the chain as the first fallback (the proposed model leaves the fallbacks,
the others keep their order); the changed text is validated with the route file schema before it is shown, and the
route files themselves are never written.
"""

from __future__ import annotations

import difflib
import json
import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from semroute.errors import RouteFileError
from semroute.learning.evaluate_models import ModelRun
from semroute.learning.evaluation_inputs import Sovereignty, sovereignty_of
from semroute.learning.observations import SUCCESS_QUALITY, quality_of_score
from semroute.route_files import FITTED_FILE, ROUTER_FILE, RouteSet, read_yaml
from semroute.schema import RouteSpec

DEFAULT_MAX_QUALITY_LOSS = 0.25  # points of the 1-5 scale a cheaper model may lose against the best
MAX_PROPOSED_ERROR_RATE = 0.1  # a model whose provider failed on more of a route's tasks is not proposed for it
_TOP_LEVEL_KEY = re.compile(r"^[^\s#-][^:#]*:")
_COMMENT = re.compile(r"(?:^|\s)#")


@dataclass(frozen=True)
class ModelSummary:
    """One model's figures on one route (None where nothing was measured)."""

    route: str
    model: str
    tasks: int
    scored: int
    mean_score: float | None  # 1-5
    success_rate: float | None  # share of scored outputs with a score of 4 or 5
    mean_cost_usd: float | None  # per answered task
    p50_latency_ms: float | None  # of answered tasks
    quality_per_dollar: float | None  # mean score / mean cost; None when the model cost nothing
    provider_errors: int
    unscored: int  # outputs that could not be scored (a malformed judge answer)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (``--json``)."""
        return asdict(self)


@dataclass(frozen=True)
class Proposal:
    """What the evaluation proposes for one route.

    Attributes:
        route: The route.
        current: Its ``model:`` now.
        proposed: The model proposed instead; None when the route should keep its model (or nothing was scored).
        reason: Why, in words.
        file: The route's file.
        diff: A unified diff of the file (empty without a change, or when the file could not be edited).
    """

    route: str
    current: str
    proposed: str | None
    reason: str
    file: str
    diff: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (``--json``)."""
        return asdict(self)


def summarise(runs: Sequence[ModelRun], scores: Mapping[tuple[str, str], int]) -> tuple[ModelSummary, ...]:
    """Per route and model, in the order the runs came (task order, then model order)."""
    groups: dict[tuple[str, str], list[ModelRun]] = {}
    for run in runs:
        groups.setdefault((run.task.route, run.model), []).append(run)
    return tuple(_summary(route, model, group, scores) for (route, model), group in groups.items())


def _summary(route: str, model: str, runs: list[ModelRun], scores: Mapping[tuple[str, str], int]) -> ModelSummary:
    answered = [run for run in runs if run.output is not None]
    given = [scores[run.task.task_id, model] for run in answered if (run.task.task_id, model) in scores]
    mean_score = statistics.fmean(given) if given else None
    mean_cost = statistics.fmean(run.cost_usd for run in answered) if answered else None
    successes = sum(quality_of_score(score) >= SUCCESS_QUALITY for score in given)
    return ModelSummary(
        route=route,
        model=model,
        tasks=len(runs),
        scored=len(given),
        mean_score=mean_score,
        success_rate=successes / len(given) if given else None,
        mean_cost_usd=mean_cost,
        p50_latency_ms=statistics.median(run.latency_ms for run in answered) if answered else None,
        quality_per_dollar=mean_score / mean_cost if mean_score is not None and mean_cost else None,
        provider_errors=len(runs) - len(answered),
        unscored=len(answered) - len(given),
    )


def propose(
    route_set: RouteSet,
    routes_dir: Path,
    summaries: Sequence[ModelSummary],
    max_quality_loss: float = DEFAULT_MAX_QUALITY_LOSS,
) -> tuple[Proposal, ...]:
    """Per evaluated route: the cheapest model whose mean score is within ``max_quality_loss`` points of the best
    model's there, among those whose provider failed on at most :data:`MAX_PROPOSED_ERROR_RATE` of the tasks and that
    the route's sovereignty allows; a diff of the route's file when it is not the route's model. Nothing is proposed
    for a route whose current model has no score."""
    evaluated = list(dict.fromkeys(summary.route for summary in summaries))
    files = route_files(routes_dir)
    return tuple(
        _proposal(
            route_set.route(name),
            files[name],
            routes_dir,
            [summary for summary in summaries if summary.route == name],
            max_quality_loss,
            sovereignty_of(route_set, name),
        )
        for name in evaluated
    )


def _proposal(
    route: RouteSpec,
    file: Path,
    routes_dir: Path,
    rows: list[ModelSummary],
    max_quality_loss: float,
    sovereignty: Sovereignty | None,
) -> Proposal:
    def kept(*why: str) -> Proposal:
        return Proposal(route.name, route.model, None, "; ".join(part for part in why if part), str(file))

    scored = [row for row in rows if row.mean_score is not None]
    if not scored:
        return kept("no output was scored on this route")
    barred = [row.model for row in scored if sovereignty is not None and row.model not in sovereignty.allowed]
    barred_note = (
        f"{', '.join(barred)} may not serve {route.name} ({sovereignty.why}: only "
        f"{', '.join(sorted(sovereignty.allowed))} may)"
        if barred and sovereignty is not None
        else ""
    )
    allowed = [row for row in scored if row.model not in barred]
    current = next((row for row in rows if row.model == route.model), None)
    if current is None or current.mean_score is None:
        measured = ", ".join(
            f"{row.model} scored {row.mean_score:.2f} (${row.mean_cost_usd or 0.0:.6f} per task)" for row in allowed
        )
        return kept(
            _unmeasured(route.model, current),
            f"{measured}, not compared with it" if measured else "",
            barred_note,
        )
    best = max(row.mean_score or 0.0 for row in allowed)
    eligible = [
        row
        for row in allowed
        if (row.mean_score or 0.0) >= best - max_quality_loss - 1e-9
        and row.provider_errors <= MAX_PROPOSED_ERROR_RATE * row.tasks
    ]
    if not eligible:
        why = (
            f"every model within {max_quality_loss:g} of the best failed on over {MAX_PROPOSED_ERROR_RATE:.0%} of tasks"
        )
        return kept(why, barred_note)
    chosen = min(eligible, key=lambda row: (row.mean_cost_usd or 0.0, -(row.mean_score or 0.0), row.model))
    why = (
        f"{chosen.model} is the cheapest model (${chosen.mean_cost_usd or 0.0:.6f} per task) scoring within "
        f"{max_quality_loss:g} of the best ({chosen.mean_score:.2f} against {best:.2f}"
    )
    if chosen.model == route.model:
        return kept(f"keep: {why})", barred_note)
    was = f"; the current model {route.model} scored {current.mean_score:.2f})"
    stays = f"{route.model} stays in the chain as the first fallback"
    why = "; ".join(part for part in (why + was, stays, barred_note) if part)
    try:
        diff = route_diff(file, routes_dir, route, chosen.model)
    except RouteFileError as problem:
        return Proposal(route.name, route.model, chosen.model, f"{why}; no diff: {problem}", str(file))
    return Proposal(route.name, route.model, chosen.model, why, str(file), diff)


def _unmeasured(model: str, row: ModelSummary | None) -> str:
    """Why the route's current model has no score, for a proposal that therefore proposes no switch."""
    if row is None:
        return f"the current model {model} was not evaluated (add it to --models to compare)"
    if row.provider_errors:
        failed = f"its provider failed on {row.provider_errors} of {row.tasks} tasks"
        return f"the current model {model} was not measured ({failed})"
    return f"the current model {model} was not measured (none of its {row.unscored} outputs could be scored)"


def route_files(routes_dir: Path) -> dict[str, Path]:
    """Route name -> the file that defines it."""
    found: dict[str, Path] = {}
    for path in sorted(routes_dir.glob("*.yaml")):
        if path.name in (ROUTER_FILE, FITTED_FILE):
            continue
        raw = read_yaml(path)
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            found.setdefault(raw["name"], path)
    return found


def route_diff(file: Path, routes_dir: Path, route: RouteSpec, proposed: str) -> str:
    """A unified diff of ``file`` setting the route's ``model:`` to ``proposed`` and its fallbacks to the current model
    followed by the others but ``proposed`` (:func:`edited_route_text`), named ``a/<routes folder>/<file>`` so that
    ``git apply`` or ``patch -p1`` applies it from the routes folder's parent.

    Raises:
        RouteFileError: the file's ``model:`` or fallbacks cannot be edited line by line, or the edited text would not
            be the intended route.
    """
    old = file.read_text(encoding="utf-8")
    new = edited_route_text(file, old, route, proposed)
    name = f"{routes_dir.resolve().name}/{file.name}"
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def proposed_fallbacks(route: RouteSpec, proposed: str) -> list[str]:
    """The fallbacks once ``proposed`` is the route's model: the current model first (it stays in the chain, and the
    learned choice keeps the outcomes it has for it), then the others in their order, without ``proposed``."""
    return [route.model, *(model for model in route.fallbacks if model != proposed)]


def edited_route_text(file: Path, text: str, route: RouteSpec, proposed: str) -> str:
    """``text`` (the route file's) with ``proposed`` as its model and :func:`proposed_fallbacks` as its fallbacks,
    every other byte kept; checked with the schema.

    The fallbacks are edited where they are written: the first fallback swapped with the current model in place (any
    style, comments kept); otherwise the current model put first in a one-line ``[...]`` list or as a new ``- `` item
    of a block list, the proposed model's item removed; or a ``fallbacks: [current]`` line added after ``model:``.

    Raises:
        RouteFileError: as :func:`route_diff`.
    """
    lines = text.splitlines(keepends=True)
    model_line = _only(file, route, [n for n, line in enumerate(lines) if re.match(r"model\s*:", line)], "model")
    lines[model_line] = _replaced(file, route, [model_line], lines, route.model, proposed, "model")[model_line]
    fallbacks = proposed_fallbacks(route, proposed)
    found = [n for n, line in enumerate(lines) if re.match(r"fallbacks\s*:", line)]
    if not found and not route.fallbacks:
        ending = "\r\n" if lines[model_line].endswith("\r\n") else "\n"
        if not lines[model_line].endswith("\n"):
            lines[model_line] += ending
        lines.insert(model_line + 1, f"fallbacks: [{_scalar(route.model)}]{ending}")
    else:
        start = _only(file, route, found, "fallbacks")
        end = next((n for n in range(start + 1, len(lines)) if _TOP_LEVEL_KEY.match(lines[n])), len(lines))
        if route.fallbacks and route.fallbacks[0] == proposed:
            lines = _replaced(file, route, list(range(start, end)), lines, proposed, route.model, "fallbacks")
        else:
            lines = _fallbacks_edited(file, route, lines, start, end, proposed)
    new = "".join(lines)
    expected = route.model_copy(update={"model": proposed, "fallbacks": fallbacks})
    try:
        parsed = RouteSpec.model_validate(yaml.safe_load(new))
    except (ValidationError, yaml.YAMLError) as error:
        raise RouteFileError(file, f"the edited file would not be valid: {error}", route=route.name) from None
    if parsed != expected:
        raise RouteFileError(file, "the edited file would change more than the model and fallbacks", route=route.name)
    return new


def _fallbacks_edited(file: Path, route: RouteSpec, lines: list[str], start: int, end: int, proposed: str) -> list[str]:
    """``lines`` with the current model put first in the fallbacks written on lines ``start`` to ``end`` (the key's
    line and its block), and ``proposed`` taken out of them."""
    changed = list(lines)
    line = lines[start]
    value_from = line.index(":") + 1
    comment = _COMMENT.search(line, value_from)
    value_to = comment.start() if comment else len(line.rstrip("\r\n"))
    flow = re.fullmatch(r"(\s*)\[(.*)\](\s*)", line[value_from:value_to])
    if flow is not None:
        items = [item.strip() for item in flow[2].split(",") if item.strip()]
        kept = [item for item in items if _unquoted(item) != proposed]
        if len(items) - len(kept) != (proposed in route.fallbacks):
            raise RouteFileError(file, f"cannot find {proposed!r} once in the fallbacks", route=route.name)
        listed = ", ".join([_scalar(route.model), *kept])
        changed[start] = f"{line[:value_from]}{flow[1]}[{listed}]{flow[3]}{line[value_to:]}"
        return changed
    item_lines = [n for n in range(start + 1, end) if re.match(r"\s*-\s", lines[n])]
    if line[value_from:value_to].strip() or not item_lines:
        raise RouteFileError(file, "the fallbacks are neither a one-line [...] list nor a block list", route=route.name)
    dropped = [n for n in item_lines if _unquoted(_COMMENT.split(lines[n].split("-", 1)[1], 1)[0].strip()) == proposed]
    if len(dropped) != (proposed in route.fallbacks):
        raise RouteFileError(file, f"cannot find {proposed!r} once in the fallbacks", route=route.name)
    first = lines[item_lines[0]]
    indent = first[: len(first) - len(first.lstrip())]
    ending = "\r\n" if first.endswith("\r\n") else "\n"
    for number in dropped:
        del changed[number]
    changed.insert(item_lines[0], f"{indent}- {_scalar(route.model)}{ending}")
    return changed


def _unquoted(item: str) -> str:
    return item[1:-1] if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"" else item


def _scalar(name: str) -> str:
    """``name`` as a YAML scalar: bare when it reads back as itself, otherwise quoted."""
    try:
        plain = yaml.safe_load(name) == name
    except yaml.YAMLError:
        plain = False
    return name if plain else json.dumps(name)


def _only(file: Path, route: RouteSpec, found: list[int], key: str) -> int:
    if len(found) != 1:
        raise RouteFileError(file, f"no single top-level `{key}:` line to edit", route=route.name, field=key)
    return found[0]


def _replaced(
    file: Path, route: RouteSpec, where: list[int], lines: list[str], old: str, new: str, key: str
) -> list[str]:
    """``lines`` with the one scalar ``old`` (bare or quoted, after the key, outside comments) of the lines ``where``
    (the key's line first) set to ``new``."""
    scalar = re.compile(rf"(?<![\w./-])(['\"]?){re.escape(old)}\1(?![\w./-])")
    hits: list[tuple[int, re.Match[str]]] = []
    for number in where:
        line = lines[number]
        start = line.index(":") + 1 if number == where[0] else 0
        comment = _COMMENT.search(line, start)
        hits += [(number, match) for match in scalar.finditer(line, start, comment.start() if comment else len(line))]
    if len(hits) != 1:
        raise RouteFileError(file, f"cannot find {old!r} once to replace it", route=route.name, field=key)
    number, match = hits[0]
    changed = list(lines)
    line = lines[number]
    changed[number] = line[: match.start()] + match.group(1) + new + match.group(1) + line[match.end() :]
    return changed
