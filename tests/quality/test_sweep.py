"""The vectorised decision of fitting (Sweep) equals the real decide(), on random scores with ties and rules."""

from __future__ import annotations

import numpy as np
import pytest

from semroute.decision import decide
from semroute.features import extract_features
from semroute.quality.sweep import SignalTable, Sweep, policy_with
from semroute.schema import Blend, FittedParameters, TieBreak
from semroute.types import Candidate, RouteRequest
from tests.helpers import make_policy

ROUTES = ("refactor", "edit", "summary", "long", "general")  # "private" is reached by the rule only
RULES = [
    {"name": "secret", "when": {"text_matches": "secret"}, "then": {"route": "private"}, "final": True},
    {"name": "edits", "when": {"ambiguous_between": ["refactor", "edit"]}, "then": {"route": "refactor"}},
]


def random_table(rows: int, seed: int) -> SignalTable:
    generator = np.random.default_rng(seed)
    # coarse values: many exact ties between routes, which is where tie-breaking could differ
    signals = {
        name: (generator.integers(0, 21, size=(rows, len(ROUTES))) / 20).astype(np.float32)
        for name in ("neighbour", "classifier", "centroid")
    }
    return SignalTable(ROUTES, signals)


def requests(rows: int) -> list[RouteRequest]:
    return [RouteRequest("a secret plan" if row % 7 == 0 else f"task {row}") for row in range(rows)]


@pytest.mark.parametrize("shortlist", [1, 2, 16])  # 1 and 2 force the fallback to all routes on many requests
@pytest.mark.parametrize("tie_break", list(TieBreak))
@pytest.mark.parametrize(
    "parameters",
    [
        FittedParameters(score_threshold=0.4, margin=0.05),
        FittedParameters(
            score_threshold=0.6, margin=0.0, blend=Blend({"neighbour": 1, "classifier": 0, "centroid": 0})
        ),
        FittedParameters(score_threshold=0.5, margin=0.15, route_thresholds={"edit": 0.7, "summary": 0.3}),
        FittedParameters(
            score_threshold=-1.0, margin=1.0, blend=Blend({"neighbour": 0.25, "classifier": 0.5, "centroid": 0.25})
        ),
    ],
)
def test_sweep_routes_equal_decide(tie_break: TieBreak, parameters: FittedParameters, shortlist: int) -> None:
    policy = make_policy(RULES, tie_break=tie_break)
    table, batch = random_table(300, seed=7), requests(300)
    sweep = Sweep(table, policy, batch, own_thresholds={"long": 0.55}, shortlist=shortlist)
    routes = sweep.routes(parameters)
    applied = policy_with(policy, parameters, {"long": 0.55})
    scores = table.scores(parameters.blend or policy.settings.blend)
    for row, request in enumerate(batch):
        candidates = table.candidates(row, scores)
        expected = decide(candidates, request.text, extract_features(request.text), request.metadata, applied)
        assert sweep.names[routes[row]] == expected.route, f"row {row}: {candidates}"


@pytest.mark.parametrize("shortlist", [2, 16])
def test_choice_reports_ambiguity_like_decide(shortlist: int) -> None:
    policy = make_policy(tie_break=TieBreak.PREFER_CHEAPER, margin=0.1)
    table = random_table(200, seed=3)
    sweep = Sweep(table, policy, requests(200), shortlist=shortlist)
    scores = table.scores(policy.settings.blend)
    choice = sweep.choice(FittedParameters())
    for row in range(200):
        decision = decide(table.candidates(row, scores), "x", extract_features("x"), {}, policy)
        assert bool(choice.ambiguous[row]) == decision.ambiguous


def test_table_from_router_candidates_round_trips() -> None:
    listed = [
        [
            Candidate("a", 0.5, {"neighbour": 0.25, "classifier": 0.75}),
            Candidate("b", 0.1, {"neighbour": 0.1, "classifier": 0.1}),
        ]
    ]
    table = SignalTable.from_candidates(listed)
    assert table.routes == ("a", "b")
    assert table.candidates(0, table.scores(Blend({"neighbour": 0.5, "classifier": 0.5})))[0] == listed[0][0]
