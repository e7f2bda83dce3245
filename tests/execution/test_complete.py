"""``complete()`` end to end: the real routing server decides, the real litellm calls a scripted OpenAI-compatible
server over loopback HTTP, and the attempt loop falls back, escalates, keeps time and counts the cost."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from semroute.client import AsyncRouterClient, RouterClient
from semroute.errors import MissingExtraError, SemrouteError
from semroute.execution import Completion, CompletionError, Provider
from semroute.execution.attempts import cost_usd
from semroute.types import AttemptOutcome, ValidatorSpec
from semroute.validators import UnknownCustomValidatorError
from tests.execution.conftest import CASCADE_MODELS, EXTRACTION_TASK
from tests.execution.llm_server import Fail, Reply, ScriptedLLMServer, Stall

# litellm builds some pydantic schemas on its first calls, and pydantic warns about their ReadOnly items
pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")

SUMMARY_TASK = "Summarize this article in three bullet points"  # summarization: gemini-3-flash, then deepseek-v3.2
PRIMARY, FALLBACK = "gemini-3-flash", "deepseek-v3.2"
# A stalled provider must cost about the attempt timeout; the bound is generous, for loaded machines.
ATTEMPT_TIMEOUT = 0.5
SLACK_SECONDS = 2.0


def outcomes(completion: Completion | CompletionError) -> list[tuple[str, AttemptOutcome]]:
    return [(attempt.model, attempt.outcome) for attempt in completion.attempts]


def test_the_decisions_model_answers_with_the_routes_config(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply("- one\n- two\n- three", prompt_tokens=1200, completion_tokens=300))

    completion = client.complete(SUMMARY_TASK, providers=providers)

    decision = completion.decision
    assert (decision.route, completion.model.name, completion.text) == (
        "summarization",
        PRIMARY,
        "- one\n- two\n- three",
    )
    body = llm.received[0].body
    assert body["messages"] == [{"role": "user", "content": SUMMARY_TASK}]
    assert (body["temperature"], body["max_tokens"]) == (decision.config.temperature, decision.config.max_output_tokens)
    assert outcomes(completion) == [(PRIMARY, AttemptOutcome.ACCEPTED)]
    attempt = completion.attempts[0]
    assert (attempt.input_tokens, attempt.output_tokens) == (1200, 300)
    assert attempt.passed_validators == ()  # a route without validators: nothing checked the output
    expected = (1200 * decision.model.input_cost_per_mtok + 300 * decision.model.output_cost_per_mtok) / 1e6
    assert attempt.cost_usd == pytest.approx(expected) and completion.cost_usd == pytest.approx(expected)


@pytest.mark.parametrize(
    ("failure", "error_class"),
    [
        (Fail(429, "slow down", "rate_limit_exceeded"), "RateLimitError"),
        (Fail(500, "boom"), "InternalServerError"),
        (Fail(503, "overloaded"), "ServiceUnavailableError"),
        (Fail(401, "bad key", "invalid_api_key"), "AuthenticationError"),
        (Fail(400, "flagged by the content filter", "content_filter"), "BadRequestError"),
    ],
)
def test_a_provider_failure_falls_back_to_the_next_model_at_once(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider], failure: Fail, error_class: str
) -> None:
    llm.script(PRIMARY, failure)
    llm.script(FALLBACK, Reply("summary", 100, 20))

    started = time.monotonic()
    completion = client.complete(SUMMARY_TASK, providers=providers)

    assert time.monotonic() - started < SLACK_SECONDS
    assert llm.models_called() == [PRIMARY, FALLBACK]  # once each: litellm's own retries are off
    assert outcomes(completion) == [(PRIMARY, AttemptOutcome.PROVIDER_ERROR), (FALLBACK, AttemptOutcome.ACCEPTED)]
    assert completion.attempts[0].error_class == error_class
    assert completion.attempts[0].cost_usd == 0.0
    assert completion.model.name == FALLBACK
    assert completion.cost_usd == pytest.approx(cost_usd(completion.decision.fallbacks[0], 100, 20))


def test_a_refused_connection_falls_back(client: RouterClient, llm: ScriptedLLMServer) -> None:
    llm.script(FALLBACK, Reply("summary"))
    providers = {
        PRIMARY: Provider(model="openai/{name}", api_base="http://127.0.0.1:9/v1", api_key="test"),  # nothing there
        "*": Provider(model="openai/{name}", api_base=llm.api_base, api_key="test"),
    }

    completion = client.complete(SUMMARY_TASK, providers=providers)

    assert outcomes(completion) == [(PRIMARY, AttemptOutcome.PROVIDER_ERROR), (FALLBACK, AttemptOutcome.ACCEPTED)]


def test_a_stalled_provider_costs_at_most_the_attempt_timeout(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Stall(10.0))
    llm.script(FALLBACK, Reply("summary"))

    started = time.monotonic()
    completion = client.complete(SUMMARY_TASK, providers=providers, attempt_timeout=ATTEMPT_TIMEOUT)
    elapsed = time.monotonic() - started

    assert outcomes(completion) == [(PRIMARY, AttemptOutcome.PROVIDER_ERROR), (FALLBACK, AttemptOutcome.ACCEPTED)]
    assert completion.attempts[0].error_class == "Timeout"
    assert ATTEMPT_TIMEOUT * 1000 <= completion.attempts[0].latency_ms < (ATTEMPT_TIMEOUT + SLACK_SECONDS) * 1000
    assert elapsed < ATTEMPT_TIMEOUT + SLACK_SECONDS


def test_no_attempt_starts_after_the_deadline(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Stall(10.0))
    llm.script(FALLBACK, Reply("summary"))
    deadline = 0.8

    started = time.monotonic()
    with pytest.raises(CompletionError) as raised:
        client.complete(SUMMARY_TASK, providers=providers, deadline=deadline, attempt_timeout=30.0)
    elapsed = time.monotonic() - started

    assert raised.value.deadline_exceeded
    assert outcomes(raised.value) == [(PRIMARY, AttemptOutcome.PROVIDER_ERROR)]  # its timeout was cut to the deadline
    assert llm.models_called() == [PRIMARY]
    assert deadline <= elapsed < deadline + SLACK_SECONDS
    assert "the deadline passed" in str(raised.value)


def test_when_every_model_fails_the_error_carries_every_attempt(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Fail(500, "boom"))
    llm.script(FALLBACK, Fail(429, "slow down", "rate_limit_exceeded"))

    with pytest.raises(CompletionError) as raised:
        client.complete(SUMMARY_TASK, providers=providers)

    error = raised.value
    assert isinstance(error, SemrouteError) and isinstance(error, RuntimeError)
    assert not error.deadline_exceeded
    assert [(a.model, a.error_class) for a in error.attempts] == [
        (PRIMARY, "InternalServerError"),
        (FALLBACK, "RateLimitError"),
    ]
    assert error.decision.route == "summarization"
    assert f"{PRIMARY}: InternalServerError" in str(error) and f"{FALLBACK}: RateLimitError" in str(error)


def test_chat_messages_are_routed_on_the_last_user_message_and_sent_unchanged(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply("summary"))
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "write a poem about autumn"},
        {"role": "assistant", "content": "Leaves fall."},
        {"role": "user", "content": SUMMARY_TASK},
    ]

    completion = client.complete(messages, providers=providers)

    assert completion.decision.route == "summarization"
    assert llm.received[0].body["messages"] == messages


def test_a_json_validator_checks_the_arguments_of_the_first_tool_call(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    tools = [{"type": "function", "function": {"name": "save", "parameters": {"type": "object", "properties": {}}}}]
    broken = {"id": "c1", "type": "function", "function": {"name": "save", "arguments": '{"points": ['}}
    good = {"id": "c2", "type": "function", "function": {"name": "save", "arguments": '{"points": ["a"]}'}}
    llm.script(PRIMARY, Reply("", tool_calls=[broken]))
    llm.script(FALLBACK, Reply("", tool_calls=[good]))  # not reached: an invalid output escalates along a cascade only

    with pytest.raises(CompletionError) as raised:
        client.complete(
            SUMMARY_TASK, providers=providers, tools=tools, tool_choice="required", validators=[ValidatorSpec("json")]
        )
    assert outcomes(raised.value) == [(PRIMARY, AttemptOutcome.INVALID)]
    assert raised.value.attempts[0].validator == "json" and "not JSON" in raised.value.attempts[0].message

    llm.script(PRIMARY, Reply("", tool_calls=[good]))
    completion = client.complete(SUMMARY_TASK, providers=providers, tools=tools, validators=[ValidatorSpec("json")])

    assert json.loads(completion.tool_calls[0]["function"]["arguments"]) == {"points": ["a"]}
    assert llm.received[-1].body["tools"] == tools


def test_custom_validators_are_registered_per_call_and_an_unknown_name_fails_before_any_call(
    client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script(PRIMARY, Reply("no bullets here"))
    bullets = ValidatorSpec("custom", {"name": "bullets"})

    def has_bullets(output: str) -> str | None:
        return None if output.startswith("-") else "no bullet points"

    with pytest.raises(UnknownCustomValidatorError, match="'bullets' is not registered"):
        client.complete(SUMMARY_TASK, providers=providers, validators=[bullets])
    assert llm.received == []

    with pytest.raises(CompletionError, match="custom: no bullet points"):
        client.complete(SUMMARY_TASK, providers=providers, validators=[bullets, {"bullets": has_bullets}])


def test_an_invalid_output_escalates_along_the_cascade_with_the_same_task(
    cascade_client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script("small", Reply("Ann, Bob, 3 May", 40, 10))
    llm.script("mid", Reply('{"names": ["Ann", "Bob"]', 40, 12))
    llm.script("big", Reply('{"names": ["Ann", "Bob"], "date": "3 May"}', 40, 20))

    completion = cascade_client.complete(EXTRACTION_TASK, providers=providers)

    assert completion.decision.route == "extraction"
    assert outcomes(completion) == [
        ("small", AttemptOutcome.INVALID),
        ("mid", AttemptOutcome.INVALID),
        ("big", AttemptOutcome.ACCEPTED),
    ]
    assert len({json.dumps(request.body["messages"]) for request in llm.received}) == 1  # the same task each time
    assert llm.received[0].body["temperature"] == 0.0 and llm.received[0].body["max_tokens"] == 500
    expected = sum(cost_usd(CASCADE_MODELS[name], 40, out) for name, out in [("small", 10), ("mid", 12), ("big", 20)])
    assert completion.cost_usd == pytest.approx(expected)
    assert completion.model == CASCADE_MODELS["big"]
    # the accepted output names what checked it: the learner counts only checked or scored acceptances as successes
    assert [attempt.passed_validators for attempt in completion.attempts] == [(), (), ("json",)]


def test_a_provider_failure_in_a_cascade_takes_a_fallback_and_escalation_goes_on_from_there(
    cascade_client: RouterClient, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script("small", Fail(429, "slow down", "rate_limit_exceeded"))
    llm.script("backup", Reply("not json"))
    llm.script("mid", Fail(500))
    llm.script("big", Reply('{"names": []}'))

    completion = cascade_client.complete(EXTRACTION_TASK, providers=providers)

    assert outcomes(completion) == [
        ("small", AttemptOutcome.PROVIDER_ERROR),
        ("backup", AttemptOutcome.INVALID),
        ("mid", AttemptOutcome.PROVIDER_ERROR),  # its fallback, backup, was already called
        ("big", AttemptOutcome.ACCEPTED),
    ]


def test_async_complete_falls_back_and_escalates_like_the_blocking_one(
    cascade_target: str, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    llm.script("small", Stall(10.0))
    llm.script("backup", Reply("not json"))
    llm.script("mid", Reply('{"ok": true}'))

    async def run() -> Completion:
        async with AsyncRouterClient(cascade_target) as client:
            return await client.complete(EXTRACTION_TASK, providers=providers, attempt_timeout=ATTEMPT_TIMEOUT)

    completion = asyncio.run(run())

    assert outcomes(completion) == [
        ("small", AttemptOutcome.PROVIDER_ERROR),
        ("backup", AttemptOutcome.INVALID),
        ("mid", AttemptOutcome.ACCEPTED),
    ]
    assert completion.attempts[0].error_class == "Timeout"
    assert completion.attempts[0].latency_ms < (ATTEMPT_TIMEOUT + SLACK_SECONDS) * 1000


def test_without_the_llm_extra_complete_says_which_extra_to_install(
    client: RouterClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from semroute import extras

    monkeypatch.setitem(extras.EXTRA_MODULES, "llm", ("semroute_no_such_module",))

    with pytest.raises(MissingExtraError, match=r"`complete\(\)` needs semroute's 'llm' extra"):
        client.complete(SUMMARY_TASK)


def test_provider_keys_can_come_from_the_environment(
    client: RouterClient, llm: ScriptedLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm.script(PRIMARY, Reply("summary"))
    monkeypatch.setenv("SEMROUTE_TEST_KEY", "from-env")
    providers: dict[str, Any] = {
        "*": {"model": "openai/{name}", "api_base": llm.api_base, "api_key_env": "SEMROUTE_TEST_KEY"}
    }

    assert client.complete(SUMMARY_TASK, providers=providers).text == "summary"

    monkeypatch.delenv("SEMROUTE_TEST_KEY")
    with pytest.raises(ValueError, match="SEMROUTE_TEST_KEY is not set"):
        client.complete(SUMMARY_TASK, providers=providers)
