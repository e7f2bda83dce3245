"""Evidence is what is actually similar: a task unlike every observed one gets no confident estimate, and the learned
choice leaves it to the route file's model (the user's report: ARC-Challenge science questions imported as outcomes
of `code_change` made "fix the off-by-one in paginate()" look like a 0.99 task for the cheapest model, "from 24
similar tasks", with the nearest of them at cosine 0.18)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from semroute.decision import decide
from semroute.features import TextFeatures
from semroute.learning.choice import ChoicePolicy, ChoiceSettings
from semroute.learning.chooser import LearnedChooser
from semroute.learning.estimator import LearnedModels, LearnerSettings, fit
from semroute.learning.observations import Observation
from semroute.types import Candidate, RouteDecision
from tests.helpers import make_policy

DIM = 32
ROUTE = "refactor"  # make_policy's route: big, then mid and huge as fallbacks
CHAIN = ("big", "mid", "huge")
COSTS = {"big": 0.01, "mid": 0.002, "huge": 0.05}
# the cheap model solves the easy cluster and fails the hard one; the others solve both
RATES = {"easy": {"big": 0.97, "mid": 0.95, "huge": 0.98}, "hard": {"big": 0.9, "mid": 0.1, "huge": 0.92}}
AXIS = {"easy": 0, "hard": 1}
LEARNED = ChoiceSettings(ChoicePolicy.LEARNED, max_quality_loss=0.05)


def _near(cluster: str, rng: np.random.Generator) -> np.ndarray:
    """A task of a tight cluster: two of them are at cosine ~0.75, as paraphrases are."""
    vector = np.eye(1, DIM, AXIS[cluster])[0] + rng.normal(scale=0.1, size=DIM)
    unit: np.ndarray = (vector / np.linalg.norm(vector)).astype(np.float32)
    return unit


def _far() -> np.ndarray:
    """A task unlike all of them: cosine ~0.2 to the easy cluster's tasks (the user's nearest was at 0.18), ~0 to
    the hard one's; before the fix every easy task counted as similar and the cheap model looked safe for it."""
    vector = 0.2 * np.eye(1, DIM, AXIS["easy"])[0] + np.eye(1, DIM, 7)[0]
    unit: np.ndarray = (vector / np.linalg.norm(vector)).astype(np.float32)
    return unit


def _observations(tasks: int = 60) -> list[Observation]:
    rng = np.random.default_rng(3)
    rows = []
    for cluster in ("easy", "hard"):
        for number in range(tasks):
            vector = _near(cluster, rng)
            for model in CHAIN:
                success = rng.random() < RATES[cluster][model]
                features = {"estimated_tokens": 60.0 + number, "file_paths": float(number % 2)}
                rows.append(
                    Observation(
                        f"{cluster}-{number}", ROUTE, model, float(success), vector, features, cost_usd=COSTS[model]
                    )
                )
    return rows


@pytest.fixture(scope="module")
def learned() -> LearnedModels:
    return fit(_observations())


def _decision(learned: LearnedModels, vector: np.ndarray, text: str) -> RouteDecision:
    policy = make_policy()
    routes = dict(policy.routes)
    routes[ROUTE] = replace(routes[ROUTE], choice=LEARNED)
    policy = replace(policy, routes=routes)
    chooser = LearnedChooser(learned, vector, text, None, b"salt")
    features = TextFeatures(estimated_tokens=len(text) // 4, file_paths=1, has_code_block=False)
    return decide([Candidate(ROUTE, 0.9)], text, features, {}, policy, chooser)


def test_a_task_unlike_every_observed_one_gets_the_models_route_rate_not_a_confident_estimate(
    learned: LearnedModels,
) -> None:
    far = _far().reshape(1, -1)
    # an unusual structure too: the calibrator must not extrapolate on it
    features = [{"estimated_tokens": 20000.0, "file_paths": 9.0, "has_code_block": 1.0, "instructions": 6.0}]
    for model in CHAIN:
        estimate = learned.estimate(ROUTE, model, far, features)
        assert estimate is not None
        prior = learned.routes[ROUTE][model].prior
        assert estimate[0].similar == 0, model
        assert estimate[0].success == pytest.approx(prior, abs=1e-9), model
    assert learned.routes[ROUTE]["mid"].prior < 0.7  # its rate over both clusters: not a confident estimate


def test_a_task_like_observed_ones_keeps_its_confident_estimate(learned: LearnedModels) -> None:
    rng = np.random.default_rng(77)
    easy, hard = _near("easy", rng).reshape(1, -1), _near("hard", rng).reshape(1, -1)
    features = [{"estimated_tokens": 80.0, "file_paths": 1.0}]
    on_easy = learned.estimate(ROUTE, "mid", easy, features)
    on_hard = learned.estimate(ROUTE, "mid", hard, features)
    assert on_easy is not None and on_hard is not None
    assert on_easy[0].success > 0.85 and on_easy[0].similar >= 20
    assert on_hard[0].success < 0.3 and on_hard[0].similar >= 20


def test_the_similar_count_is_the_neighbours_above_the_floor_not_those_near_the_nearest() -> None:
    rows = _observations(30)
    strict = fit(rows, LearnerSettings(similarity_floor=0.999))
    vector = _near("easy", np.random.default_rng(5)).reshape(1, -1)
    estimate = strict.estimate(ROUTE, "mid", vector, [{}])
    assert estimate is not None and estimate[0].similar == 0
    assert estimate[0].success == pytest.approx(strict.routes[ROUTE]["mid"].prior, abs=1e-9)


def test_a_far_task_keeps_the_static_choice_and_the_trace_says_why(learned: LearnedModels) -> None:
    far = _decision(learned, _far(), "fix the off-by-one in paginate() in utils.py")
    assert far.model.name == "big" and far.choice_policy == "static"
    assert [model.name for model in far.fallbacks] == ["mid", "huge"]
    assert any("too little evidence" in line and "static choice big stands" in line for line in far.trace), far.trace
    # the same route sends a task like the observed easy ones to the cheap model
    near = _decision(learned, _near("easy", np.random.default_rng(8)), "rename the helper in utils.py")
    assert near.model.name == "mid" and near.choice_policy == "learned"
    assert any(line.startswith("learned choice: mid: ") for line in near.trace), near.trace
