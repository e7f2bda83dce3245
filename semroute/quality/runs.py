"""What the quality commands do, as library functions: route a labelled set, report on it, fit on it.

The CLI (:mod:`semroute.quality.cli`), the CLINC150 benchmark and the tests all call these.
"""

from __future__ import annotations

from pathlib import Path

from semroute.embedding import FastEmbedEmbedder
from semroute.environment import default_index_path
from semroute.errors import IndexArtifactError
from semroute.index import IndexArtifact, load_index
from semroute.quality.batch import RoutedSet
from semroute.quality.evaluation import QualityReport, evaluate
from semroute.quality.fitting import FitResult, FitSearch, Objective, fit
from semroute.route_files import RouteSet
from semroute.router import Router

_FITTED_SETTINGS = {"score_threshold", "margin", "blend"}  # settings a fit changes; the rest shape the signals


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
    """Fit on a routed validation set, keeping the thresholds that route files set themselves."""
    own = {route.name: route.score_threshold for route in route_set.routes if route.score_threshold is not None}
    sweep = routed.sweep(router, own)
    return fit(
        sweep, routed.data.labels, source=routed.data.source, oos_label=oos_label, objective=objective, search=search
    )


def require_built_from(artifact: IndexArtifact, route_set: RouteSet, index: Path, folder: Path) -> None:
    """Check that the index was built from these routes, fitted parameters aside.

    Raises:
        IndexArtifactError: routes, utterances or signal settings differ.
    """
    settings = {k: v for k, v in route_set.settings.model_dump(mode="json").items() if k not in _FITTED_SETTINGS}
    built = {k: v for k, v in artifact.manifest["settings"].items() if k not in _FITTED_SETTINGS}
    utterances = tuple(text for route in route_set.routes for text in route.utterances)
    names = tuple(route.name for route in route_set.routes)
    if settings != built or utterances != artifact.utterances or names != artifact.route_names:
        raise IndexArtifactError(
            f"index {index} was not built from the routes in {folder}; "
            f"run `semroute index --routes {folder} --out {index}` first"
        )
