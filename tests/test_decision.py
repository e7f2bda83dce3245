"""The decision engine on hand-made scores: thresholds, margin, tie-breaks, override rules, context windows."""

from __future__ import annotations

from typing import Any

import pytest

from semroute.decision import CONTEXT_WINDOW_RULE, decide
from semroute.features import TextFeatures
from semroute.types import Candidate, RouteDecision
from tests.helpers import make_policy

SMALL = TextFeatures(estimated_tokens=100, file_paths=0, has_code_block=False)


def run(
    scores: dict[str, float],
    *,
    features: TextFeatures = SMALL,
    text: str = "a task",
    metadata: dict[str, str] | None = None,
    rules: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> RouteDecision:
    candidates = [Candidate(route, score) for route, score in scores.items()]
    return decide(candidates, text, features, metadata or {}, make_policy(rules, **settings))


def test_best_route_above_its_threshold_wins() -> None:
    decision = run({"summary": 0.8, "refactor": 0.55})
    assert (decision.route, decision.model.name, decision.ambiguous) == ("summary", "small", False)
    assert [model.name for model in decision.fallbacks] == ["mid"]
    assert decision.margin == pytest.approx(0.25)
    assert decision.index_fingerprint == "test-fingerprint"


def test_no_route_clears_its_threshold_goes_to_default() -> None:
    decision = run({"summary": 0.45, "refactor": 0.2})
    assert decision.route == "general"
    assert "no route reached its threshold" in decision.trace[0]


def test_per_route_threshold_overrides_global() -> None:
    # edit needs 0.6 although the others need 0.5: 0.55 does not qualify, the next qualifying route wins
    decision = run({"edit": 0.55, "summary": 0.52})
    assert decision.route == "summary"


def test_candidates_are_sorted_and_capped() -> None:
    decision = run({"summary": 0.1, "refactor": 0.9, "edit": 0.5, "long": 0.3}, candidates_shown=2)
    assert [c.route for c in decision.candidates] == ["refactor", "edit"]


def test_close_scores_are_ambiguous_and_prefer_capable_escalates() -> None:
    decision = run({"summary": 0.81, "refactor": 0.80}, margin=0.05)
    assert decision.ambiguous
    assert decision.route == "refactor"  # frontier beats light
    assert "prefer_capable chose refactor" in decision.trace[0]


def test_prefer_cheaper_tie_break() -> None:
    decision = run({"summary": 0.80, "refactor": 0.81}, margin=0.05, tie_break="prefer_cheaper")
    assert (decision.route, decision.ambiguous) == ("summary", True)


def test_top_score_tie_break() -> None:
    decision = run({"summary": 0.80, "refactor": 0.81}, margin=0.05, tie_break="top_score")
    assert (decision.route, decision.ambiguous) == ("refactor", True)


def test_gap_at_or_above_margin_is_not_ambiguous() -> None:
    decision = run({"summary": 0.90, "refactor": 0.80}, margin=0.05)
    assert (decision.route, decision.ambiguous) == ("summary", False)


def test_a_route_below_threshold_cannot_make_a_decision_ambiguous() -> None:
    decision = run({"summary": 0.52, "edit": 0.51}, margin=0.05)  # edit needs 0.6
    assert (decision.route, decision.ambiguous) == ("summary", False)


SOVEREIGNTY = {
    "name": "data_sovereignty",
    "when": {"metadata": {"data_sensitivity": {"in": ["restricted", "confidential"]}}},
    "then": {"route": "private"},
    "final": True,
}
LARGE = {"name": "very_large_input", "when": {"estimated_tokens": {"gt": 150_000}}, "then": {"route": "long"}}
FILES = {
    "name": "files_settle_it",
    "when": {"ambiguous_between": ["edit", "refactor"], "file_paths": {"gte": 2}},
    "then": {"route": "refactor"},
}


def test_sensitive_metadata_goes_self_hosted_and_stops_later_rules() -> None:
    huge = TextFeatures(estimated_tokens=300_000, file_paths=0, has_code_block=False)
    decision = run(
        {"summary": 0.9}, features=huge, metadata={"data_sensitivity": "restricted"}, rules=[SOVEREIGNTY, LARGE]
    )
    assert decision.route == "private"
    assert decision.rules[0] == "data_sovereignty"
    assert "very_large_input" not in decision.rules
    # no self-hosted model holds 300k tokens: the largest one is used, the data never leaves the chain
    assert decision.model.name == "local_big"
    assert decision.model.tier.value == "self_hosted"


def test_metadata_rule_ignores_other_values_and_missing_keys() -> None:
    assert run({"summary": 0.9}, metadata={"data_sensitivity": "public"}, rules=[SOVEREIGNTY]).route == "summary"
    assert run({"summary": 0.9}, rules=[SOVEREIGNTY]).route == "summary"


def test_equals_condition() -> None:
    rule = {"name": "team", "when": {"metadata": {"team": {"equals": "infra"}}}, "then": {"model": "huge"}}
    assert run({"summary": 0.9}, metadata={"team": "infra"}, rules=[rule]).model.name == "huge"
    assert run({"summary": 0.9}, metadata={"team": "web"}, rules=[rule]).model.name == "small"


def test_very_large_input_goes_long_context() -> None:
    big = TextFeatures(estimated_tokens=180_000, file_paths=0, has_code_block=False)
    decision = run({"summary": 0.9}, features=big, rules=[LARGE])
    assert (decision.route, decision.model.name, decision.rules) == ("long", "huge", ("very_large_input",))


def test_ambiguous_pair_with_two_file_paths_goes_multi_file() -> None:
    features = TextFeatures(estimated_tokens=50, file_paths=2, has_code_block=False)
    decision = run(
        {"edit": 0.81, "refactor": 0.80}, features=features, margin=0.05, tie_break="prefer_cheaper", rules=[FILES]
    )
    assert (decision.route, decision.rules) == ("refactor", ("files_settle_it",))


def test_ambiguous_pair_rule_needs_ambiguity_and_paths() -> None:
    one_path = TextFeatures(estimated_tokens=50, file_paths=1, has_code_block=False)
    two_paths = TextFeatures(estimated_tokens=50, file_paths=2, has_code_block=False)
    close = {"edit": 0.81, "refactor": 0.80}
    assert run(close, features=one_path, margin=0.05, tie_break="prefer_cheaper", rules=[FILES]).route == "edit"
    clear = run({"edit": 0.95, "refactor": 0.60}, features=two_paths, margin=0.05, rules=[FILES])
    assert (clear.route, clear.rules) == ("edit", ())


def test_regex_code_block_and_route_in_conditions_and_config_patch() -> None:
    rule = {
        "name": "sql_needs_care",
        "when": {"text_matches": r"\bDROP\s+TABLE\b", "has_code_block": True, "route_in": ["edit"]},
        "then": {"model": "big", "config": {"temperature": 0.0, "reasoning_effort": "high"}},
    }
    features = TextFeatures(estimated_tokens=50, file_paths=0, has_code_block=True)
    decision = run({"edit": 0.9}, text="```sql\ndrop table users\n```", features=features, rules=[rule])
    assert decision.model.name == "big"
    assert [model.name for model in decision.fallbacks] == ["mid", "small"]
    assert decision.config.temperature == 0.0 and decision.config.reasoning_effort == "high"
    untouched = run({"summary": 0.9}, text="drop table users", features=features, rules=[rule])
    assert untouched.rules == ()


def test_rules_run_in_order_and_see_earlier_changes() -> None:
    first = {"name": "first", "when": {"metadata": {"x": {"equals": "1"}}}, "then": {"route": "edit"}}
    second = {"name": "second", "when": {"route_in": ["edit"]}, "then": {"config": {"max_output_tokens": 99}}}
    decision = run({"summary": 0.9}, metadata={"x": "1"}, rules=[first, second])
    assert decision.rules == ("first", "second")
    assert (decision.route, decision.config.max_output_tokens) == ("edit", 99)


def test_route_change_takes_the_new_routes_config() -> None:
    rule = {"name": "to_refactor", "when": {"metadata": {"x": {"equals": "1"}}}, "then": {"route": "refactor"}}
    decision = run({"summary": 0.9}, metadata={"x": "1"}, rules=[rule])
    assert decision.config.temperature == 0.2


def test_context_window_skips_models_that_cannot_hold_the_input() -> None:
    features = TextFeatures(estimated_tokens=150_000, file_paths=0, has_code_block=False)
    decision = run({"edit": 0.9}, features=features)  # mid holds 128k, small 64k: nothing fits -> largest
    assert decision.model.name == "mid"
    decision = run({"refactor": 0.9}, features=TextFeatures(250_000, 0, False))  # big 200k < 250k -> huge
    assert decision.model.name == "huge"
    assert decision.rules == (CONTEXT_WINDOW_RULE,)
    assert decision.fallbacks == ()
    assert any("big skipped" in step for step in decision.trace)


def test_fallbacks_exclude_models_too_small_for_the_input() -> None:
    decision = run({"summary": 0.9}, features=TextFeatures(100_000, 0, False))  # small 64k, mid 128k
    assert (decision.model.name, decision.fallbacks) == ("mid", ())
    assert decision.rules == (CONTEXT_WINDOW_RULE,)


def test_no_candidates_goes_to_default() -> None:
    decision = run({})
    assert (decision.route, decision.candidates, decision.margin) == ("general", (), 0.0)


def test_to_json_has_the_documented_keys() -> None:
    data = run({"summary": 0.9, "edit": 0.2}).to_json()
    for key in ("route", "model", "fallbacks", "config", "ambiguous", "margin", "candidates", "rules"):
        assert key in data
    assert data["candidates"][0] == {"route": "summary", "score": 0.9, "signals": {}}
