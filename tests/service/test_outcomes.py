"""ReportOutcome, ReportQuality and GetStats end to end, and decisions recorded off the request path."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from semroute.client import AsyncRouterClient, Attempt, AttemptOutcome, RouterClient, ServiceError
from semroute.store import OutcomeDatabase, OutcomeStore, StoreSettings, sqlite_url
from tests.service.conftest import RunningServer, ServerProcess, wait_until

TASK = "write unit tests for the parser in parser.py"
ATTEMPTS = [
    Attempt("gpt-5-mini", AttemptOutcome.INVALID, 700.0, 100, 20, 0.0001, "json", "not JSON"),
    Attempt("claude-sonnet-4-6", AttemptOutcome.ACCEPTED, 1200.0, 100, 250, 0.004),
]


def store_of(running: RunningServer) -> OutcomeStore:
    store = running.server.store
    assert store is not None
    return store


def test_an_outcome_is_in_the_store_when_acknowledged(client: RouterClient, session_server: RunningServer) -> None:
    decision = client.route(TASK)

    client.report_outcome(decision.decision_id, ATTEMPTS, accepted=True, quality_score=4, labels={"team": "qa"})

    database = store_of(session_server).database
    outcome = database.outcome(decision.decision_id)
    assert outcome is not None and (outcome["accepted"], outcome["quality_score"]) == (True, 4)
    assert [row["model"] for row in database.attempts(decision.decision_id)] == ["gpt-5-mini", "claude-sonnet-4-6"]
    stats = client.stats()
    assert stats.enabled and stats.outcomes_recorded >= 1 and stats.decisions_recorded >= 1


def test_a_later_quality_score_is_recorded(client: RouterClient, session_server: RunningServer) -> None:
    decision = client.route(TASK)
    client.report_outcome(decision.decision_id, ATTEMPTS, accepted=True)

    client.report_quality(decision.decision_id, 2, labels={"reviewer": "ana"})

    outcome = store_of(session_server).database.outcome(decision.decision_id)
    assert outcome is not None and (outcome["quality_score"], outcome["labels"]) == (2, {"reviewer": "ana"})


def test_batch_decisions_are_recorded(client: RouterClient, session_server: RunningServer) -> None:
    decisions = client.route_batch([TASK, "summarize this article"])

    database = store_of(session_server).database
    wait_until(lambda: all(database.decision(d.decision_id) for d in decisions), "both decisions recorded")
    row = database.decision(decisions[1].decision_id)
    assert row is not None and row["route"] == decisions[1].route and row["model"] == decisions[1].model.name


@pytest.mark.parametrize(
    ("report", "field"),
    [
        (lambda c, d: c.report_outcome(d, ATTEMPTS, accepted=True, quality_score=6), "quality_score: must be between"),
        (lambda c, d: c.report_quality(d, 0), "score: must be between 1 and 5, got 0"),
        (lambda c, d: c.report_outcome("", ATTEMPTS, accepted=True), "decision_id: must not be empty"),
        (lambda c, d: c.report_outcome(d, [Attempt("", AttemptOutcome.ACCEPTED, 1.0)], accepted=True), "attempts[0]"),
        (lambda c, d: c.report_quality(d, 3, labels={"bad key": "x"}), "labels: key 'bad key'"),
        (
            lambda c, d: c.report_outcome(
                d,
                [Attempt("gpt-5-mini", AttemptOutcome.ACCEPTED, 1.0, passed_validators=("json,regex",))],
                accepted=True,
            ),
            "attempts[0].passed_validators: 'json,regex' must be",
        ),
    ],
)
def test_an_invalid_report_names_its_field(
    client: RouterClient, report: Callable[[RouterClient, str], None], field: str
) -> None:
    decision = client.route(TASK)

    with pytest.raises(ServiceError) as caught:
        report(client, decision.decision_id)

    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details.startswith(field)


def test_an_unknown_decision_is_not_found(client: RouterClient) -> None:
    with pytest.raises(ServiceError) as caught:
        client.report_outcome("f" * 32, ATTEMPTS, accepted=True)

    assert caught.value.code is grpc.StatusCode.NOT_FOUND
    assert caught.value.details.startswith("decision_id: no decision")


def test_the_async_client_reports_too(target: str, session_server: RunningServer) -> None:
    async def report() -> str:
        async with AsyncRouterClient(target) as client:
            decision = await client.route(TASK)
            await client.report_outcome(decision.decision_id, ATTEMPTS, accepted=False)
            await client.report_quality(decision.decision_id, 1)
            assert (await client.stats()).enabled
            return decision.decision_id

    decision_id = asyncio.run(report())

    outcome = store_of(session_server).database.outcome(decision_id)
    assert outcome is not None and (outcome["accepted"], outcome["quality_score"]) == (False, 1)


def test_without_a_store_reports_are_refused(start_server: Callable[..., RunningServer]) -> None:
    running = start_server(store=None)
    with RouterClient(running.target) as client:
        decision = client.route(TASK)
        with pytest.raises(ServiceError) as caught:
            client.report_outcome(decision.decision_id, ATTEMPTS, accepted=True)
        assert client.stats().enabled is False

    assert caught.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert "--no-store" in caught.value.details


def test_the_task_text_is_stored_only_when_asked(start_server: Callable[..., RunningServer], tmp_path: Path) -> None:
    secret = "rotate the credentials in deploy.yaml for customer 4711"
    for store_text in (False, True):
        path = tmp_path / f"outcomes-{store_text}.db"
        running = start_server(store=StoreSettings(sqlite_url(path), store_text=store_text))
        with RouterClient(running.target) as client:
            decision = client.route(secret)
            client.report_outcome(decision.decision_id, ATTEMPTS, accepted=True)
        running.server.stop(0.0, 1.0)

        content = path.read_bytes() + b"".join(p.read_bytes() for p in tmp_path.glob(f"{path.name}-*"))
        assert (secret.encode() in content) is store_text
        row = OutcomeDatabase(sqlite_url(path)).decision(decision.decision_id)
        assert row is not None and row["text"] == (secret if store_text else None)


def test_routing_never_fails_while_the_store_is_locked(
    start_server: Callable[..., RunningServer], tmp_path: Path
) -> None:
    path = tmp_path / "locked.db"
    running = start_server(store=StoreSettings(sqlite_url(path)))
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another connection holds the write lock
    try:
        with RouterClient(running.target) as client:
            decisions = [client.route(f"{TASK} number {n}") for n in range(30)]
            wait_until(lambda: client.stats().decisions_dropped >= 1, "decisions dropped")
            stats = client.stats()
    finally:
        locker.execute("ROLLBACK")
        locker.close()

    assert len(decisions) == 30 and all(decision.route for decision in decisions)
    assert stats.store_errors >= 1


def test_an_acknowledged_outcome_survives_kill_9(default_index_path: Path, tmp_path: Path) -> None:
    index_path = tmp_path / "index.zip"
    index_path.write_bytes(default_index_path.read_bytes())
    store_path = tmp_path / "outcomes.db"
    server = ServerProcess(index_path, "--store", sqlite_url(store_path))
    try:
        port = server.record("listening")["port"]
        server.record("serving")
        with RouterClient(f"127.0.0.1:{port}") as client:
            decision = client.route(TASK)
            client.report_outcome(decision.decision_id, ATTEMPTS, accepted=True, quality_score=5)
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
    finally:
        server.close()

    database = OutcomeDatabase(sqlite_url(store_path))
    outcome = database.outcome(decision.decision_id)
    assert outcome is not None and outcome["quality_score"] == 5
    assert database.decision(decision.decision_id) is not None
    assert len(database.attempts(decision.decision_id)) == 2
    database.close()
