"""The fit on hand-made signals: objective, threshold choice, per-route gating and the written file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from semroute.quality.fitting import FitSearch, Objective, fit, sign_test
from semroute.quality.operating_points import Outcome
from semroute.quality.sweep import SignalTable, Sweep, policy_with
from semroute.route_files import load_route_set, write_fitted
from semroute.schema import FittedParameters
from semroute.task_part import EmbedPart
from semroute.types import RouteRequest
from tests.helpers import make_policy, simple_routes, write_routes

ROUTES = ("refactor", "edit", "summary", "general")


def synthetic(seed: int = 1) -> tuple[Sweep, list[str]]:
    """60 in-scope items scoring 0.55-0.95 on their route, 40 out-of-scope items scoring 0.2-0.6 at best."""
    generator = np.random.default_rng(seed)
    rows, labels = [], []
    for number in range(100):
        row = generator.uniform(0.0, 0.15, len(ROUTES))
        if number < 60:
            route = number % 3
            row[route] = generator.uniform(0.55, 0.95)
            labels.append(ROUTES[route])
        else:
            row[generator.integers(3)] = generator.uniform(0.2, 0.6)
            labels.append("oos")
        rows.append(row)
    signal = np.asarray(rows, dtype=np.float32)
    table = SignalTable(ROUTES, {"neighbour": signal, "classifier": signal, "centroid": signal})
    policy = policy_with(make_policy(), FittedParameters(score_threshold=0.1), {})  # every route at 0.1
    sweep = Sweep(table, policy, [RouteRequest(f"t{n}") for n in range(100)])
    return sweep, labels


def test_wilson_bound_and_ranking() -> None:
    objective = Objective(min_oos_recall=0.8, confidence=0.95)
    assert objective.recall_bound(Outcome(0.9, 0.9, 0.9, 90, 100)) == pytest.approx(
        0.8396, abs=1e-3
    )  # Wilson, z = 1.645
    feasible, infeasible = Outcome(0.8, 0.80, 0.95, 95, 100), Outcome(0.9, 0.99, 0.5, 50, 100)
    assert objective.rank(feasible) > objective.rank(infeasible)
    assert "in-scope accuracy" in objective.describe() and "0.80" in objective.describe()


def test_fit_finds_the_separating_threshold() -> None:
    sweep, labels = synthetic()
    result = fit(sweep, labels, source="synthetic", search=FitSearch(blend=False, per_route=False))
    assert result.before.oos_recall == 0.0  # threshold 0.1 rejects nothing
    assert result.fitted.oos_recall is not None and result.fitted.oos_recall >= 0.9
    assert result.fitted.in_scope_accuracy >= 0.9
    assert result.parameters.score_threshold is not None and 0.45 <= result.parameters.score_threshold <= 0.65
    assert result.parameters.blend == sweep.policy.settings.blend  # not searched: the blend in effect
    assert result.parameters.fitted_on == "synthetic (100 items, 40 out of scope)"
    chosen = [p for p in result.curve if p.shift == 0.0][0]
    assert chosen.in_scope_accuracy == result.fitted.in_scope_accuracy


def test_refinements_only_when_cross_validation_agrees() -> None:
    sweep, labels = synthetic()
    result = fit(sweep, labels, source="synthetic")
    objective = Objective()
    assert set(result.gates) == {"blend", "per_route"}
    for gate in result.gates.values():
        assert not gate.adopted or objective.rank(gate.with_it) > objective.rank(gate.without)
    if not result.gates["per_route"].adopted:
        assert result.parameters.route_thresholds == {}
    if not result.gates["blend"].adopted:
        assert result.parameters.blend == sweep.policy.settings.blend


def test_with_best_part_the_blend_is_not_searched() -> None:
    """Each route's signals come from the part that won under the index's blend; another blend could pick another
    part, which the signals cannot show, so a blend fitted on them would not be what serving does."""
    sweep, labels = synthetic()
    settings = sweep.policy.settings
    embedding = settings.embedding.model_copy(update={"part": EmbedPart.BEST_PART})
    policy = replace(sweep.policy, settings=settings.model_copy(update={"embedding": embedding}))
    best_part = Sweep(sweep.table, policy, [RouteRequest(f"t{n}") for n in range(len(labels))])

    result = fit(best_part, labels, source="synthetic")

    assert "blend" not in result.gates and result.parameters.blend == settings.blend


def test_fit_is_reproducible() -> None:
    sweep, labels = synthetic()
    search = FitSearch(threshold_candidates=30, blend_step=0.5)  # the folds and ties matter here, not the grid
    assert fit(sweep, labels, source="s", search=search) == fit(sweep, labels, source="s", search=search)


def test_fitted_file_round_trips(tmp_path: Path) -> None:
    folder = write_routes(tmp_path / "routes", simple_routes())
    parameters = FittedParameters(score_threshold=0.42, margin=0.03, route_thresholds={"summary": 0.5}, objective="o")
    write_fitted(folder, parameters)
    route_set = load_route_set(folder)
    assert route_set.fitted == parameters
    assert route_set.settings.score_threshold == 0.42
    assert route_set.threshold(route_set.route("summary")) == 0.5


def test_sign_test() -> None:
    assert sign_test(1, 0) == 0.5  # one item is noise
    assert sign_test(5, 0) == pytest.approx(1 / 32)
    assert sign_test(8, 2) == pytest.approx(56 / 1024)
    assert sign_test(0, 0) == 1.0


def test_without_oos_items_the_rejection_thresholds_are_not_fitted() -> None:
    sweep, labels = synthetic()
    in_scope = sweep.subset(np.arange(60))  # the 60 in-scope items only: nothing to reject
    result = fit(in_scope, labels[:60], source="in-scope only", search=FitSearch(threshold_candidates=30))
    parameters = result.parameters
    assert parameters.score_threshold is None and parameters.route_thresholds == {}
    assert parameters.margin is not None and parameters.blend is not None  # still fitted, for plain accuracy
    assert result.kept_threshold == 0.1 and not result.thresholds_fitted
    assert set(result.gates) == {"blend"}  # per-route thresholds are rejection thresholds too
    assert result.curve == []
    assert "recall >=" not in parameters.objective
    assert parameters.objective == (
        "maximise accuracy; the validation data has no out-of-scope items, so the rejection threshold was not "
        "fitted (kept at 0.1)"
    )
    assert result.fitted.accuracy >= result.before.accuracy


def test_with_oos_items_the_thresholds_are_fitted() -> None:
    sweep, labels = synthetic()
    result = fit(sweep, labels, source="synthetic", search=FitSearch(blend=False, per_route=False))
    assert result.thresholds_fitted and result.kept_threshold is None
    assert "recall >= 0.80" in result.parameters.objective
