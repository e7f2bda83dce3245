"""The attempt policy and the loop, without I/O: order, time budget, cost, error classification, provider settings,
what validators see."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from semroute.execution import CompletionError, Provider
from semroute.execution._litellm import read_output
from semroute.execution.attempts import AttemptOrder, Budget, cost_usd, provider_error_class, total_cost_usd
from semroute.execution.providers import provider_for
from semroute.execution.request import CompletionRequest, route_text, split_validators
from semroute.execution.run import Execution, config_arguments
from semroute.types import Attempt, AttemptOutcome, ModelConfig, RemoteDecision, ResolvedModel, Tier, ValidatorSpec
from tests.execution.conftest import CASCADE_MODELS

SMALL, MID, BIG, BACKUP = (CASCADE_MODELS[name] for name in ("small", "mid", "big", "backup"))
INVALID, FAILED = AttemptOutcome.INVALID, AttemptOutcome.PROVIDER_ERROR


def decision(
    model: ResolvedModel = MID,
    fallbacks: tuple[ResolvedModel, ...] = (),
    cascade: tuple[ResolvedModel, ...] = (),
    validators: tuple[ValidatorSpec, ...] = (),
) -> RemoteDecision:
    return RemoteDecision(
        "extraction", model, fallbacks, ModelConfig(temperature=0.1, max_output_tokens=50), (), 0.5, False, (), (),
        10, "fingerprint", cascade, validators,
    )  # fmt: skip


def walk(order: AttemptOrder, outcomes: list[AttemptOutcome]) -> list[str]:
    """The models called when the attempts end with ``outcomes`` in turn."""
    called = []
    model = order.next_model()
    for outcome in outcomes:
        assert model is not None
        called.append(model.name)
        model = order.next_model(outcome)
    assert model is None, f"{model} would still be called"
    return called


def test_without_a_cascade_the_model_comes_first_then_each_fallback_on_provider_failures() -> None:
    order = AttemptOrder(decision(MID, (BACKUP, BIG)))
    assert walk(order, [FAILED, FAILED, FAILED]) == ["mid", "backup", "big"]


def test_an_invalid_output_without_a_cascade_ends_the_chain() -> None:
    assert walk(AttemptOrder(decision(MID, (BACKUP,))), [INVALID]) == ["mid"]


def test_invalid_outputs_escalate_cheapest_first() -> None:
    order = AttemptOrder(decision(MID, (BACKUP,), (SMALL, MID, BIG)))
    assert walk(order, [INVALID, INVALID, INVALID]) == ["small", "mid", "big"]


def test_a_failed_provider_takes_a_fallback_and_no_model_is_called_twice() -> None:
    order = AttemptOrder(decision(MID, (BACKUP, BIG), (SMALL, MID, BIG)))
    # small fails -> backup (fallback) refused -> mid fails -> big (next fallback not called) refused -> big done
    assert walk(order, [FAILED, INVALID, FAILED, INVALID]) == ["small", "backup", "mid", "big"]


def test_fallbacks_exhausted_move_on_to_the_next_cascade_step() -> None:
    order = AttemptOrder(decision(MID, (BACKUP,), (SMALL, BIG)))
    assert walk(order, [FAILED, FAILED, FAILED]) == ["small", "backup", "big"]


def test_an_accepted_output_ends_the_chain() -> None:
    order = AttemptOrder(decision(MID, (BACKUP,), (SMALL, BIG)))
    assert walk(order, [AttemptOutcome.ACCEPTED]) == ["small"]


def test_the_attempt_timeout_is_cut_to_what_is_left_of_the_deadline() -> None:
    budget = Budget(started=100.0, deadline=10.0, attempt_timeout=4.0)
    assert budget.attempt_seconds(100.0) == 4.0
    assert budget.attempt_seconds(107.5) == pytest.approx(2.5)
    assert budget.attempt_seconds(109.95) is None  # too little left to start one
    assert Budget(0.0, None, 4.0).attempt_seconds(1e9) == 4.0


@pytest.mark.parametrize("settings", [{"deadline": 0}, {"deadline": -1.0}, {"attempt_timeout": 0}])
def test_a_budget_needs_positive_seconds(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="positive number of seconds"):
        Budget(**{"started": 0.0, "deadline": None, **settings})


def test_cost_is_tokens_times_the_decisions_prices_per_million() -> None:
    assert cost_usd(BIG, 1_000_000, 0) == 5.0
    assert cost_usd(BIG, 2_000, 400) == pytest.approx((2_000 * 5.0 + 400 * 25.0) / 1e6)
    local = ResolvedModel("local", "hosted_vllm/x", Tier.SELF_HOSTED, 0.0, 0.0, 32_000)
    assert cost_usd(local, 10_000, 10_000) == 0.0
    attempts = [Attempt("a", INVALID, 1.0, cost_usd=0.25), Attempt("b", AttemptOutcome.ACCEPTED, 1.0, cost_usd=0.5)]
    assert total_cost_usd(attempts) == 0.75


def _error_from(module: str, name: str) -> Exception:
    kind = type(name, (Exception,), {"__module__": module})
    return kind("failed")


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_error_from("litellm.exceptions", "RateLimitError"), "RateLimitError"),
        (_error_from("openai", "APIConnectionError"), "APIConnectionError"),
        (_error_from("httpx", "ReadTimeout"), "ReadTimeout"),
        (ValueError("a bug of ours"), None),
        (TypeError("a bad argument"), None),
    ],
)
def test_only_provider_exceptions_are_provider_failures(error: Exception, expected: str | None) -> None:
    assert provider_error_class(error) == expected


def test_provider_settings_take_the_most_specific_key() -> None:
    providers: dict[str, Any] = {
        "*": Provider(api_base="http://any"),
        "anthropic": {"api_base": "http://anthropic-proxy"},
        "anthropic/big": Provider(api_base="http://big-by-litellm-name"),
        "mid": Provider(model="openai/{name}", api_base="http://local", api_key="k"),
    }
    assert provider_for(MID, providers).litellm_arguments(MID) == {
        "model": "openai/mid",
        "api_base": "http://local",
        "api_key": "k",
    }
    assert provider_for(BIG, providers).api_base == "http://big-by-litellm-name"
    assert provider_for(SMALL, providers).api_base == "http://any"
    assert provider_for(SMALL, None).litellm_arguments(SMALL) == {"model": "openai/small"}
    with pytest.raises(ValueError, match="not both"):
        Provider(api_key="a", api_key_env="B")


def test_chat_messages_are_routed_on_the_last_user_messages_text() -> None:
    parts = [{"type": "text", "text": "first"}, {"type": "image_url", "image_url": {}}, {"type": "text", "text": "two"}]
    messages = [
        {"role": "user", "content": "old"},
        {"role": "assistant", "content": "x"},
        {"role": "user", "content": parts},
    ]
    assert route_text(messages) == "first\ntwo"
    with pytest.raises(ValueError, match="no user message"):
        route_text([{"role": "system", "content": "hi"}])


def test_call_validators_mix_specs_and_registered_checks() -> None:
    def check(output: str) -> str | None:
        return None

    specs, checks = split_validators([ValidatorSpec("max_chars", {"limit": 10}), {"mine": check}])
    assert specs == (ValidatorSpec("max_chars", {"limit": 10}),) and checks == {"mine": check}
    assert split_validators({"mine": check}) == ((), {"mine": check})
    with pytest.raises(ValueError, match="unknown validator kind 'nope'"):
        split_validators([ValidatorSpec("nope")])


def test_validators_see_the_first_tool_calls_arguments_when_the_answer_calls_tools() -> None:
    call = {"id": "1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    usage = SimpleNamespace(prompt_tokens=7, completion_tokens=3)
    with_tools = SimpleNamespace(
        choices=[SimpleNamespace(message=SimpleNamespace(content=None, tool_calls=[call]))], usage=usage
    )
    plain = SimpleNamespace(
        choices=[SimpleNamespace(message=SimpleNamespace(content="hi", tool_calls=None))], usage=usage
    )

    assert read_output(with_tools).judged == '{"a": 1}'
    assert (read_output(plain).judged, read_output(plain).input_tokens, read_output(plain).output_tokens) == (
        "hi",
        7,
        3,
    )


def test_the_route_config_becomes_litellm_arguments() -> None:
    config = ModelConfig(temperature=0.2, max_output_tokens=100, reasoning_effort="low", top_p=0.9)
    assert config_arguments(config) == {"temperature": 0.2, "max_tokens": 100, "reasoning_effort": "low", "top_p": 0.9}


def test_the_loop_stops_at_the_deadline_with_every_attempt_so_far() -> None:
    clock = iter([0.0, 5.0, 9.95]).__next__  # attempts start at 0 s and 5 s; at 9.95 s only 0.05 s is left
    request = CompletionRequest.from_options("extract this", {"deadline": 10.0, "attempt_timeout": 6.0}, now=0.0)
    run = Execution(decision(MID, (BACKUP, BIG)), request, clock)
    calls = iter(run)

    first = next(calls)
    assert (first.model.name, first.arguments["timeout"], first.arguments["num_retries"]) == ("mid", 6.0, 0)
    assert (first.arguments["temperature"], first.arguments["max_tokens"]) == (0.1, 50)
    run.failed(first, "Timeout", "timed out", 5000.0)
    second = next(calls)
    assert (second.model.name, second.arguments["timeout"]) == ("backup", 5.0)
    run.failed(second, "Timeout", "timed out", 4950.0)
    with pytest.raises(CompletionError) as raised:
        next(calls)
    assert raised.value.deadline_exceeded and [a.model for a in raised.value.attempts] == ["mid", "backup"]


def test_an_unknown_option_is_an_error_not_silently_ignored() -> None:
    options: Any = {"stream": True, "temprature": 0.2}
    with pytest.raises(TypeError, match="unknown options: stream, temprature"):
        CompletionRequest.from_options("hello", options)
