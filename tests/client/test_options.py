"""Every call's options are checked before anything is sent: an unknown option is a TypeError naming it and the known
ones (a misspelt ``metadata=`` had sent a restricted record to a cloud model), a timeout must be positive, metadata
and labels must map strings to strings, attempts must be Attempts; on both faces."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from semroute.client import AsyncRouterClient, Attempt, AttemptOutcome, RouterClient, RouteRequest

TASK = "write unit tests for the parser"
RESTRICTED = "summarize this patient record"
SELF_HOSTED = "qwen3.5-397b-self-hosted"
ATTEMPT = Attempt("gpt-5-mini", AttemptOutcome.ACCEPTED, 120.0)

# Every call of both faces with one misspelt option, the call's name and an option it does take.
MISSPELT: list[tuple[str, Callable[[Any], Any], str]] = [
    ("route", lambda c: c.route(RESTRICTED, meta={"data_sensitivity": "restricted"}), "metadata"),
    ("route_batch", lambda c: c.route_batch([TASK], full_tarce=True), "full_trace"),
    ("list_routes", lambda c: c.list_routes(timout=1.0), "timeout"),
    ("index_info", lambda c: c.index_info(request=""), "request_id"),
    ("reload_index", lambda c: c.reload_index(deadline=5.0), "timeout"),
    ("health", lambda c: c.health(timeot=1.0), "timeout"),
    ("report_outcome", lambda c: c.report_outcome("d", [ATTEMPT], accepted=True, score=4), "quality_score"),
    ("report_quality", lambda c: c.report_quality("d", 4, label={"a": "b"}), "labels"),
    ("stats", lambda c: c.stats(full_trace=True), "timeout"),
    ("complete", lambda c: c.complete(TASK, meta={"team": "qa"}), "metadata"),
]


def _both_faces(target: str, call: Callable[[Any], Any]) -> list[BaseException]:
    """What ``call`` raises on the blocking and on the asyncio client (in that order)."""
    raised: list[BaseException] = []
    with RouterClient(target) as client:
        try:
            call(client)
        except Exception as error:
            raised.append(error)

    async def run() -> None:
        async with AsyncRouterClient(target) as client:
            try:
                outcome = call(client)
                if isinstance(outcome, Awaitable):
                    await outcome
            except Exception as error:
                raised.append(error)

    asyncio.run(run())
    return raised


@pytest.mark.parametrize(("name", "call", "known"), MISSPELT, ids=[name for name, _, _ in MISSPELT])
def test_an_unknown_option_is_a_type_error_naming_it_and_the_known_ones(
    target: str, name: str, call: Callable[[Any], Any], known: str
) -> None:
    raised = _both_faces(target, call)
    assert len(raised) == 2, raised
    for error in raised:
        assert isinstance(error, TypeError), repr(error)
        message = str(error)
        assert message.startswith(f"{name}() got an unknown option"), message
        assert known in message.partition("; it takes")[2], message


def test_a_misspelt_metadata_no_longer_bypasses_the_data_sovereignty_rule(client: RouterClient) -> None:
    with pytest.raises(TypeError, match=r"route\(\) got an unknown option 'meta' \(did you mean 'metadata'\?\)"):
        client.route(RESTRICTED, meta={"data_sensitivity": "restricted"})  # type: ignore[call-arg]
    decision = client.route(RESTRICTED, metadata={"data_sensitivity": "restricted"})
    assert decision.model.name == SELF_HOSTED


@pytest.mark.parametrize("timeout", [0, 0.0, -1.0, float("nan"), float("inf")])
def test_a_timeout_must_be_a_positive_number_of_seconds(target: str, timeout: float) -> None:
    raised = _both_faces(target, lambda c: c.route(TASK, timeout=timeout))
    assert [type(error) for error in raised] == [ValueError, ValueError]
    assert all("timeout: must be a positive, finite number of seconds" in str(error) for error in raised)


def test_a_timeout_of_none_is_the_default_and_a_text_is_a_type_error(client: RouterClient) -> None:
    assert client.route(TASK, timeout=None).route == "test_generation"
    with pytest.raises(TypeError, match="timeout: must be a number of seconds or None, not str"):
        client.route(TASK, timeout="2")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeout: must be a number of seconds or None, not bool"):
        client.stats(timeout=True)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.route(TASK, metadata={"team": 1}), r"metadata\['team'\]: must be a string, not int"),
        (lambda c: c.route(TASK, metadata={1: "qa"}), r"metadata: keys must be strings, not int \(1\)"),
        (lambda c: c.route(TASK, metadata=["team"]), r"metadata: must be a mapping of strings to strings, not list"),
        (
            lambda c: c.route_batch([TASK, RouteRequest(TASK, {"team": None})]),  # type: ignore[dict-item]
            r"tasks\[1\]\.metadata\['team'\]: must be a string, not NoneType",
        ),
        (lambda c: c.route_batch(TASK), r"tasks: must be a list of texts or RouteRequests, not one str"),
        (lambda c: c.route_batch([TASK, 3]), r"tasks\[1\]: must be a text or a RouteRequest, not int"),
        (lambda c: c.report_quality("d", 4, labels={"a": 1}), r"labels\['a'\]: must be a string, not int"),
        (
            lambda c: c.report_outcome("d", [ATTEMPT], accepted=True, labels={"a": 1.5}),
            r"labels\['a'\]: must be a string, not float",
        ),
        (
            lambda c: c.report_outcome("d", [{"model": "x", "outcome": "accepted"}], accepted=True),
            r"attempts\[0\]: must be a semroute.client.Attempt, not dict",
        ),
        (lambda c: c.report_outcome("d", ATTEMPT, accepted=True), r"attempts: must be a list of Attempts, not Attempt"),
        (lambda c: c.route(TASK, request_id="id\n2"), r"request_id: must be printable ASCII"),
    ],
)
def test_fields_of_the_wrong_type_are_named_before_anything_is_sent(
    target: str, call: Callable[[Any], Any], message: str
) -> None:
    raised = _both_faces(target, call)
    assert len(raised) == 2, raised
    for error in raised:
        assert isinstance(error, TypeError | ValueError) and re.search(message, str(error)), repr(error)


def test_an_attempts_outcome_may_be_given_as_its_string(client: RouterClient) -> None:
    attempt = Attempt("gpt-5-mini", "accepted", 1.0)  # type: ignore[arg-type]  # as README writes outcomes
    assert attempt.outcome is AttemptOutcome.ACCEPTED
    decision = client.route(TASK)
    client.report_outcome(decision.decision_id, [attempt, Attempt("x", "provider_error", 2.0)], accepted=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Attempt.outcome: 'acepted' is not one of accepted, invalid, provider_error"):
        Attempt("gpt-5-mini", "acepted", 1.0)  # type: ignore[arg-type]
