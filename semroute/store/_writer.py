"""The outcome store as the server uses it: a bounded queue and one writer thread that commits in batches.

Decisions are recorded off the request path: :meth:`OutcomeStore.record_decisions` only enqueues, and a full queue,
a locked SQLite file or an unreachable PostgreSQL make a decision "not recorded" (a counter and a rate-limited log
line), never a failed or slower routing call. Decisions are written every :data:`DECISION_BATCH_SECONDS`, many to
a transaction; a crash loses what was still queued.

Reports (outcomes, quality scores) go through the same writer and their future resolves once their transaction is
committed (group commit: everything that queued while the previous commit ran is committed together), so an
acknowledged report survives a kill -9. The writer commits the decisions it has taken before the reports of the same
batch, so a report always finds a decision this replica issued before it.

A record the database refuses (a data error: a value too long for its column, a NUL in PostgreSQL text, a NOT NULL
violated) fails alone, whoever sent it: each report is written in a savepoint of its own, and a batch whose decisions
fail to insert together is written again with each decision in a savepoint, so that the rest commits and only the
refused decision is dropped (counted) and only the refused report's caller gets an error (:class:`RequestError`,
INVALID_ARGUMENT). Every record is checked before it is queued (:mod:`semroute.limits`), so a refusal means a gap in
those checks: each one counts as a store error. So does a report that meets a concurrent write of the same decision
on another replica (its caller gets :class:`StoreUnavailableError` and sends it again) or a bug (INTERNAL, for its
caller alone). A database that fails as a whole (unreachable, locked, full) fails the batch: its decisions are
dropped and its reports get :class:`StoreUnavailableError`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from semroute.errors import (
    RequestError,
    StoreFullError,
    StoreUnavailableError,
    StoreVersionError,
    UnknownDecisionError,
)
from semroute.store._database import OutcomeDatabase, retention_cutoff
from semroute.store._records import PendingDecision, decision_row, utc_now
from semroute.store._settings import StoreSettings
from semroute.types import OutcomeReport, QualityReport, StoreStats

logger = logging.getLogger("semroute.store")

PURGE_INTERVAL_SECONDS = 3600.0
LOG_INTERVAL_SECONDS = 10.0  # at most one "not recorded" line this often; it says how many were dropped meanwhile
# Decisions wait this long for company before they are written: one transaction for many keeps the writer's share of
# the CPU (and of the GIL the routing threads need) small. Reports, and a queue half full, wake the writer at once.
DECISION_BATCH_SECONDS = 0.5


@dataclass(frozen=True)
class _Report:
    report: OutcomeReport | QualityReport
    done: Future[None]


@dataclass
class _Written:
    """What a batch's transaction left out: the reports that failed (by ``id`` of their :class:`_Report`), how many
    decisions the database refused, and how many reports failed in the store (refused, in conflict, or a bug)."""

    failures: dict[int, BaseException] = field(default_factory=dict)
    refused_decisions: int = 0
    failed_reports: int = 0
    reason: str = ""  # the last such failure, as the log says it


class _Counters:
    """The store's counters, safe to bump from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.values = {"decisions_recorded": 0, "decisions_dropped": 0, "store_errors": 0, "outcomes_recorded": 0}

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                self.values[name] += amount

    def stats(self) -> StoreStats:
        with self._lock:
            return StoreStats(enabled=True, **self.values)


class _DropLog:
    """Logs dropped decisions (or, as ``message`` says, other records) at most once per
    :data:`LOG_INTERVAL_SECONDS`, with the count since the last line."""

    def __init__(self, message: str = "decisions not recorded") -> None:
        self._message = message
        self._lock = threading.Lock()
        self._last = -LOG_INTERVAL_SECONDS
        self._dropped = 0

    def dropped(self, count: int, reason: str) -> None:
        with self._lock:
            self._dropped += count
            now = time.monotonic()
            if now - self._last < LOG_INTERVAL_SECONDS:
                return
            self._last, dropped, self._dropped = now, self._dropped, 0
        logger.warning(self._message, extra={"fields": {"dropped": dropped, "reason": reason}})


class OutcomeStore:
    """A store and its writer thread. Open with :meth:`open`; :meth:`close` commits what is queued and stops."""

    def __init__(self, settings: StoreSettings, database: OutcomeDatabase) -> None:
        """Use :meth:`open`."""
        self._settings = settings
        self._database = database
        self._decisions: queue.Queue[PendingDecision] = queue.Queue(settings.queue_decisions)
        self._reports: queue.Queue[_Report] = queue.Queue(settings.queue_reports)
        self._chars_lock = threading.Lock()
        self._queued_chars = 0
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._counters = _Counters()
        self._drops = _DropLog()
        self._failed_reports = _DropLog("reports not recorded")
        self._migrated = False
        self._next_purge = 0.0
        self._thread = threading.Thread(target=self._run, name="semroute-store", daemon=True)

    @classmethod
    def open(cls, settings: StoreSettings) -> OutcomeStore:
        """Connect, migrate and start the writer. An unreachable database is no error: decisions are dropped (and
        counted) until it answers, and the writer migrates it then.

        Raises:
            StoreVersionError: the store was written by a newer semroute.
            MissingExtraError: a PostgreSQL URL without psycopg installed.
        """
        store = cls(settings, OutcomeDatabase(settings.url))
        store._try_migrate()
        store._thread.start()
        return store

    @property
    def database(self) -> OutcomeDatabase:
        """The database behind the store (reads, tests)."""
        return self._database

    def stats(self) -> StoreStats:
        """The counters since the store opened."""
        return self._counters.stats()

    def record_decisions(self, pending: Sequence[PendingDecision]) -> None:
        """Queue decisions for the writer; those that do not fit are dropped and counted. Never blocks."""
        for position, item in enumerate(pending):
            if not self._reserve_chars(len(item.request.text)):
                self._drop(len(pending) - position, "the write queue holds too much text")
                break
            try:
                self._decisions.put_nowait(item)
            except queue.Full:
                self._release_chars(len(item.request.text))
                self._drop(len(pending) - position, "the write queue is full")
                break
        if self._decisions.qsize() * 2 >= self._settings.queue_decisions:
            self._wake.set()

    def report_outcome(self, report: OutcomeReport) -> Future[None]:
        """Queue an outcome; the future resolves when it is committed.

        Raises:
            StoreFullError: the report queue is full.
        """
        return self._submit(report)

    def report_quality(self, report: QualityReport) -> Future[None]:
        """Queue a quality score; the future resolves when it is committed.

        Raises:
            StoreFullError: the report queue is full.
        """
        return self._submit(report)

    def close(self, timeout: float = 5.0) -> None:
        """Commit what is queued (within ``timeout`` seconds), stop the writer and close the connections."""
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout)
        self._database.close()

    def _submit(self, report: OutcomeReport | QualityReport) -> Future[None]:
        done: Future[None] = Future()
        try:
            self._reports.put_nowait(_Report(report, done))
        except queue.Full:
            raise StoreFullError("the outcome store's write queue is full; retry later") from None
        self._wake.set()
        return done

    def _reserve_chars(self, chars: int) -> bool:
        with self._chars_lock:
            if self._queued_chars + chars > self._settings.queue_chars:
                return False
            self._queued_chars += chars
            return True

    def _release_chars(self, chars: int) -> None:
        with self._chars_lock:
            self._queued_chars -= chars

    def _drop(self, count: int, reason: str) -> None:
        self._counters.add(decisions_dropped=count)
        self._drops.dropped(count, reason)

    def _run(self) -> None:
        while True:
            self._wake.wait(DECISION_BATCH_SECONDS)
            self._wake.clear()
            reports = _drain(self._reports)  # first: every decision queued before them is drained next
            pending = _drain(self._decisions)
            self._release_chars(sum(len(item.request.text) for item in pending))
            if reports or pending:
                self._write(pending, reports)
            elif self._closing.is_set():
                return
            self._maybe_purge()

    def _write(self, pending: list[PendingDecision], reports: list[_Report]) -> None:
        rows = self._decision_rows(pending)
        try:
            if not self._migrated:
                self._migrate()
            written = self._commit(rows, reports)
        except Exception as error:  # any failure of the database: the batch is lost, routing goes on
            self._counters.add(store_errors=1)
            self._drop(len(rows), f"{type(error).__name__}: {_first_line(error)}")
            failed = StoreUnavailableError(f"the outcome store could not commit the record ({type(error).__name__})")
            for item in reports:
                item.done.set_exception(failed)
            return
        self._counters.add(
            decisions_recorded=len(rows) - written.refused_decisions,
            outcomes_recorded=len(reports) - len(written.failures),
            store_errors=written.refused_decisions + written.failed_reports,
        )
        if written.refused_decisions:
            self._drop(written.refused_decisions, f"the database refused it ({written.reason})")
        if written.failed_reports:
            self._failed_reports.dropped(written.failed_reports, written.reason)
        for item in reports:
            failure = written.failures.get(id(item))
            if failure is None:
                item.done.set_result(None)
            else:
                item.done.set_exception(failure)

    def _decision_rows(self, pending: list[PendingDecision]) -> list[dict[str, Any]]:
        """The rows of the decisions; a decision whose row cannot be made (a bug) is dropped alone, logged."""
        rows = []
        for item in pending:
            try:
                rows.append(
                    decision_row(
                        item,
                        store_text=self._settings.store_text,
                        keep_constrained_embeddings=self._settings.keep_constrained_embeddings,
                    )
                )
            except Exception:
                logger.exception("decision row failed", extra={"fields": {"request_id": item.request_id}})
                self._counters.add(store_errors=1)
                self._drop(1, "its row could not be made")
        return rows

    def _commit(self, rows: list[dict[str, Any]], reports: list[_Report]) -> _Written:
        """Commit the batch in one transaction; if the database refuses one of its decisions, commit it again with
        each decision in a savepoint of its own, leaving out those it refuses."""
        try:
            return self._transaction(rows, reports, one_by_one=False)
        except Exception as error:
            if not rows or not _refused_record(error):
                raise
        return self._transaction(rows, reports, one_by_one=True)

    def _transaction(self, rows: list[dict[str, Any]], reports: list[_Report], *, one_by_one: bool) -> _Written:
        """One transaction: the decisions (together, or ``one_by_one`` in savepoints), then each report in a
        savepoint of its own: an unknown decision, a report over a limit such as the labels a decision may hold, one
        the database refuses, or one that meets a bug fails that report alone (:meth:`_report_failure`)."""
        written = _Written()
        now = utc_now()
        with self._database.writes.begin() as connection:
            if one_by_one:
                self._insert_each(connection, rows, written)
            else:
                self._database.insert_decisions(connection, rows)
            for item in reports:
                try:
                    with connection.begin_nested():
                        self._apply(connection, item.report, now)
                except (UnknownDecisionError, RequestError) as error:
                    written.failures[id(item)] = error
                except Exception as error:
                    written.failures[id(item)] = _report_failure(error)
                    written.failed_reports += 1
                    written.reason = _refusal_reason(error)
        return written

    def _insert_each(self, connection: sa.Connection, rows: list[dict[str, Any]], written: _Written) -> None:
        """Insert each decision in a savepoint of its own, counting in ``written`` those the database refuses."""
        for row in rows:
            try:
                with connection.begin_nested():
                    self._database.insert_decisions(connection, [row])
            except Exception as error:
                if not _refused_record(error):
                    raise
                written.refused_decisions += 1
                written.reason = _refusal_reason(error)

    def _apply(self, connection: sa.Connection, report: OutcomeReport | QualityReport, now: datetime) -> None:
        if isinstance(report, OutcomeReport):
            self._database.write_outcome(connection, report, now)
        else:
            self._database.write_quality(connection, report, now)

    def _try_migrate(self) -> None:
        try:
            self._migrate()
        except StoreVersionError:
            self._database.close()
            raise
        except sa.exc.SQLAlchemyError as error:
            logger.warning(
                "outcome store unreachable; decisions are not recorded until it answers",
                extra={"fields": {"store": self._database.where, "error": _first_line(error)}},
            )

    def _migrate(self) -> None:
        found = self._database.migrate()
        self._migrated = True
        logger.info("outcome store ready", extra={"fields": {"store": self._database.where, "schema_found": found}})

    def _maybe_purge(self) -> None:
        if not self._migrated or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + PURGE_INTERVAL_SECONDS
        try:
            purged = self._database.purge(retention_cutoff(utc_now(), self._settings.retention_days))
        except sa.exc.SQLAlchemyError as error:
            self._counters.add(store_errors=1)
            logger.warning("retention purge failed", extra={"fields": {"error": _first_line(error)}})
            return
        if purged:
            logger.info("retention purge", extra={"fields": {"decisions": purged}})


def _report_failure(error: Exception) -> BaseException:
    """What the caller of a report whose savepoint failed with ``error`` is told, the rest of the batch going on.

    Raises:
        Exception: ``error`` again when the database itself failed (unreachable, locked, full): the batch fails.
    """
    if _conflict(error):
        return StoreUnavailableError(
            "another write of this decision's outcome committed at the same moment; send the report again"
        )
    if _refused_record(error):
        reason = _refusal_reason(error)
        return RequestError("request", f"the outcome store refused this report ({reason}); nothing was recorded")
    if isinstance(error, sa.exc.SQLAlchemyError):
        raise error
    return error  # a bug: INTERNAL for its caller alone, its traceback logged by the service


def _refused_record(error: BaseException) -> bool:
    """Whether ``error`` is the database refusing a record's values (the record alone is at fault), not the
    database failing (unreachable, locked, full: every record would fail alike)."""
    if isinstance(error, sa.exc.DBAPIError):
        return isinstance(error, (sa.exc.DataError, sa.exc.IntegrityError)) and not error.connection_invalidated
    # raised while binding the values, before the database saw them: a value no bind processor takes (SQLAlchemy
    # wraps it in a StatementError), or sqlite3's OverflowError for an integer beyond 64 bits (not wrapped)
    return isinstance(error, (sa.exc.StatementError, OverflowError))


def _conflict(error: BaseException) -> bool:
    """Whether ``error`` is a unique key taken by a concurrent transaction: two PostgreSQL replicas writing the same
    decision's report at once (the second waits for the first, then finds its rows). Sent again, it succeeds."""
    return isinstance(error, sa.exc.IntegrityError) and getattr(error.orig, "sqlstate", None) == "23505"


def _refusal_reason(error: BaseException) -> str:
    """The driver's own first line (``StringDataRightTruncation: value too long for type character varying(128)``),
    never the statement or its values, which SQLAlchemy's message adds."""
    if isinstance(error, sa.exc.StatementError) and error.orig is not None:
        error = error.orig
    return f"{type(error).__name__}: {_first_line(error)[:200]}"


def _drain(source: queue.Queue[Any]) -> list[Any]:
    items = []
    while True:
        try:
            items.append(source.get_nowait())
        except queue.Empty:
            return items


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]
