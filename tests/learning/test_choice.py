"""The model choice step: within the route's chain, cheapest good enough, exploration and its probabilities, thin
evidence, rules that pin the model or keep data sovereign."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semroute.decision import decide
from semroute.features import TextFeatures
from semroute.learning.choice import ChoicePolicy, ChoiceSettings, ModelEstimate, choose, learned_choice
from semroute.types import Candidate, ResolvedModel, RouteDecision
from tests.helpers import make_policy

SMALL = TextFeatures(estimated_tokens=100, file_paths=0, has_code_block=False)
LEARNED = ChoiceSettings(ChoicePolicy.LEARNED, max_quality_loss=0.05)


def estimate(model: str, success: float, cost: float) -> ModelEstimate:
    return ModelEstimate(model, success, 12, cost)


def test_the_cheapest_model_within_the_loss_of_the_best_is_chosen() -> None:
    estimates = {
        "big": estimate("big", 0.95, 0.01),
        "mid": estimate("mid", 0.92, 0.002),
        "small": estimate("small", 0.6, 0.0001),
    }
    choice = learned_choice("big", ["big", "mid", "small"], estimates, LEARNED)
    assert (choice.model, choice.policy) == ("mid", ChoicePolicy.LEARNED)
    assert "mid: 0.92 from 12 similar tasks" in choice.explanation[0]


def test_an_absolute_target_takes_the_cheapest_model_above_it_or_else_the_best() -> None:
    estimates = {"big": estimate("big", 0.5, 0.01), "small": estimate("small", 0.3, 0.0001)}
    target = ChoiceSettings(ChoicePolicy.LEARNED, quality_target=0.25)
    assert learned_choice("big", ["big", "small"], estimates, target).model == "small"
    strict = ChoiceSettings(ChoicePolicy.LEARNED, quality_target=0.9)
    choice = learned_choice("small", ["big", "small"], estimates, strict)
    assert choice.model == "big" and "none reaches 0.90" in choice.explanation[-1]


def test_the_relative_goal_works_where_every_model_is_unlikely_to_succeed() -> None:
    hard = {
        "big": estimate("big", 0.2, 0.01),
        "mid": estimate("mid", 0.18, 0.002),
        "small": estimate("small", 0.02, 0.0),
    }
    assert learned_choice("big", ["big", "mid", "small"], hard, LEARNED).model == "mid"


def test_thin_evidence_keeps_the_static_choice() -> None:
    only_one = {"small": estimate("small", 0.99, 0.0001)}
    choice = learned_choice("big", ["big", "small"], only_one, LEARNED)
    assert (choice.model, choice.policy) == ("big", ChoicePolicy.STATIC)
    assert "too little evidence for big" in choice.explanation[0]


chains = st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=5, unique=True)


@settings(max_examples=300, deadline=None)
@given(
    chain=chains,
    outside=st.lists(st.sampled_from(["x", "y", "z"]), max_size=3, unique=True),
    successes=st.lists(st.floats(0, 1), min_size=8, max_size=8),
    costs=st.lists(st.floats(0, 1), min_size=8, max_size=8),
    loss=st.floats(0, 1),
    exploration=st.floats(0, 0.5),
    draw=st.floats(0, 1, exclude_max=True),
)
def test_the_choice_never_leaves_the_chain(
    chain: list[str],
    outside: list[str],
    successes: list[float],
    costs: list[float],
    loss: float,
    exploration: float,
    draw: float,
) -> None:
    # estimates exist for models outside the chain too (other routes' models, a cheaper one): never chosen
    names = [*chain, *outside]
    estimates = {name: estimate(name, successes[i], costs[i]) for i, name in enumerate(names)}
    choice_settings = ChoiceSettings(ChoicePolicy.LEARNED, max_quality_loss=loss, exploration=exploration)
    choice = choose(chain[0], chain, estimates, choice_settings, draw=draw, may_explore=True)
    assert choice.model in chain
    assert 0 < choice.probability <= 1


def test_exploration_probabilities_are_those_the_draws_realise() -> None:
    estimates = {
        "big": estimate("big", 0.9, 0.01),
        "small": estimate("small", 0.9, 0.001),
        "mid": estimate("mid", 0.5, 0.002),
    }
    explore = replace(LEARNED, exploration=0.3)
    draws = [(i + 0.5) / 10_000 for i in range(10_000)]
    picks = [choose("big", ["big", "mid", "small"], estimates, explore, draw=d, may_explore=True) for d in draws]
    for model in ("big", "mid", "small"):
        chosen = [pick for pick in picks if pick.model == model]
        frequency = len(chosen) / len(picks)
        probabilities = {pick.probability for pick in chosen}
        assert len(probabilities) == 1
        assert probabilities.pop() == pytest.approx(frequency, abs=1e-3)


def test_no_exploration_when_not_allowed() -> None:
    explore = replace(LEARNED, exploration=0.5)
    estimates = {"big": estimate("big", 0.9, 0.01), "small": estimate("small", 0.9, 0.001)}
    choice = choose("big", ["big", "small"], estimates, explore, draw=0.01, may_explore=False)
    assert (choice.model, choice.probability) == ("small", 1.0)


class HandChooser:
    """Estimates given outright for the pure decision tests."""

    def __init__(self, estimates: Mapping[str, ModelEstimate], draw: float = 0.99) -> None:
        self._estimates = estimates
        self.draw = draw
        self.asked: list[str] = []

    def estimates(self, route: str, chain: Sequence[ResolvedModel]) -> Mapping[str, ModelEstimate]:
        self.asked.append(route)
        return self._estimates


def _decide(
    chooser: HandChooser,
    choice: ChoiceSettings,
    rules: list[dict[str, object]] | None = None,
    metadata: dict[str, str] | None = None,
    cascade: tuple[str, ...] = (),
) -> RouteDecision:
    policy = make_policy(rules)
    routes = dict(policy.routes)
    routes["refactor"] = replace(routes["refactor"], choice=choice, cascade=cascade)  # big, fallbacks mid, huge
    policy = replace(policy, routes=routes)
    return decide([Candidate("refactor", 0.9)], "a task", SMALL, metadata or {}, policy, chooser)


CHEAP_MID = {
    "big": estimate("big", 0.93, 0.01),
    "mid": estimate("mid", 0.92, 0.002),
    "huge": estimate("huge", 0.95, 0.05),
}


def test_the_decision_starts_at_the_chosen_model_and_keeps_the_others_as_fallbacks() -> None:
    decision = _decide(HandChooser(CHEAP_MID), LEARNED)
    assert decision.model.name == "mid"
    assert [model.name for model in decision.fallbacks] == ["big", "huge"]
    assert (decision.choice_policy, decision.choice_probability) == ("learned", 1.0)
    # cheapest first: mid, big, huge
    assert any(line.startswith("learned choice: mid: 0.92 from 12 similar tasks") for line in decision.trace)


def test_a_static_route_never_asks_for_estimates() -> None:
    chooser = HandChooser(CHEAP_MID)
    decision = _decide(chooser, ChoiceSettings())
    assert decision.model.name == "big" and chooser.asked == [] and decision.choice_policy == "static"


def test_a_rule_that_names_the_model_is_never_second_guessed() -> None:
    rule = {"name": "pin", "when": {"metadata": {"tier": {"equals": "gold"}}}, "then": {"model": "huge"}}
    decision = _decide(HandChooser(CHEAP_MID), LEARNED, [rule], {"tier": "gold"})
    assert decision.model.name == "huge" and decision.choice_policy == "static"


def test_a_final_rule_stops_exploration_but_not_the_learned_choice() -> None:
    rule = {
        "name": "sovereign",
        "when": {"metadata": {"data": {"equals": "eu"}}},
        "then": {"config": {"temperature": 0}},
        "final": True,
    }
    explore_always = replace(LEARNED, exploration=0.5)
    decision = _decide(HandChooser(CHEAP_MID, draw=0.0), explore_always, [rule], {"data": "eu"})
    assert decision.model.name == "mid" and decision.choice_probability == 1.0
    explored = _decide(HandChooser(CHEAP_MID, draw=0.0), explore_always)
    assert explored.model.name == "big" and explored.choice_probability == pytest.approx(0.5 / 3)


def test_a_cascade_starts_at_the_chosen_step_without_a_doomed_cheap_attempt() -> None:
    estimates = {**CHEAP_MID, "small": estimate("small", 0.3, 0.0001)}
    decision = _decide(HandChooser(estimates), LEARNED, cascade=("small", "mid", "big"))
    assert [model.name for model in decision.cascade] == ["mid", "big"]
    assert decision.choice_policy == "learned"
    easy = {**estimates, "small": estimate("small", 0.93, 0.0001)}
    assert [m.name for m in _decide(HandChooser(easy), LEARNED, cascade=("small", "mid", "big")).cascade] == [
        "small",
        "mid",
        "big",
    ]


def test_a_vanishing_exploration_rate_explores_nothing() -> None:
    estimates = {"big": estimate("big", 0.9, 0.01), "small": estimate("small", 0.9, 0.001)}
    tiny = replace(LEARNED, exploration=5e-324)  # its share per model underflows to 0
    choice = choose("big", ["big", "small"], estimates, tiny, draw=0.0, may_explore=True)
    assert (choice.model, choice.probability) == ("small", 1.0)
