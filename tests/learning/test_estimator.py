"""The learner on hand-made outcomes where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from semroute.embedding import ModelIdentity
from semroute.learning.artifact import from_members, to_members
from semroute.learning.choice import ChoicePolicy, ChoiceSettings, ModelEstimate, learned_choice
from semroute.learning.estimator import LearnerSettings, fit
from semroute.learning.learning import held_out, learn_and_measure
from semroute.learning.observations import Observation
from tests.learning.synthetic import CHEAP, COSTS, DIM, FRONTIER, RATES, ROUTE, outcomes, task_vector


def _estimates(learned: object, cluster: str, count: int = 40) -> dict[str, float]:
    rng = np.random.default_rng(99)
    vectors = np.stack([task_vector(cluster, rng) for _ in range(count)])
    features = [{"estimated_tokens": 40.0 if cluster == "easy" else 400.0}] * count
    found = {}
    for model in (CHEAP, FRONTIER):
        estimates = learned.estimate(ROUTE, model, vectors, features)  # type: ignore[attr-defined]
        assert estimates is not None
        found[model] = float(np.mean([estimate.success for estimate in estimates]))
    return found


def test_the_cheap_model_is_estimated_to_succeed_on_easy_tasks_and_fail_on_hard_ones() -> None:
    learned = fit(outcomes(60))
    easy, hard = _estimates(learned, "easy"), _estimates(learned, "hard")
    assert easy[CHEAP] > 0.8 and easy[FRONTIER] > 0.8
    assert hard[CHEAP] < 0.25 and hard[FRONTIER] > 0.75


def test_the_choice_sends_easy_tasks_to_the_cheap_model_and_hard_ones_to_the_frontier() -> None:
    learned = fit(outcomes(60))
    settings = ChoiceSettings(ChoicePolicy.LEARNED, max_quality_loss=0.1)
    for cluster, expected in (("easy", CHEAP), ("hard", FRONTIER)):
        means = _estimates(learned, cluster)
        estimates = {model: ModelEstimate(model, means[model], 10, COSTS[model]) for model in means}
        assert learned_choice(FRONTIER, [CHEAP, FRONTIER], estimates, settings).model == expected


def test_a_model_with_thin_evidence_gets_no_estimate() -> None:
    rows = outcomes(60)
    few = [
        Observation(f"n-{number}", ROUTE, "newcomer", 1.0, np.eye(1, DIM, number % DIM)[0].astype(np.float32))
        for number in range(5)
    ]
    learned = fit(rows + few, LearnerSettings(min_evidence=20))
    assert learned.estimator(ROUTE, "newcomer") is None
    assert learned.estimate(ROUTE, "newcomer", np.zeros((1, DIM), np.float32), [{}]) is None
    assert set(learned.models(ROUTE)) == {CHEAP, FRONTIER}


def test_outcomes_biased_by_the_router_are_corrected_by_their_propensities() -> None:
    # The router sent easy tasks to the cheap model 90 % of the time and hard ones 10 % (exploration): the cheap
    # model is seen mostly on easy tasks, so its raw success rate overstates it.
    logged = {"easy": {CHEAP: 0.9, FRONTIER: 1.0}, "hard": {CHEAP: 0.1, FRONTIER: 1.0}}
    rows = outcomes(1500, seed=3, propensity=logged)
    cheap = [row for row in rows if row.model == CHEAP]
    naive = np.mean([row.success for row in cheap])
    unbiased = (RATES["easy"][CHEAP] + RATES["hard"][CHEAP]) / 2  # its success rate over the route's tasks
    assert naive > unbiased + 0.2  # the bias is real
    corrected = fit(rows, LearnerSettings(max_weight=50.0)).estimator(ROUTE, CHEAP)
    ignored = fit([_without_propensity(row) for row in rows]).estimator(ROUTE, CHEAP)
    assert corrected is not None and ignored is not None
    assert ignored.prior == pytest.approx(naive, abs=1e-9)
    assert abs(corrected.prior - unbiased) < 0.05 < abs(ignored.prior - unbiased)


def _without_propensity(row: Observation) -> Observation:
    return Observation(row.task_id, row.route, row.model, row.quality, row.embedding, row.features)


def test_learning_measures_auc_and_calibration_on_held_out_tasks() -> None:
    result = learn_and_measure(outcomes(80), holdout=0.25)
    by_model = {report.model: report for report in result.models}
    cheap = by_model[CHEAP].held_out
    assert cheap is not None and cheap.auc is not None
    assert cheap.auc > 0.85  # easy vs hard separates the cheap model's outcomes
    assert cheap.ece < 0.15
    assert 0 < cheap.outcomes < by_model[CHEAP].observations
    assert result.tasks == 160


def test_every_model_outcome_of_a_task_falls_on_the_same_side_of_the_split() -> None:
    rows = outcomes(50)
    sides: dict[str, set[bool]] = {}
    for row in rows:
        sides.setdefault(row.task_id, set()).add(held_out(row.task_id, 0.3))
    assert all(len(side) == 1 for side in sides.values())
    share = np.mean([next(iter(side)) for side in sides.values()])
    assert 0.15 < share < 0.45


def test_what_was_learned_survives_the_file_round_trip() -> None:
    learned = fit(outcomes(40))
    identity = ModelIdentity("test-model", DIM, "ab" * 32, 256)
    again = from_members(to_members(learned, identity, {}), identity)
    rng = np.random.default_rng(1)
    vectors = np.stack([task_vector("hard", rng) for _ in range(5)])
    for model in (CHEAP, FRONTIER):
        before = learned.estimate(ROUTE, model, vectors, [{}] * 5)
        after = again.estimate(ROUTE, model, vectors, [{}] * 5)
        assert before is not None and after is not None
        # vectors are stored as float16: estimates agree closely, not bit for bit
        assert [e.success for e in after] == pytest.approx([e.success for e in before], abs=0.02)


def test_a_learned_file_from_another_embedding_model_is_refused() -> None:
    from semroute.learning.artifact import LearnedFileError

    members = to_members(fit(outcomes(30)), ModelIdentity("model-a", DIM, "aa" * 32, 256), {})
    with pytest.raises(LearnedFileError, match="model-a"):
        from_members(members, ModelIdentity("model-b", DIM, "bb" * 32, 256))


def test_a_learned_file_of_an_earlier_format_is_refused_with_what_to_do() -> None:
    """Format 2 was fitted without the similarity floor: loaded with it, its calibrator would misjudge."""
    import json

    from semroute.learning.artifact import LEARNED_JSON, LearnedFileError

    identity = ModelIdentity("test-model", DIM, "ab" * 32, 256)
    members = to_members(fit(outcomes(30)), identity, {})
    meta = json.loads(members[LEARNED_JSON])
    members[LEARNED_JSON] = json.dumps({**meta, "format": 2}).encode()
    with pytest.raises(LearnedFileError, match="format 2, expected 3; run `semroute learn` again"):
        from_members(members, identity)
