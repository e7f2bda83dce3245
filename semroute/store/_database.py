"""The outcome store's database: one code path for SQLite and PostgreSQL (SQLAlchemy Core, psycopg 3).

SQLite runs in WAL mode, so readers (``semroute report``, a test) never block the writer, with ``synchronous=FULL``:
a committed transaction is on disk before the commit returns. A writer that finds the file locked waits at most
:data:`SQLITE_BUSY_SECONDS`, then its batch fails (the store counts it; routing never waits for it).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from semroute.errors import MissingExtraError, UnknownDecisionError
from semroute.learning.observations import Observation
from semroute.limits import merged_labels
from semroute.store._observations import (
    check_observations,
    observation_of_row,
    observation_row,
    served_observation,
    served_query,
)
from semroute.store._records import attempt_rows, utc_now, validate_outcome_report, validate_quality_report
from semroute.store._schema import attempts, decisions, migrate, observations, outcomes
from semroute.store._settings import engine_url
from semroute.types import OutcomeReport, QualityReport

SQLITE_BUSY_SECONDS = 1.0
POSTGRES_CONNECT_SECONDS = 3
POSTGRES_STATEMENT_MS = 10_000
_WRITES = "semroute_writes"  # execution option of OutcomeDatabase.writes


@dataclass(frozen=True)
class SourceSummary:
    """The observations of one source in the ``observations`` table.

    Attributes:
        source: ``import:<path or name>``, ``evaluate-models``.
        observations: Rows.
        tasks: Distinct task ids.
        routes: Routes, sorted.
        models: Models, sorted.
        recorded_at: When its latest row was written (UTC).
    """

    source: str
    observations: int
    tasks: int
    routes: tuple[str, ...]
    models: tuple[str, ...]
    recorded_at: datetime


class OutcomeDatabase:
    """Reads and writes of the outcome store; every write runs in the caller's transaction."""

    def __init__(self, url: str) -> None:
        """Connect lazily to the store at ``url`` (see :func:`engine_url` for the forms accepted).

        Raises:
            MissingExtraError: a PostgreSQL URL without psycopg installed.
        """
        self.engine = _create_engine(engine_url(url))
        # the engine of transactions that write: on SQLite they take the write lock as they begin (_sqlite_engine)
        self.writes = self.engine.execution_options(**{_WRITES: True})
        self.where = self.engine.url.render_as_string(hide_password=True)

    def migrate(self) -> int:
        """Bring the schema up to date; return the version found (0: a new store).

        Raises:
            StoreVersionError: the store was written by a newer semroute.
            sqlalchemy.exc.SQLAlchemyError: the database cannot be reached or written.
        """
        return migrate(self.writes, self.where)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @staticmethod
    def insert_decisions(connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert decision rows (see :func:`~semroute.store._records.decision_row`)."""
        if rows:
            connection.execute(sa.insert(decisions), list(rows))

    @staticmethod
    def write_outcome(connection: sa.Connection, report: OutcomeReport, now: datetime) -> None:
        """Record an outcome, replacing the attempts and acceptance of an earlier report of the same decision. A
        quality score given before (by ReportQuality, which often lands first: ``complete()`` reports in the
        background) is kept unless this report has one of its own, and labels are merged, this report's winning.
        The report is checked again here (the service checked it before queueing it), so that no caller of the store
        can hand a batch a row its database would refuse.

        Raises:
            RequestError: a field is over a limit of :mod:`semroute.limits`; RecordLimitError when the merged labels
                would be (nothing is written then).
            UnknownDecisionError: no decision with this id is in the store.
        """
        validate_outcome_report(report)
        _require_decision(connection, report.decision_id)
        earlier = connection.execute(
            sa.select(outcomes.c.quality_score, outcomes.c.labels, outcomes.c.scored_at).where(
                outcomes.c.decision_id == report.decision_id
            )
        ).first()
        labels = merged_labels(earlier.labels if earlier is not None else {}, report.labels)
        score, scored_at = report.quality_score, now if report.quality_score is not None else None
        if score is None and earlier is not None:
            score, scored_at = earlier.quality_score, earlier.scored_at
        for table in (attempts, outcomes):
            connection.execute(sa.delete(table).where(table.c.decision_id == report.decision_id))
        connection.execute(
            sa.insert(outcomes).values(
                decision_id=report.decision_id,
                accepted=report.accepted,
                quality_score=score,
                labels=labels,
                reported_at=now,
                scored_at=scored_at,
            )
        )
        rows = attempt_rows(report)
        if rows:
            connection.execute(sa.insert(attempts), rows)

    @staticmethod
    def write_quality(connection: sa.Connection, report: QualityReport, now: datetime) -> None:
        """Set a decision's quality score and add its labels; an outcome row is made if none was reported yet.

        Raises:
            RequestError: a field is over a limit of :mod:`semroute.limits`; RecordLimitError when the merged labels
                would be (nothing is written then).
            UnknownDecisionError: no decision with this id is in the store.
        """
        validate_quality_report(report)
        _require_decision(connection, report.decision_id)
        found = connection.execute(
            sa.select(outcomes.c.labels).where(outcomes.c.decision_id == report.decision_id)
        ).first()
        if found is None:
            values = {"labels": dict(report.labels), "reported_at": now, "scored_at": now}
            connection.execute(
                sa.insert(outcomes).values(decision_id=report.decision_id, quality_score=report.score, **values)
            )
            return
        connection.execute(
            sa.update(outcomes)
            .where(outcomes.c.decision_id == report.decision_id)
            .values(quality_score=report.score, labels=merged_labels(found.labels, report.labels), scored_at=now)
        )

    def insert_observations(self, batch: Sequence[Observation], *, texts: Mapping[str, str] | None = None) -> int:
        """Write observations in one transaction, replacing the rows of the same (source, task_id, model) and keeping
        a source's other rows (an evaluation adds to the earlier ones; :meth:`replace_source` replaces a whole
        source); return how many were written. ``texts`` (task id -> text) is kept only for the task ids it names.

        Raises:
            ValueError: an observation does not fit the table (naming it and the field), or two share a key.
            sqlalchemy.exc.SQLAlchemyError: the database cannot be reached or written.
        """
        rows = _observation_rows(batch, texts)
        if not rows:
            return 0
        same_key = sa.and_(
            observations.c.source == sa.bindparam("key_source"),
            observations.c.task_id == sa.bindparam("key_task_id"),
            observations.c.model == sa.bindparam("key_model"),
        )
        keys = [{"key_source": row["source"], "key_task_id": row["task_id"], "key_model": row["model"]} for row in rows]
        with self.writes.begin() as connection:
            connection.execute(sa.delete(observations).where(same_key), keys)
            connection.execute(sa.insert(observations), rows)
        return len(rows)

    def replace_source(
        self, source: str, batch: Sequence[Observation], *, texts: Mapping[str, str] | None = None
    ) -> tuple[int, int]:
        """Replace every row of ``source`` with ``batch`` in one transaction (a re-import: rows of tasks or models
        the new batch no longer has go too); ``texts`` as for :meth:`insert_observations`.

        Returns:
            How many rows were written, and how many of the source's earlier rows were deleted.

        Raises:
            ValueError: an observation does not fit the table, two share a key, or one is of another source; nothing
                is written or deleted then.
            sqlalchemy.exc.SQLAlchemyError: the database cannot be reached or written (nothing changes).
        """
        for index, item in enumerate(batch):
            if item.source != source:
                raise ValueError(
                    f"observations[{index}] (task {item.task_id!r}, model {item.model!r}): source {item.source!r}, "
                    f"not {source!r}"
                )
        rows = _observation_rows(batch, texts)
        with self.writes.begin() as connection:
            replaced = connection.execute(sa.delete(observations).where(observations.c.source == source)).rowcount
            if rows:
                connection.execute(sa.insert(observations), rows)
        return len(rows), int(replaced)

    def forget_source(self, source: str) -> int:
        """Delete every row of ``source`` from the ``observations`` table; return how many (0: it had none)."""
        with self.writes.begin() as connection:
            return int(connection.execute(sa.delete(observations).where(observations.c.source == source)).rowcount)

    def observation_sources(self) -> list[SourceSummary]:
        """Each source of the ``observations`` table (imports, evaluations; served traffic is read from the decisions
        and is not one of them), by name."""
        per_source = sa.select(
            observations.c.source,
            sa.func.count().label("rows"),
            sa.func.count(sa.distinct(observations.c.task_id)).label("tasks"),
            sa.func.max(observations.c.recorded_at).label("recorded_at"),
        ).group_by(observations.c.source)
        pairs = sa.select(observations.c.source, observations.c.route, observations.c.model).distinct()
        with self.engine.connect() as connection:
            totals = list(connection.execute(per_source))
            routes: dict[str, set[str]] = {}
            models: dict[str, set[str]] = {}
            for row in connection.execute(pairs):
                routes.setdefault(row.source, set()).add(row.route)
                models.setdefault(row.source, set()).add(row.model)
        return sorted(
            (
                SourceSummary(
                    row.source,
                    int(row.rows),
                    int(row.tasks),
                    tuple(sorted(routes[row.source])),
                    tuple(sorted(models[row.source])),
                    row.recorded_at,
                )
                for row in totals
            ),
            key=lambda summary: summary.source,
        )

    def observations(
        self, *, routes: Collection[str] | None = None, since: datetime | None = None
    ) -> list[Observation]:
        """Every observation: the ``observations`` table (by source, task and model), then served traffic (in the
        order decided), each reported attempt that was accepted or invalid as an observation of its task.

        Args:
            routes: Only these routes (default: all).
            since: Only observations recorded (imported rows) or decided (served traffic) at or after this UTC time.
        """
        stored = sa.select(observations).order_by(observations.c.source, observations.c.task_id, observations.c.model)
        served = served_query()
        if routes is not None:
            stored = stored.where(observations.c.route.in_(list(routes)))
            served = served.where(decisions.c.route.in_(list(routes)))
        if since is not None:
            stored = stored.where(observations.c.recorded_at >= since)
            served = served.where(decisions.c.decided_at >= since)
        with self.engine.connect() as connection:
            found = [observation_of_row(row._mapping) for row in connection.execute(stored)]
            found += [served_observation(row._mapping) for row in connection.execute(served)]
        return found

    def purge(self, before: datetime) -> int:
        """Delete decisions made before ``before`` with their outcomes and attempts; return how many decisions."""
        old = sa.select(decisions.c.decision_id).where(decisions.c.decided_at < before)
        with self.writes.begin() as connection:
            for table in (attempts, outcomes):
                connection.execute(sa.delete(table).where(table.c.decision_id.in_(old)))
            return connection.execute(sa.delete(decisions).where(decisions.c.decided_at < before)).rowcount

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        """The decision's row, or None."""
        return self._row(sa.select(decisions).where(decisions.c.decision_id == decision_id))

    def outcome(self, decision_id: str) -> dict[str, Any] | None:
        """The decision's outcome row, or None."""
        return self._row(sa.select(outcomes).where(outcomes.c.decision_id == decision_id))

    def attempts(self, decision_id: str) -> list[dict[str, Any]]:
        """The decision's attempt rows, in order."""
        query = sa.select(attempts).where(attempts.c.decision_id == decision_id).order_by(attempts.c.position)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def count(self, table: str) -> int:
        """Rows in ``table`` (``decisions``, ``outcomes``, ``attempts`` or ``observations``)."""
        chosen = {"decisions": decisions, "outcomes": outcomes, "attempts": attempts, "observations": observations}[
            table
        ]
        with self.engine.connect() as connection:
            return int(connection.execute(sa.select(sa.func.count()).select_from(chosen)).scalar_one())

    def _row(self, query: sa.Select[Any]) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else dict(row._mapping)


def retention_cutoff(now: datetime, days: int) -> datetime:
    """The moment before which rows are purged."""
    return now - timedelta(days=days)


def _observation_rows(batch: Sequence[Observation], texts: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """The rows of ``batch``, checked (:func:`check_observations`), each with its task's text when ``texts`` has it."""
    check_observations(batch)
    now, texts = utc_now(), texts or {}
    return [observation_row(item, text=texts.get(item.task_id), recorded_at=now) for item in batch]


def _require_decision(connection: sa.Connection, decision_id: str) -> None:
    query = sa.select(decisions.c.decision_id).where(decisions.c.decision_id == decision_id)
    if connection.execute(query).first() is None:
        raise UnknownDecisionError(
            f"decision_id: no decision {decision_id!r} in the outcome store (never issued, not recorded while the "
            "store was unavailable, or purged by retention)"
        )


def _create_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql" and importlib.util.find_spec("psycopg") is None:
        raise MissingExtraError(
            "a PostgreSQL outcome store needs psycopg, which is not installed here; "
            "install it with: pip install 'semroute[store]'"
        )
    connect_args = {
        "connect_timeout": POSTGRES_CONNECT_SECONDS,
        "options": f"-c statement_timeout={POSTGRES_STATEMENT_MS}",
    }
    return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def configure(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, nor it them
        cursor.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
        cursor.close()
        connection.isolation_level = None  # the driver emits no BEGIN of its own: begin() below does

    @sa.event.listens_for(engine, "begin")
    def begin(connection: sa.Connection) -> None:
        # A transaction that reads and then writes cannot wait for another writer's lock: once that writer commits,
        # its snapshot is stale and SQLite fails it at once (a report failed in 0.11 s behind a 0.3 s lock). Taking
        # the write lock at BEGIN makes the busy timeout apply. Readers keep a plain BEGIN and never block a writer.
        immediate = connection.get_execution_options().get(_WRITES, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
