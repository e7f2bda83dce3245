"""Reading the outcome store for a report: decisions in a time span, with their outcome and attempts.

Read-only: the report never migrates or writes the store. It refuses a store whose schema is newer than this
semroute knows, and a store that does not exist (an SQLite URL naming no file), rather than creating one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from semroute.errors import StoreError, StoreVersionError
from semroute.store import SCHEMA_VERSION, OutcomeDatabase, engine_url
from semroute.store._records import passed_validators_of
from semroute.store._schema import attempts, decisions, outcomes, stored_version
from semroute.types import Attempt, AttemptOutcome


@dataclass(frozen=True)
class DecisionRecord:
    """One decision and what its caller reported about executing it.

    Attributes:
        decision_id: The decision's id.
        decided_at: When the server decided (UTC, naive).
        route: The route (task type) chosen.
        model: The catalog name of the model chosen.
        chain: The decision's models: model, fallbacks, then cascade.
        accepted: The reported outcome: True or False; None when no outcome (or only a quality score) was reported.
        quality_score: 1-5, or None.
        attempts: Every model call reported, in order.
        choice_policy: How the starting model was chosen: ``static``, ``learned`` (``explored`` when exploration
            drew it, i.e. its choice probability is below one half).
    """

    decision_id: str
    decided_at: datetime
    route: str
    model: str
    chain: tuple[str, ...]
    accepted: bool | None
    quality_score: int | None
    attempts: tuple[Attempt, ...]
    choice_policy: str = "static"

    @property
    def completed(self) -> bool:
        """Whether an outcome (accepted or not) was reported: a completion."""
        return self.accepted is not None


def read_decisions(url: str, start: datetime, end: datetime) -> list[DecisionRecord]:
    """The decisions made in ``[start, end)`` in the store at ``url``, oldest first.

    Raises:
        StoreError: there is no store at ``url``, or it cannot be read.
        StoreVersionError: the store was written by a newer semroute.
    """
    _require_existing_sqlite(url)
    database = OutcomeDatabase(url)
    try:
        with database.engine.connect() as connection:
            _require_readable_version(connection, database.where)
            return list(_records(connection, start, end))
    except sa.exc.SQLAlchemyError as error:
        raise StoreError(f"cannot read the outcome store {database.where}: {error}") from error
    finally:
        database.close()


def _require_existing_sqlite(url: str) -> None:
    parsed = sa.make_url(engine_url(url))
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        raise StoreError(f"no outcome store at {parsed.database}: serve with a store first, or give --store")


def _require_readable_version(connection: sa.Connection, where: str) -> None:
    found = stored_version(connection)
    if found == 0:
        raise StoreError(f"{where} is not an outcome store (no semroute schema in it)")
    if found > SCHEMA_VERSION:
        raise StoreVersionError(
            f"the outcome store {where} has schema version {found}, written by a newer semroute; this one reads "
            f"versions up to {SCHEMA_VERSION}: upgrade semroute to report on it"
        )


def _records(connection: sa.Connection, start: datetime, end: datetime) -> Iterator[DecisionRecord]:
    in_span = sa.and_(decisions.c.decided_at >= start, decisions.c.decided_at < end)
    calls = _attempts_by_decision(connection, in_span)
    query = (
        sa.select(
            decisions.c.decision_id,
            decisions.c.decided_at,
            decisions.c.route,
            decisions.c.model,
            decisions.c.fallbacks,
            decisions.c.cascade,
            outcomes.c.accepted,
            outcomes.c.quality_score,
            decisions.c.choice_policy,
            decisions.c.choice_probability,
        )
        .select_from(decisions.outerjoin(outcomes, outcomes.c.decision_id == decisions.c.decision_id))
        .where(in_span)
        .order_by(decisions.c.decided_at, decisions.c.decision_id)
    )
    for row in connection.execute(query):
        yield DecisionRecord(
            decision_id=row.decision_id,
            decided_at=row.decided_at,
            route=row.route,
            model=row.model,
            chain=(row.model, *row.fallbacks, *row.cascade),
            accepted=row.accepted,
            quality_score=row.quality_score,
            attempts=tuple(calls.get(row.decision_id, ())),
            choice_policy=_choice(row.choice_policy, row.choice_probability),
        )


def _choice(policy: str | None, probability: float | None) -> str:
    if probability is not None and probability < 0.5:
        return "explored"
    return policy or "static"


def _attempts_by_decision(connection: sa.Connection, in_span: sa.ColumnElement[bool]) -> dict[str, list[Attempt]]:
    chosen = sa.select(decisions.c.decision_id).where(in_span)
    query = sa.select(attempts).where(attempts.c.decision_id.in_(chosen)).order_by(attempts.c.decision_id, "position")
    found: dict[str, list[Attempt]] = {}
    for row in connection.execute(query):
        found.setdefault(row.decision_id, []).append(_attempt(row._mapping))
    return found


def _attempt(row: Any) -> Attempt:
    return Attempt(
        model=row["model"],
        outcome=AttemptOutcome(row["outcome"]),
        latency_ms=row["latency_ms"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_usd=row["cost_usd"],
        validator=row["validator"],
        message=row["message"],
        error_class=row["error_class"],
        passed_validators=passed_validators_of(row["passed_validators"]),
    )
