"""What the quality commands do, as library functions: route a labelled set, report on it, fit on it.

The CLI (:mod:`semroute.quality.cli`), the CLINC150 benchmark and the tests all call these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from semroute.embedding import FastEmbedEmbedder
from semroute.environment import default_index_path
from semroute.errors import IndexArtifactError
from semroute.index import IndexArtifact, load_index
from semroute.quality.batch import RoutedSet
from semroute.quality.evaluation import QualityReport, evaluate
from semroute.quality.fitting import FitResult, FitSearch, Objective, fit
from semroute.route_files import RouteSet
from semroute.router import Router
from semroute.schema import FITTED_SETTINGS


def load_router(index_path: Path | None) -> Router:
    """The router of the index at ``index_path`` (default: the one ``semroute index`` writes) and its model."""
    artifact = load_index(index_path or default_index_path())
    return Router(artifact, FastEmbedEmbedder(artifact.policy.settings.embedding))


def report_of(routed: RoutedSet, router: Router, oos_label: str) -> QualityReport:
    """The quality report of a routed labelled set."""
    decisions = routed.decisions
    return evaluate(
        routed.data.labels,
        [decision.route for decision in decisions],
        router.artifact.policy.settings.default_route,
        oos_label=oos_label,
        ambiguous=[decision.ambiguous for decision in decisions],
        rules=[decision.rules for decision in decisions],
    )


def fit_routed(
    routed: RoutedSet,
    router: Router,
    route_set: RouteSet,
    oos_label: str,
    objective: Objective,
    search: FitSearch,
) -> FitResult:
    """Fit on a routed validation set, keeping the thresholds that route files set themselves.

    Without out-of-scope items the rejection thresholds are not fitted; those of the folder's ``fitted.yaml``, if
    any, are carried into the result, so that writing it keeps them.
    """
    own = {route.name: route.score_threshold for route in route_set.routes if route.score_threshold is not None}
    sweep = routed.sweep(router, own)
    result = fit(
        sweep, routed.data.labels, source=routed.data.source, oos_label=oos_label, objective=objective, search=search
    )
    if result.thresholds_fitted or route_set.fitted is None:
        return result
    kept = {
        "score_threshold": route_set.fitted.score_threshold,
        "route_thresholds": dict(route_set.fitted.route_thresholds),
    }
    return replace(result, parameters=result.parameters.model_copy(update=kept))


def require_built_from(artifact: IndexArtifact, route_set: RouteSet, index: Path, folder: Path) -> None:
    """Check that the index was built from these routes, fitted parameters aside.

    Raises:
        IndexArtifactError: routes, utterances or signal settings differ; saying briefly what differs, and advising
            an index of ``folder`` in a file of its own (``index`` may be the index of another dataset: never
            overwrite it).
    """
    differences = built_differences(artifact, route_set)
    if not differences:
        return
    own_index = index_path_for(folder, avoid=index)
    raise IndexArtifactError(
        f"index {index} was not built from the routes in {folder}: {'; '.join(differences)}. "
        f"Build an index of {folder} in its own file, `semroute index --routes {folder} --out {own_index}`, and "
        f"fit with --index {own_index}; or pass --routes the folder that {index} was built from"
    )


def built_differences(artifact: IndexArtifact, route_set: RouteSet) -> list[str]:
    """What differs between the routes an index was built from and ``route_set``, briefly; empty when nothing does."""
    built = _utterances_by_route(artifact)
    names = [route.name for route in route_set.routes]
    if set(names) != set(built):
        sides = [("only in the index", set(built) - set(names)), ("only in the routes", set(names) - set(built))]
        differences = ["route names differ (" + "; ".join(f"{side}: {_some(n)}" for side, n in sides if n) + ")"]
    elif names != list(built):
        differences = ["the routes are in another order"]
    else:
        changed = [route.name for route in route_set.routes if tuple(route.utterances) != built[route.name]]
        routes = f"{len(changed)} route{'' if len(changed) == 1 else 's'}"
        differences = [f"utterances differ on {routes} ({_some(changed)})"] if changed else []
    built_settings = artifact.policy.settings.model_dump(mode="json")
    settings = _signal_settings_differing(route_set.settings.model_dump(mode="json"), built_settings)
    return differences + ([f"settings differ ({', '.join(settings)})"] if settings else [])


def _signal_settings_differing(settings: Mapping[str, Any], built: Mapping[str, Any]) -> list[str]:
    """Names of the settings, fitted ones aside, whose values differ."""
    names = (settings.keys() | built.keys()) - set(FITTED_SETTINGS)
    return sorted(name for name in names if settings.get(name) != built.get(name))


def index_path_for(folder: Path, *, avoid: Path) -> Path:
    """Where an index of the routes in ``folder`` may go, next to it: ``<folder>-index.zip``, never ``avoid``."""
    base = folder if folder.name not in ("", "..") else folder.resolve()
    path = base.parent / f"{base.name}-index.zip"
    return path if path.resolve() != avoid.resolve() else base.parent / f"{base.name}-fit-index.zip"


def _utterances_by_route(artifact: IndexArtifact) -> dict[str, tuple[str, ...]]:
    rows: dict[str, list[str]] = {name: [] for name in artifact.route_names}
    for number, text in zip(artifact.row_routes.tolist(), artifact.utterances, strict=True):
        rows[artifact.route_names[number]].append(text)
    return {name: tuple(texts) for name, texts in rows.items()}


def _some(names: Iterable[str], shown: int = 3) -> str:
    """A few names, sorted, and how many more there are."""
    ordered: Sequence[str] = sorted(names)
    more = len(ordered) - shown
    return ", ".join(ordered[:shown]) + (f" (+{more} more)" if more > 0 else "")
