"""What an evaluation says per route and model, and the route change it proposes: never applied, shown as a diff.

:func:`summarise` gives per route and model the tasks, mean score, success rate, mean cost, median latency, quality
per dollar, provider errors and unscored outputs. :func:`propose` picks per route the cheapest model whose mean score
is within ``max_quality_loss`` of the best, and when it is not the route's ``model:`` writes a unified diff of the
route's file that changes that line alone (and, when the proposed model is one of the route's fallbacks, puts the
current model in its place there, so that the chain stays free of repeats). The changed text is validated with the
route file schema before it is shown; the route files themselves are never written.
"""

from __future__ import annotations

import difflib
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
    model's there, among those whose provider failed on at most :data:`MAX_PROPOSED_ERROR_RATE` of the tasks; a diff
    of the route's file when it is not the route's model."""
    evaluated = list(dict.fromkeys(summary.route for summary in summaries))
    files = route_files(routes_dir)
    return tuple(
        _proposal(
            route_set.route(name),
            files[name],
            routes_dir,
            [summary for summary in summaries if summary.route == name],
            max_quality_loss,
        )
        for name in evaluated
    )


def _proposal(
    route: RouteSpec, file: Path, routes_dir: Path, rows: list[ModelSummary], max_quality_loss: float
) -> Proposal:
    scored = [row for row in rows if row.mean_score is not None]
    if not scored:
        return Proposal(route.name, route.model, None, "no output was scored on this route", str(file))
    best = max(row.mean_score or 0.0 for row in scored)
    eligible = [
        row
        for row in scored
        if (row.mean_score or 0.0) >= best - max_quality_loss - 1e-9
        and row.provider_errors <= MAX_PROPOSED_ERROR_RATE * row.tasks
    ]
    if not eligible:
        why = (
            f"every model within {max_quality_loss:g} of the best failed on over {MAX_PROPOSED_ERROR_RATE:.0%} of tasks"
        )
        return Proposal(route.name, route.model, None, why, str(file))
    chosen = min(eligible, key=lambda row: (row.mean_cost_usd or 0.0, -(row.mean_score or 0.0), row.model))
    why = (
        f"{chosen.model} is the cheapest model (${chosen.mean_cost_usd or 0.0:.6f} per task) scoring within "
        f"{max_quality_loss:g} of the best ({chosen.mean_score:.2f} against {best:.2f})"
    )
    if chosen.model == route.model:
        return Proposal(route.name, route.model, None, f"keep: {why}", str(file))
    try:
        diff = route_diff(file, routes_dir, route, chosen.model)
    except RouteFileError as problem:
        return Proposal(route.name, route.model, chosen.model, f"{why}; no diff: {problem}", str(file))
    return Proposal(route.name, route.model, chosen.model, why, str(file), diff)


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
    """A unified diff of ``file`` setting the route's ``model:`` to ``proposed`` (and, if ``proposed`` is one of its
    fallbacks, the current model in its place), named ``a/<routes folder>/<file>`` so that ``patch -p1`` applies it
    from the routes folder's parent.

    Raises:
        RouteFileError: the file's ``model:`` or fallbacks cannot be edited line by line, or the edited text would not
            be the intended route.
    """
    old = file.read_text(encoding="utf-8")
    new = edited_route_text(file, old, route, proposed)
    name = f"{routes_dir.resolve().name}/{file.name}"
    lines = difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def edited_route_text(file: Path, text: str, route: RouteSpec, proposed: str) -> str:
    """``text`` (the route file's) with ``proposed`` as its model, every other byte kept; checked with the schema.

    Raises:
        RouteFileError: as :func:`route_diff`.
    """
    lines = text.splitlines(keepends=True)
    model_line = _only(file, route, [n for n, line in enumerate(lines) if re.match(r"model\s*:", line)], "model")
    lines[model_line] = _replaced(file, route, [model_line], lines, route.model, proposed, "model")[model_line]
    fallbacks = list(route.fallbacks)
    if proposed in fallbacks:
        start = _only(file, route, [n for n, line in enumerate(lines) if re.match(r"fallbacks\s*:", line)], "fallbacks")
        end = next((n for n in range(start + 1, len(lines)) if _TOP_LEVEL_KEY.match(lines[n])), len(lines))
        lines = _replaced(file, route, list(range(start, end)), lines, proposed, route.model, "fallbacks")
        fallbacks[fallbacks.index(proposed)] = route.model
    new = "".join(lines)
    expected = route.model_copy(update={"model": proposed, "fallbacks": fallbacks})
    try:
        parsed = RouteSpec.model_validate(yaml.safe_load(new))
    except (ValidationError, yaml.YAMLError) as error:
        raise RouteFileError(file, f"the edited file would not be valid: {error}", route=route.name) from None
    if parsed != expected:
        raise RouteFileError(file, "the edited file would change more than the model", route=route.name)
    return new


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
