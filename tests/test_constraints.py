"""Where a task may go, as pure logic: a rule's `allow` in the decision engine, what `semroute check` refuses and
lists, the conversation a request carries, and what `complete()` refuses under a constraint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from semroute.chat import chat_turns
from semroute.cli import main
from semroute.decision import decide
from semroute.errors import ConfigError, RequestError
from semroute.execution.constraint import constraint_violation
from semroute.execution.providers import Provider
from semroute.learning.evaluation_inputs import sovereignty_of
from semroute.route_files import load_route_set
from semroute.router import MAX_MESSAGES, validate_request
from semroute.types import Candidate, ChatMessage, RouteDecision, RouteRequest
from semroute.wire import decision_from_proto, decision_to_proto, request_from_proto, request_to_proto
from tests.helpers import ROUTER_YAML, make_policy, simple_routes, write_routes
from tests.test_decision import SMALL

LOCAL_ONLY = {"tiers": ["self_hosted"]}


def run(scores: dict[str, float], rules: list[dict[str, Any]], text: str = "a task", **meta: str) -> RouteDecision:
    candidates = [Candidate(route, score) for route, score in scores.items()]
    return decide(candidates, text, SMALL, meta, make_policy(rules))


def rule(name: str, then: dict[str, Any], final: bool = False, **when: Any) -> dict[str, Any]:
    return {"name": name, "when": when or {"text_matches": "secret"}, "then": then, "final": final}


def names(decision: RouteDecision) -> list[str]:
    return [model.name for model in (decision.model, *decision.fallbacks, *decision.cascade)]


def test_allow_keeps_every_model_of_the_decision_inside_and_says_which_rule_set_it() -> None:
    # refactor's chain is big -> mid -> huge; a self-hosted model put first by the rule, nothing outside after it
    decision = run(
        {"refactor": 0.9}, [rule("sovereign", {"model": "local", "allow": LOCAL_ONLY}, final=True)], "secret"
    )
    assert names(decision) == ["local"]
    assert (decision.allowed_models, decision.constraint_rules) == (("local", "local_big"), ("sovereign",))
    assert any("allows only local, local_big" in step for step in decision.trace)
    assert any("big, mid, huge left out of route refactor's chain: not allowed" in step for step in decision.trace)


def test_without_a_model_action_the_routes_allowed_models_remain_in_order() -> None:
    decision = run({"refactor": 0.9}, [rule("frontier_only", {"allow": {"tiers": ["frontier"]}})], "secret")
    assert names(decision) == ["big", "huge"]


def test_later_rules_only_narrow_and_a_model_they_name_outside_is_not_used() -> None:
    rules = [
        rule("first", {"allow": {"models": ["local", "local_big", "mid"]}}),
        rule("second", {"route": "private", "allow": LOCAL_ONLY}),
        rule("third", {"model": "mid"}),
    ]
    decision = run({"summary": 0.9}, rules, "secret")
    assert decision.route == "private" and names(decision) == ["local", "local_big"]
    assert decision.allowed_models == ("local", "local_big")
    assert decision.constraint_rules == ("first", "second")
    assert any("model mid is not allowed" in step for step in decision.trace)


def test_an_unconstrained_decision_says_so() -> None:
    decision = run({"summary": 0.9}, [rule("never", {"allow": LOCAL_ONLY})], "nothing to see")
    assert (decision.allowed_models, decision.constraint_rules, decision.constrained) == ((), (), False)


def check(tmp_path: Path, rules: list[dict[str, Any]], routes: dict[str, Any] | None = None) -> str:
    router = {**ROUTER_YAML, "models": {**ROUTER_YAML["models"], "local": {**LOCAL_MODEL}}, "rules": rules}
    with pytest.raises(ConfigError) as raised:
        load_route_set(write_routes(tmp_path / "routes", routes or simple_routes(), router))
    return str(raised.value)


LOCAL_MODEL = {
    "litellm": "hosted_vllm/local",
    "tier": "self_hosted",
    "input_cost_per_mtok": 0,
    "output_cost_per_mtok": 0,
    "context_window": 32000,
}


def test_check_refuses_a_self_hosted_model_action_without_allow_naming_the_fix(tmp_path: Path) -> None:
    message = check(tmp_path, [rule("keep_inside", {"model": "local"}, final=True)])
    assert "rules[0].then" in message and "add `allow: {tiers: [self_hosted]}`" in message


def test_check_refuses_a_model_its_own_allow_forbids(tmp_path: Path) -> None:
    message = check(tmp_path, [rule("contradiction", {"model": "big", "allow": LOCAL_ONLY})])
    assert "rules[0].then.model" in message and "forbids" in message


def test_check_refuses_a_reachable_route_without_an_allowed_model(tmp_path: Path) -> None:
    message = check(tmp_path, [rule("local_only", {"route": "general", "allow": LOCAL_ONLY})])
    assert "route 'general', which its decisions can reach, has none of them (big, small)" in message


def test_check_refuses_restricting_rules_that_can_fire_together_with_nothing_in_common(tmp_path: Path) -> None:
    rules = [
        rule("one", {"allow": {"models": ["big"]}}),
        rule("two", {"allow": {"models": ["small"]}}),
    ]
    assert "rules 'one' and 'two' can both fire on one task and allow no model in common" in check(tmp_path, rules)


def test_check_lists_what_each_restricting_rule_can_reach(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["private"] = {"name": "private", "model": "local", "override_only": True}
    router = {**ROUTER_YAML, "models": {**ROUTER_YAML["models"], "local": LOCAL_MODEL}}
    router["rules"] = [rule("sovereign", {"route": "private", "allow": LOCAL_ONLY}, final=True)]
    folder = write_routes(tmp_path / "routes", routes, router)
    result = CliRunner().invoke(main, ["check", "--routes", str(folder)])
    assert result.exit_code == 0, result.output
    assert "rule sovereign allows tiers self_hosted: its decisions can reach local (routes private)" in result.output
    assert sovereignty_of(load_route_set(folder), "private") is not None
    assert sovereignty_of(load_route_set(folder), "private").allowed == frozenset({"local"})  # type: ignore[union-attr]


def test_chat_turns_carry_every_text_the_provider_receives() -> None:
    turns = chat_turns(
        [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "what is in"}, {"type": "image_url"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"function": {"name": "lookup", "arguments": '{"code": "SECRET-7"}'}}],
            },
            {"role": "tool", "content": "result"},
        ]
    )
    assert [turn.role for turn in turns] == ["system", "user", "assistant", "tool"]
    assert turns[1] == ChatMessage("user", "what is in", images=True)
    assert turns[2] == ChatMessage("assistant", 'lookup {"code": "SECRET-7"}', tool_calls=True)
    assert turns[3].tool_result
    with pytest.raises(TypeError, match=r"messages\[0\]"):
        chat_turns(["not a message"])  # type: ignore[list-item]


def test_a_conversation_is_routed_on_its_last_user_turn_and_ruled_on_all_of_it() -> None:
    request = RouteRequest("", messages=(ChatMessage("user", "the NDA"), ChatMessage("user", "now in German")))
    assert request.text == "now in German"
    assert request.whole_text == "the NDA\n\nnow in German"
    assert RouteRequest("routed", messages=(ChatMessage("user", "earlier"),)).whole_text == "routed\n\nearlier"
    assert request_from_proto(request_to_proto(request)) == request


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (RouteRequest("", messages=(ChatMessage("assistant", "hi"),)), "messages"),
        (RouteRequest("x", messages=(ChatMessage("robot", "hi"),)), "messages[0].role"),
        (RouteRequest("x", messages=(ChatMessage("user", "y"),) * (MAX_MESSAGES + 1)), "messages"),
    ],
)
def test_invalid_conversations_are_refused_naming_the_field(request_: RouteRequest, field: str) -> None:
    with pytest.raises(RequestError) as raised:
        validate_request(request_)
    assert raised.value.field == field


def constrained() -> RouteDecision:
    decision = run({"refactor": 0.9}, [rule("sovereign", {"model": "local", "allow": LOCAL_ONLY})], "secret")
    assert decision.constrained
    return decision


def test_the_constraint_travels_over_the_wire() -> None:
    decision = constrained()
    remote = decision_from_proto(decision_to_proto(decision, "id", full_trace=False))
    assert (remote.allowed_models, remote.constraint_rules) == (decision.allowed_models, decision.constraint_rules)


def test_what_could_send_a_constrained_task_elsewhere_is_named() -> None:
    decision = constrained()
    chain = (decision.model, *decision.fallbacks)
    here = {"local": Provider(api_base="http://local:8000/v1")}
    assert constraint_violation(decision, chain, here, {"extra_headers": {"x": "y"}}) is None
    assert constraint_violation(decision, chain, {"hosted_vllm": Provider(api_base="http://x")}, {}) is None
    assert "providers['*']" in (constraint_violation(decision, chain, {"*": Provider(api_base="http://x")}, {}) or "")
    assert "fallbacks" in (constraint_violation(decision, chain, here, {"fallbacks": ["gpt"]}) or "")
    outside = run({"refactor": 0.9}, []).model
    assert "names big" in (constraint_violation(decision, (outside,), here, {}) or "")
    unconstrained = run({"refactor": 0.9}, [])
    assert constraint_violation(unconstrained, chain, {"*": Provider()}, {"fallbacks": ["x"]}) is None
