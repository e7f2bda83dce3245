"""What ``semroute evaluate-models`` is given, checked before any model is called: the tasks file, the candidate
and judge models of the catalog, where each model is called (the providers file), and which models the tasks of a
sovereign route may be sent to (:func:`check_sovereignty`).

Every problem names the file and line, or the option, and what is known instead: an unknown route lists the route
set's routes, an unknown model the catalog's models.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from semroute.catalog import resolve_catalog
from semroute.constraints import reach
from semroute.errors import ConfigError, DatasetError
from semroute.execution import Provider
from semroute.execution.providers import Providers, provider_for
from semroute.route_files import ROUTER_FILE, RouteSet
from semroute.types import ResolvedModel, Tier

ALLOW_OUTSIDE_FLAG = "--allow-sovereign-tasks-outside"
MAX_LISTED_PROBLEMS = 20  # invalid tasks listed in an error; the rest are counted
_LINE_FILES = (".jsonl", ".ndjson")
_LIST_FILES = (".yaml", ".yml", ".json")
_TASK_KEYS = ("text", "route")


@dataclass(frozen=True)
class EvaluationTask:
    """One task of the tasks file.

    Attributes:
        text: The task, sent to every model as one user message.
        route: The route (task type) it represents.
        where: Where it is written, e.g. ``tasks.jsonl, line 3``.
    """

    text: str
    route: str
    where: str = field(default="", compare=False)

    @property
    def task_id(self) -> str:
        """The text's SHA-256: every model's observation of this task shares it."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def load_tasks(path: Path, route_set: RouteSet) -> tuple[EvaluationTask, ...]:
    """Read and check a tasks file: JSON Lines (``.jsonl``), or a list in YAML or JSON (``.yaml``, ``.yml``,
    ``.json``); each task an object with a non-empty ``text`` and a ``route`` of ``route_set``.

    Raises:
        DatasetError: naming the file and the line of every invalid task (up to :data:`MAX_LISTED_PROBLEMS`).
    """
    suffix = path.suffix.lower()
    if suffix not in _LINE_FILES + _LIST_FILES:
        raise DatasetError(f"{path}: a tasks file is JSON Lines (.jsonl) or a YAML or JSON list (.yaml, .yml, .json)")
    text = _read_text(path)
    items = _line_items(path, text) if suffix in _LINE_FILES else _list_items(path, text)
    known = {route.name for route in route_set.routes}
    tasks: list[EvaluationTask] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for line, value in items:
        where = f"{path}, line {line}"
        problem = _task_problem(value, known)
        if problem is None and value["text"] in first_line:
            problem = f"repeats the task of line {first_line[value['text']]}"
        if problem is not None:
            problems.append(f"{where}: {problem}")
            continue
        first_line[value["text"]] = line
        tasks.append(EvaluationTask(value["text"], value["route"], where))
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        raise DatasetError(
            f"{path}: {len(problems)} invalid tasks:\n{listed}" + (f"\n  ... and {more} more" if more > 0 else "")
        )
    if not tasks:
        raise DatasetError(f"{path}: no tasks")
    return tuple(tasks)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason})") from None


def _line_items(path: Path, text: str) -> list[tuple[int, Any]]:
    items: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}, line {number}: not JSON ({error.msg})") from None
    return items


def _list_items(path: Path, text: str) -> list[tuple[int, Any]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise DatasetError(f"{path}{where}: malformed YAML ({getattr(error, 'problem', None) or error})") from None
    if values is None:
        return []
    if not isinstance(root, yaml.SequenceNode) or not isinstance(values, list):
        raise DatasetError(f"{path}: expected a list of tasks at the top level, found {type(values).__name__}")
    return [(node.start_mark.line + 1, value) for node, value in zip(root.value, values, strict=True)]


def _task_problem(value: Any, known_routes: set[str]) -> str | None:
    if not isinstance(value, dict):
        return f"expected an object with text and route, found {type(value).__name__}"
    unknown = sorted(str(key) for key in value if key not in _TASK_KEYS)
    if unknown:
        return f"unknown key {', '.join(map(repr, unknown))} (a task has text and route)"
    text, route = value.get("text"), value.get("route")
    if not isinstance(text, str) or not text.strip():
        return "field 'text': a task needs a non-empty text"
    if not isinstance(route, str):
        return "field 'route': a task needs the name of its route"
    if route not in known_routes:
        return f"field 'route': unknown route {route!r}; the route set has: {', '.join(sorted(known_routes))}"
    return None


def resolve_models(route_set: RouteSet, names: Sequence[str], option: str = "--models") -> tuple[ResolvedModel, ...]:
    """The catalog models called ``names``, with their prices and context windows.

    Raises:
        ConfigError: no model given, a name given twice, a model the catalog lacks (listing the catalog), or one
            without prices.
    """
    if not names:
        raise ConfigError(f"{option}: name at least one model of the catalog in {ROUTER_FILE}")
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if repeated:
        raise ConfigError(f"{option}: model {', '.join(map(repr, repeated))} is given twice")
    unknown = [name for name in names if name not in route_set.models]
    if unknown:
        raise ConfigError(
            f"{option}: unknown model {', '.join(map(repr, unknown))}; the catalog in {ROUTER_FILE} has: "
            f"{', '.join(sorted(route_set.models))}"
        )
    resolved = resolve_catalog({name: route_set.models[name] for name in names})
    return tuple(resolved[name] for name in names)


def load_providers(path: Path) -> dict[str, Provider]:
    """Read a providers file: a YAML or JSON mapping of a catalog name, a litellm name, a litellm prefix or ``*`` to
    the fields of :class:`~semroute.execution.Provider` (``model``, ``api_base``, ``api_key_env``, ``api_key``).

    Raises:
        ConfigError: naming the file and the entry that is not valid.
    """
    try:
        raw = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: malformed YAML ({getattr(error, 'problem', None) or error})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of model (or '*') to provider settings")
    allowed = [item.name for item in fields(Provider)]
    providers: dict[str, Provider] = {}
    for key, settings in raw.items():
        if not isinstance(settings, dict) or not all(isinstance(value, str) for value in settings.values()):
            raise ConfigError(f"{path}, entry {key!r}: expected a mapping of {', '.join(allowed)} to text")
        unknown = sorted(str(name) for name in settings if name not in allowed)
        if unknown:
            raise ConfigError(f"{path}, entry {key!r}: unknown key {', '.join(map(repr, unknown))}")
        try:
            providers[str(key)] = Provider(**settings)
        except ValueError as error:
            raise ConfigError(f"{path}, entry {key!r}: {error}") from None
    return providers


def check_providers(models: Sequence[ResolvedModel], providers: Providers | None) -> None:
    """Check, before any call, that every model's provider settings are complete (a key named by environment
    variable is set).

    Raises:
        ConfigError: naming the model and the variable.
    """
    for model in models:
        try:
            provider_for(model, providers).litellm_arguments(model)
        except ValueError as error:
            raise ConfigError(str(error)) from None


@dataclass(frozen=True)
class Sovereignty:
    """What keeps a route's tasks inside: a ``final`` rule that sends tasks to it (the bundled ``data_sovereignty``),
    or a self-hosted model serving it.

    Attributes:
        route: The route.
        why: In words, e.g. ``reached by the final rule data_sovereignty; its model qwen is self-hosted``.
        allowed: The models its tasks may be sent to and the route may be moved onto: those of its own chain
            (``model``, ``fallbacks``, ``cascade``: the router and the learned choice never leave it) and the
            catalog's self-hosted models.
    """

    route: str
    why: str
    allowed: frozenset[str]


def sovereignty_of(route_set: RouteSet, route_name: str) -> Sovereignty | None:
    """What keeps ``route_name``'s tasks inside, or None when nothing does. A rule whose ``allow`` can reach the
    route (:func:`~semroute.constraints.reach`) allows only its models, for every task of the route: which tasks the
    rule fires on is not known here, so the strictest applies."""
    route = route_set.route(route_name)
    restricting = [
        (rule, reach(position, route_set.rules, route_set.routes, route_set.models))
        for position, rule in enumerate(route_set.rules)
        if rule.then.allow is not None
    ]
    restricting = [(rule, found) for rule, found in restricting if route_name in found.routes]
    if restricting:
        allowed = frozenset.intersection(*(frozenset(found.allowed) for _, found in restricting))
        names = ", ".join(rule.name for rule, _ in restricting)
        plural = "s" if len(restricting) > 1 else ""
        return Sovereignty(route_name, f"restricted by the rule{plural} {names}", allowed)
    rules = [rule.name for rule in route_set.rules if rule.final and rule.then.route == route_name]
    reasons = [f"reached by the final rule{'s' if len(rules) > 1 else ''} {', '.join(rules)}"] if rules else []
    if route_set.models[route.model].tier is Tier.SELF_HOSTED:
        reasons.append(f"its model {route.model} is self-hosted")
    if not reasons:
        return None
    self_hosted = {name for name, spec in route_set.models.items() if spec.tier is Tier.SELF_HOSTED}
    chain = {route.model, *route.fallbacks, *route.cascade}
    return Sovereignty(route_name, "; ".join(reasons), frozenset(chain | self_hosted))


def check_sovereignty(
    route_set: RouteSet, tasks: Sequence[EvaluationTask], models: Sequence[str], judge: str | None, *, allow: bool
) -> list[str]:
    """Check, before any call, that no task of a sovereign route (:func:`sovereignty_of`) would be sent to a
    candidate model or a judge outside it: the task's text, and for a judge every output too, would leave the
    infrastructure the route keeps them in.

    Returns:
        One warning per route whose tasks go outside, when ``allow`` (the user's explicit consent); none otherwise.

    Raises:
        ConfigError: some would go outside and ``allow`` is false; naming the routes, the models and the flag.
    """
    problems: list[str] = []
    warnings: list[str] = []
    for route in dict.fromkeys(task.route for task in tasks):
        sovereign = sovereignty_of(route_set, route)
        if sovereign is None:
            continue
        outside = [model for model in models if model not in sovereign.allowed]
        judged = judge is not None and judge not in sovereign.allowed
        if not outside and not judged:
            continue
        count = sum(task.route == route for task in tasks)
        some = f"{count} task{'s' if count > 1 else ''} of route {route} ({sovereign.why})"
        options = [f"--models {', '.join(outside)}"] if outside else []
        options += [f"--judge {judge}"] if judged else []
        verb = "is" if len(outside) + judged == 1 else "are"
        problems.append(
            f"{some} may go only to {', '.join(sorted(sovereign.allowed))}: {' and '.join(options)} {verb} outside it"
        )
        receivers = [*outside, *([judge] if judge is not None and judged else [])]
        warnings.append(
            f"warning: sending {some} to {_and(receivers)}, outside the models it may go to "
            f"({', '.join(sorted(sovereign.allowed))}), as {ALLOW_OUTSIDE_FLAG} allows; the route is never proposed "
            "a model outside them"
        )
    if problems and not allow:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(
            f"data sovereignty: these tasks must not leave the models their route keeps them on:\n{listed}\n"
            "Evaluate them on the route's own kind of models only (score with --review, or a --judge among those "
            f"models), or pass {ALLOW_OUTSIDE_FLAG} if these tasks hold no sensitive data."
        )
    return warnings


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
