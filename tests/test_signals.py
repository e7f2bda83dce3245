"""Hits -> route scores for each aggregation and the signal blend, on hand-made numbers; the registry's reach."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semroute.quality.fitting import _blend_grid
from semroute.router import Router
from semroute.schema import Blend
from semroute.signals import SIGNAL_NAMES, SIGNALS, Aggregation, aggregate_hits, blend_signals
from semroute.types import RouteRequest

SIMILARITIES = np.array([0.9, 0.8, 0.7, 0.4, -1.0], dtype=np.float32)
ROUTES = np.array([0, 1, 1, 0, -1], dtype=np.int64)  # the last hit is FAISS padding


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [
        (Aggregation.MAX, {0: 0.9, 1: 0.8}),
        (Aggregation.MEAN, {0: 0.65, 1: 0.75}),
        (Aggregation.SUM, {0: 1.3 / 5, 1: 1.5 / 5}),
    ],
)
def test_each_aggregation(aggregation: Aggregation, expected: dict[int, float]) -> None:
    scores = aggregate_hits(SIMILARITIES, ROUTES, aggregation, top_k=5)
    assert scores.keys() == expected.keys()
    for route, value in expected.items():
        assert scores[route] == pytest.approx(value, abs=1e-6)


def test_sum_rewards_routes_with_many_hits_where_max_does_not() -> None:
    assert max(aggregate_hits(SIMILARITIES, ROUTES, Aggregation.MAX, 5).items(), key=lambda kv: kv[1])[0] == 0
    assert max(aggregate_hits(SIMILARITIES, ROUTES, Aggregation.SUM, 5).items(), key=lambda kv: kv[1])[0] == 1


def test_blend_is_the_weighted_sum_of_signals() -> None:
    signals = {
        "neighbour": np.array([0.8, 0.2], dtype=np.float32),
        "classifier": np.array([0.1, 0.9], dtype=np.float32),
        "centroid": np.array([0.5, 0.5], dtype=np.float32),
    }
    blended = blend_signals(signals, Blend({"neighbour": 0.5, "classifier": 0.25, "centroid": 0.25}).weights)
    assert blended == pytest.approx([0.5 * 0.8 + 0.25 * 0.1 + 0.25 * 0.5, 0.5 * 0.2 + 0.25 * 0.9 + 0.25 * 0.5])


def test_blend_needs_a_positive_weight() -> None:
    with pytest.raises(ValueError, match="at least one blend weight"):
        Blend({"neighbour": 0, "classifier": 0, "centroid": 0})


def test_the_registry_drives_the_blend_the_router_and_the_fit(default_router: Router) -> None:
    decision = default_router.route(RouteRequest("write unit tests for the parser"))
    grid = _blend_grid(0.25, None)

    assert tuple(Blend().weights) == SIGNAL_NAMES == tuple(signal.name for signal in SIGNALS)
    assert all(tuple(candidate.signals) == SIGNAL_NAMES for candidate in decision.candidates)
    assert all(tuple(blend.weights) == SIGNAL_NAMES and sum(blend.weights.values()) == 1.0 for blend in grid)
    # every way of splitting four quarters among the signals, each once
    assert len(grid) == math.comb(4 + len(SIGNALS) - 1, len(SIGNALS) - 1) == len(set(grid))
