"""Load and validate a routes folder: ``router.yaml``, one YAML file per route, and the optional ``fitted.yaml``.

Every problem is reported with the file, route and field it concerns; all problems of a folder are reported at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from semroute.constraints import constraint_problems
from semroute.errors import ConfigError, RouteFileError
from semroute.schema import FittedParameters, ModelSpec, OverrideRule, RouterFile, RouteSpec, Settings

ROUTER_FILE = "router.yaml"
FITTED_FILE = "fitted.yaml"
_RESERVED_FILES = {ROUTER_FILE, FITTED_FILE}

_Model = TypeVar("_Model", bound=BaseModel)


@dataclass(frozen=True)
class RouteSet:
    """A validated routes folder with fitted parameters already applied to the settings."""

    settings: Settings
    models: dict[str, ModelSpec]
    routes: tuple[RouteSpec, ...]
    rules: tuple[OverrideRule, ...]
    fitted: FittedParameters | None = None

    def route(self, name: str) -> RouteSpec:
        """The route called ``name``."""
        return next(route for route in self.routes if route.name == name)

    def threshold(self, route: RouteSpec) -> float:
        """The score a route must reach: fitted per-route value, then the route's own, then the global one."""
        if self.fitted is not None and route.name in self.fitted.route_thresholds:
            return self.fitted.route_thresholds[route.name]
        return route.score_threshold if route.score_threshold is not None else self.settings.score_threshold


def load_route_set(directory: Path | str) -> RouteSet:
    """Read and validate every file of a routes folder.

    Raises:
        ConfigError: listing every problem found, each naming its file, route and field.
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: routes folder not found")
    problems: list[RouteFileError] = []
    router = _parse(folder / ROUTER_FILE, RouterFile, problems)
    fitted = _parse(folder / FITTED_FILE, FittedParameters, problems) if (folder / FITTED_FILE).exists() else None
    routes: list[RouteSpec] = []
    sources: dict[str, str] = {}
    route_paths = sorted(p for p in folder.glob("*.yaml") if p.name not in _RESERVED_FILES)
    for stray in sorted(folder.glob("*.yml")):  # read by nothing: a route there would be silently missing
        problems.append(RouteFileError(stray, f"route files end in .yaml: rename it to {stray.stem}.yaml"))
    if not route_paths:
        problems.append(RouteFileError(folder, "no route files (*.yaml besides router.yaml) found"))
    unparsed: set[str] = set()  # names of routes whose own file is broken: not reported again as unknown
    for path in route_paths:
        route = _parse(path, RouteSpec, problems)
        if route is None:
            unparsed.add(_declared_name(path))
            continue
        if route.name in sources:
            problems.append(
                RouteFileError(path, f"duplicate route name, also defined in {sources[route.name]}", route=route.name)
            )
            continue
        routes.append(route)
        sources[route.name] = str(path)
    if router is not None:
        problems += _cross_check(folder, router, routes, sources, set(sources) | unparsed, fitted)
    if problems:
        raise _combine(problems)
    assert router is not None
    settings = fitted.applied_to(router.settings) if fitted else router.settings
    return RouteSet(settings, dict(router.models), tuple(routes), tuple(router.rules), fitted)


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a mapping that gives a key twice (YAML allows it; PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first at line {first})", key_node.start_mark
                )
            if isinstance(key, str | int | float | bool):
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """Parse one YAML file, turning syntax errors into a :class:`RouteFileError` with the line number."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506 (a safe loader)
    except FileNotFoundError:
        raise RouteFileError(path, "file not found") from None
    except UnicodeDecodeError as exc:
        raise RouteFileError(path, f"not UTF-8 text (byte {exc.start}: {exc.reason})") from None
    except RecursionError:
        raise RouteFileError(path, "nested too deeply to read") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RouteFileError(path, f"malformed YAML{where}: {problem}") from None


def _parse(path: Path, schema: type[_Model], problems: list[RouteFileError]) -> _Model | None:
    try:
        raw = read_yaml(path)
    except RouteFileError as exc:
        problems.append(exc)
        return None
    if not isinstance(raw, dict):
        problems.append(RouteFileError(path, f"expected a mapping at the top level, found {type(raw).__name__}"))
        return None
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        route = raw.get("name") if isinstance(raw.get("name"), str) else None
        problems.extend(_describe(path, route, exc))
        return None


def _declared_name(path: Path) -> str:
    try:
        raw = read_yaml(path)
    except RouteFileError:
        return path.stem
    name = raw.get("name") if isinstance(raw, dict) else None
    return name if isinstance(name, str) else path.stem


def _describe(path: Path, route: str | None, exc: ValidationError) -> Iterable[RouteFileError]:
    for error in exc.errors():
        location = _dotted(error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if not location:  # a whole-object check names its field at the start of the message
            match = re.match(r"^(\w+): (.*)$", message, re.DOTALL)
            if match:
                location, message = match.group(1), match.group(2)
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling and where it is nested)"
        yield RouteFileError(path, message, route=route, field=location or None)


def _dotted(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _cross_check(
    folder: Path,
    router: RouterFile,
    routes: list[RouteSpec],
    sources: dict[str, str],
    names: set[str],
    fitted: FittedParameters | None,
) -> list[RouteFileError]:
    problems: list[RouteFileError] = []
    known_models = sorted(router.models)
    for route in routes:
        for field_name, models in (
            ("model", [route.model]),
            ("fallbacks", route.fallbacks),
            ("cascade", route.cascade),
        ):
            for model in models:
                if model not in router.models:
                    problems.append(
                        RouteFileError(
                            sources[route.name],
                            f"unknown model '{model}'; the catalog in {ROUTER_FILE} has: {', '.join(known_models)}",
                            route=route.name,
                            field=field_name,
                        )
                    )
    router_path = folder / ROUTER_FILE
    if routes and all(route.override_only for route in routes):
        problems.append(RouteFileError(folder, "every route is override_only: at least one route needs utterances"))
    settings = router.settings
    if settings.default_route not in names:
        problems.append(
            RouteFileError(router_path, f"unknown route '{settings.default_route}'", field="settings.default_route")
        )
    for position, rule in enumerate(router.rules):
        at = f"rules[{position}]"
        referenced = [("then.route", rule.then.route)] + [("when.route_in", name) for name in rule.when.route_in or []]
        referenced += [("when.ambiguous_between", name) for name in rule.when.ambiguous_between or ()]
        for where, name in referenced:
            if name is not None and name not in names:
                problems.append(
                    RouteFileError(router_path, f"unknown route '{name}'", route=None, field=f"{at}.{where}")
                )
        if rule.then.model is not None and rule.then.model not in router.models:
            problems.append(RouteFileError(router_path, f"unknown model '{rule.then.model}'", field=f"{at}.then.model"))
    if not problems:  # constraints are read on a route set whose names all resolve
        problems += constraint_problems(router.rules, routes, router.models, router_path)
    rule_names = [rule.name for rule in router.rules]
    for name in sorted({n for n in rule_names if rule_names.count(n) > 1}):
        problems.append(RouteFileError(router_path, f"duplicate rule name '{name}'", field="rules"))
    if fitted is not None:
        for name in fitted.route_thresholds:
            if name not in names:
                problems.append(
                    RouteFileError(folder / FITTED_FILE, f"unknown route '{name}'", field="route_thresholds")
                )
    return problems


def _combine(problems: list[RouteFileError]) -> ConfigError:
    if len(problems) == 1:
        return problems[0]
    listing = "\n".join(f"  - {problem}" for problem in problems)
    return ConfigError(f"{len(problems)} problems in route files:\n{listing}", problems)


def write_fitted(folder: Path | str, parameters: FittedParameters) -> Path:
    """Write ``fitted.yaml`` into a routes folder (what ``semroute fit`` produces); returns its path."""
    path = Path(folder) / FITTED_FILE
    content = parameters.model_dump(mode="json", exclude_none=True)
    header = "# Written by `semroute fit`: decision parameters fitted on validation data. Rebuild the index to apply.\n"
    path.write_text(header + yaml.safe_dump(content, sort_keys=False, width=120), encoding="utf-8")
    return path
