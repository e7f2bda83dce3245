"""A record the database refuses fails alone, against SQLite and a real PostgreSQL: the rest of its write batch
commits, only the refused report's caller gets an error, and only the refused decision is dropped.

The records here get past the checks of :mod:`semroute.limits` (the store's own are switched off, as a gap in them
would let such a record through), so that the database itself refuses them: on PostgreSQL a value longer than its
column or a NUL in text, on SQLite a NaN where NULL is not allowed (SQLite stores NaN as NULL), an integer beyond 64
bits, or a decision id already taken.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from semroute.errors import RequestError, StoreUnavailableError, UnknownDecisionError
from semroute.store import OutcomeStore, PendingDecision
from semroute.types import Attempt, AttemptOutcome, OutcomeReport, QualityReport
from tests.service.conftest import wait_until
from tests.store.conftest import pending_decision

OpenStore = Callable[..., OutcomeStore]
GOOD_ATTEMPT = Attempt("gpt-5-mini", AttemptOutcome.ACCEPTED, 640.0, 100, 20, 0.0001, passed_validators=("json",))
# Attempts each database refuses, however the batch around them looks.
REFUSED_ATTEMPTS = {
    "postgresql": {
        "model of 1,000 characters": dataclasses.replace(GOOD_ATTEMPT, model="m" * 1000),
        "NUL in a message": dataclasses.replace(GOOD_ATTEMPT, message="not JSON\x00"),
        "validator of 65 characters": dataclasses.replace(GOOD_ATTEMPT, validator="v" * 65),
    },
    "sqlite": {
        "NaN latency": dataclasses.replace(GOOD_ATTEMPT, latency_ms=math.nan),
        "2**63 input tokens": dataclasses.replace(GOOD_ATTEMPT, input_tokens=2**63),
    },
}


def dialect(store: OutcomeStore) -> str:
    return store.database.engine.dialect.name


@pytest.fixture
def unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's own checks of a report switched off: a record they miss reaches the database."""
    monkeypatch.setattr("semroute.store._database.validate_outcome_report", lambda report: None)
    monkeypatch.setattr("semroute.store._database.validate_quality_report", lambda report: None)


@contextmanager
def one_batch(store: OutcomeStore) -> Iterator[None]:
    """Hold the writer inside a transaction while the block queues records, so that they all go in its next batch."""
    entered, gate = threading.Event(), threading.Event()
    insert = store.database.insert_decisions

    def held(connection: Any, rows: Any) -> None:
        if not gate.is_set():
            entered.set()
            gate.wait(30)
        insert(connection, rows)

    store.database.insert_decisions = held  # type: ignore[method-assign]
    store.record_decisions([pending_decision("the batch before")])
    assert entered.wait(30), "the writer never started its batch"
    try:
        yield
    finally:
        gate.set()


def outcome_of(pending: PendingDecision, attempt: Attempt = GOOD_ATTEMPT) -> OutcomeReport:
    return OutcomeReport(pending.decision.decision_id, (attempt,), True, 4, {"team": "qa"})


def settle(futures: list[Future[None]]) -> list[BaseException | None]:
    return [future.exception(timeout=30) for future in futures]


@pytest.mark.usefixtures("unchecked")
def test_a_refused_report_fails_alone(open_store: OpenStore) -> None:
    store = open_store()
    decisions = [pending_decision(f"task {n}") for n in range(20)]
    attempts = [GOOD_ATTEMPT] * len(decisions)
    for n, refused in enumerate(REFUSED_ATTEMPTS[dialect(store)].values()):
        attempts[2 * n + 2] = refused  # among good reports of the same batch
    bad = {position for position, attempt in enumerate(attempts) if attempt is not GOOD_ATTEMPT}

    with one_batch(store):
        store.record_decisions(decisions)
        futures = [
            store.report_outcome(outcome_of(item, attempt)) for item, attempt in zip(decisions, attempts, strict=True)
        ]
        futures.append(store.report_quality(QualityReport(decisions[1].decision.decision_id, 5, {"reviewer": "a"})))

    errors = settle(futures)
    for position, item in enumerate(decisions):
        decision_id = item.decision.decision_id
        outcome = store.database.outcome(decision_id)
        assert store.database.decision(decision_id) is not None  # every decision of the batch committed
        if position in bad:
            error = errors[position]
            assert isinstance(error, RequestError) and error.field == "request", error
            assert "the outcome store refused this report" in str(error)
            assert outcome is None and store.database.attempts(decision_id) == []
        else:
            assert errors[position] is None
            assert outcome is not None and outcome["accepted"] is True
            assert [row["model"] for row in store.database.attempts(decision_id)] == ["gpt-5-mini"]
    assert errors[-1] is None
    stats = store.stats()
    assert stats.decisions_recorded == len(decisions) + 1 and stats.decisions_dropped == 0
    assert (stats.outcomes_recorded, stats.store_errors) == (len(decisions) + 1 - len(bad), len(bad))


def test_the_reason_names_the_database_refusal_and_no_values(open_store: OpenStore, unchecked: None) -> None:
    store = open_store()
    pending = pending_decision("one task")
    store.record_decisions([pending])
    attempt = next(iter(REFUSED_ATTEMPTS[dialect(store)].values()))

    error = store.report_outcome(outcome_of(pending, attempt)).exception(timeout=30)

    assert isinstance(error, RequestError)
    expected = "value too long for type character varying(128)" if dialect(store) == "postgresql" else "NOT NULL"
    assert expected in str(error)
    assert "[SQL:" not in str(error) and "m" * 200 not in str(error)


def refused_decision(store: OutcomeStore) -> PendingDecision:
    """A decision the database refuses: on PostgreSQL a route name over its column, on SQLite a NaN margin (an id
    already taken does on both: the next test)."""
    pending = pending_decision("a decision the database refuses")
    if dialect(store) == "postgresql":
        decision = dataclasses.replace(pending.decision, route="r" * 1000)
    else:
        decision = dataclasses.replace(pending.decision, margin=math.nan)
    return dataclasses.replace(pending, decision=decision)


def test_a_refused_decision_is_dropped_alone(open_store: OpenStore) -> None:
    store = open_store()
    decisions = [pending_decision(f"task {n}") for n in range(25)]
    bad = refused_decision(store)

    with one_batch(store):
        store.record_decisions([*decisions[:12], bad, *decisions[12:]])
        futures = [store.report_outcome(outcome_of(item)) for item in decisions]
        futures.append(store.report_outcome(outcome_of(bad)))

    errors = settle(futures)
    assert errors[:-1] == [None] * len(decisions)  # reports of the other decisions of the same batch commit
    assert all(store.database.outcome(item.decision.decision_id) is not None for item in decisions)
    assert store.database.decision(bad.decision.decision_id) is None
    assert isinstance(errors[-1], UnknownDecisionError)  # its decision was never recorded: NOT_FOUND
    stats = store.stats()
    assert (stats.decisions_recorded, stats.decisions_dropped, stats.store_errors) == (len(decisions) + 1, 1, 1)
    assert stats.outcomes_recorded == len(decisions)


def test_a_decision_id_taken_twice_drops_only_the_second(open_store: OpenStore) -> None:
    store = open_store()
    first = pending_decision("the first")
    store.record_decisions([first])
    assert store.report_outcome(outcome_of(first)).exception(timeout=30) is None
    others = [pending_decision(f"task {n}") for n in range(5)]
    again = dataclasses.replace(pending_decision("the second, same id"), decision=first.decision)

    with one_batch(store):
        store.record_decisions([others[0], again, *others[1:]])
        futures = [store.report_outcome(outcome_of(item)) for item in others]

    assert settle(futures) == [None] * len(others)
    row = store.database.decision(first.decision.decision_id)
    assert row is not None and row["text_chars"] == len("the first")
    assert store.stats().decisions_dropped == 1


def test_a_report_that_meets_a_bug_fails_alone(open_store: OpenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store()
    decisions = [pending_decision(f"task {n}") for n in range(4)]
    cursed = decisions[1].decision.decision_id
    write = store.database.write_quality

    def buggy(connection: Any, report: QualityReport, now: Any) -> None:
        write(connection, report, now)
        if report.decision_id == cursed:
            raise TypeError("a bug after the write")

    monkeypatch.setattr(store.database, "write_quality", buggy)
    with one_batch(store):
        store.record_decisions(decisions)
        futures = [store.report_quality(QualityReport(item.decision.decision_id, 4)) for item in decisions]

    errors = settle(futures)
    assert [type(error).__name__ if error else None for error in errors] == [None, "TypeError", None, None]
    assert store.database.outcome(cursed) is None  # its savepoint was rolled back
    assert all(store.database.outcome(item.decision.decision_id) for n, item in enumerate(decisions) if n != 1)
    assert store.stats().store_errors == 1


def test_a_report_written_at_once_by_another_replica_is_sent_again(
    store_url: str, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two PostgreSQL replicas write the same decision's outcome at the same moment: the second waits for the
    first's rows, then finds them taken. Its caller gets UNAVAILABLE (and sends it again); its batch commits."""
    if not store_url.startswith("postgresql"):
        pytest.skip("one SQLite file serves one replica")
    first, second = open_store(), open_store()
    shared, other = pending_decision("reported twice at once"), pending_decision("another task")
    first.record_decisions([shared])
    assert first.report_outcome(outcome_of(shared)).exception(timeout=30) is None
    second.record_decisions([other])
    assert second.report_outcome(outcome_of(other)).exception(timeout=30) is None
    entered, gate = threading.Event(), threading.Event()
    write = first.database.write_outcome

    def held(connection: Any, report: OutcomeReport, now: Any) -> None:
        write(connection, report, now)  # its rows are written, not committed
        entered.set()
        gate.wait(30)

    monkeypatch.setattr(first.database, "write_outcome", held)
    held_report = first.report_outcome(outcome_of(shared))
    assert entered.wait(30)
    with one_batch(second):
        racing = second.report_outcome(outcome_of(shared))
        beside = second.report_outcome(outcome_of(other))  # in the same batch, after it
    with second.database.engine.connect() as connection:  # the second waits for the first's row lock
        query = sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        wait_until(lambda: connection.execute(query).scalar_one() > 0, "the second replica waiting")
    gate.set()

    assert held_report.exception(timeout=30) is None
    error = racing.exception(timeout=30)
    assert isinstance(error, StoreUnavailableError) and "send the report again" in str(error)
    assert beside.exception(timeout=30) is None
    assert second.report_outcome(outcome_of(shared)).exception(timeout=30) is None  # sent again, it is recorded
