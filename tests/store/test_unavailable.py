"""A store that cannot be written (a locked SQLite file, a stopped PostgreSQL) drops decisions, counts them, and
refuses reports with StoreUnavailableError; it never blocks the caller."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from semroute.errors import StoreUnavailableError
from semroute.store import OutcomeStore, PendingDecision, StoreSettings, sqlite_url
from semroute.types import OutcomeReport
from tests.service.conftest import wait_until
from tests.store.conftest import new_postgres_database, pending_decision, running_pgserver

ENQUEUE_BOUND_SECONDS = 0.05  # recording is an enqueue: far below this even for a batch


def check_unavailable(store: OutcomeStore, known: PendingDecision) -> None:
    batch = [pending_decision(f"task {n}") for n in range(50)]

    started = time.perf_counter()
    store.record_decisions(batch)
    assert time.perf_counter() - started < ENQUEUE_BOUND_SECONDS

    wait_until(lambda: store.stats().decisions_dropped >= 50, "the batch dropped")
    assert store.stats().store_errors >= 1
    with pytest.raises(StoreUnavailableError, match="could not commit"):
        store.report_outcome(OutcomeReport(known.decision.decision_id, (), True)).result(timeout=30)


def test_a_locked_sqlite_file_drops_decisions(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.db"
    store = OutcomeStore.open(StoreSettings(sqlite_url(path)))
    known = pending_decision("recorded before the lock")
    store.record_decisions([known])
    wait_until(lambda: store.stats().decisions_recorded == 1, "a decision recorded")
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        check_unavailable(store, known)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    store.record_decisions([pending_decision("after the lock")])  # and it recovers
    wait_until(lambda: store.stats().decisions_recorded == 2, "a decision recorded after the lock")
    store.close()


def test_a_stopped_postgres_drops_decisions() -> None:
    with running_pgserver() as server:
        store = OutcomeStore.open(StoreSettings(new_postgres_database(server)))
        known = pending_decision("before the outage")
        store.record_decisions([known])
        wait_until(lambda: store.stats().decisions_recorded == 1, "a decision recorded")
        server.cleanup()  # PostgreSQL stops
        check_unavailable(store, known)
        store.close()


def test_a_postgres_that_never_answered_is_no_error_at_start(tmp_path: Path) -> None:
    store = OutcomeStore.open(StoreSettings(f"postgresql://postgres@/postgres?host={tmp_path}&connect_timeout=1"))
    store.record_decisions([pending_decision()])
    wait_until(lambda: store.stats().decisions_dropped == 1, "the decision dropped")
    store.close()


def test_a_lock_held_briefly_is_waited_for(tmp_path: Path) -> None:
    """Another process holding the write lock for 0.3 s made a report fail in 0.11 s: the store's transactions read
    first and then write, and SQLite does not wait for a lock a reading transaction needs to upgrade. They now take
    the write lock when they begin, so the busy timeout applies."""
    import threading

    path = tmp_path / "outcomes.db"
    store = OutcomeStore.open(StoreSettings(sqlite_url(path)))
    known = pending_decision("recorded before the lock")
    store.record_decisions([known])
    wait_until(lambda: store.stats().decisions_recorded == 1, "a decision recorded")
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locker.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: locker.execute("COMMIT"))
    release.start()
    try:
        store.report_outcome(OutcomeReport(known.decision.decision_id, (), True)).result(timeout=30)
    finally:
        release.join()
        locker.close()
    assert store.database.outcome(known.decision.decision_id) is not None
    store.close()
