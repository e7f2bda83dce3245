"""Every signal shows in the decision: in each candidate's signals and in the trace's words."""

from __future__ import annotations

import pytest

from semroute.router import Router
from semroute.types import RouteRequest

SIGNALS = ("neighbour", "classifier", "centroid")


@pytest.mark.parametrize(
    "text",
    [
        "write unit tests for the parser",  # a route clears its threshold
        "zxqv blorp 12345 ###",  # nothing is close: the default route, with the best candidate's signals shown
    ],
)
def test_each_signal_in_candidates_and_trace(default_router: Router, text: str) -> None:
    decision = default_router.route(RouteRequest(text))
    assert all(set(candidate.signals) == set(SIGNALS) for candidate in decision.candidates)
    semantic_step = decision.trace[0]
    assert all(f"{name} " in semantic_step for name in SIGNALS), semantic_step
    assert {"signals"} <= set(decision.to_json()["candidates"][0])
