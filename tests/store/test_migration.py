"""Migrations in place, against SQLite and a real PostgreSQL: a version-1 store holding rows reaches the current
schema with its rows intact, readable as observations, and the same columns as a store created new."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from semroute.features import STRUCTURAL_FEATURES
from semroute.learning.observations import Observation
from semroute.store import SCHEMA_VERSION, OutcomeDatabase, PendingDecision, utc_now
from semroute.store import _schema_v1 as v1
from semroute.store._records import attempt_rows, decision_row
from semroute.store._schema import schema_version
from semroute.types import Attempt, AttemptOutcome, OutcomeReport
from tests.store.conftest import new_postgres_database, pending_decision

TEXT = "fix the bug in utils.py and app.py?\n```\nx = 1\n```\n- keep the tests green"
ATTEMPTS = (
    Attempt("gpt-5-mini", AttemptOutcome.INVALID, 812.5, 120, 40, 0.0001, "json", "not JSON"),
    Attempt("gpt-5.2", AttemptOutcome.ACCEPTED, 1500.0, 120, 300, 0.0042),
)


def version_1_row(pending: PendingDecision) -> dict[str, Any]:
    """The decisions row a version-1 store holds (what decision_row wrote before version 2)."""
    row = decision_row(pending, store_text=False)
    for added in ("choice_policy", "choice_probability", "features"):
        del row[added]
    return {**row, "exploration_probability": None}


def write_version_1_store(url: str, pending: PendingDecision) -> None:
    """A store as the first release left it: migration 1 only, one decision with its outcome and attempts."""
    report = OutcomeReport(pending.decision.decision_id, ATTEMPTS, True, 5)
    database = OutcomeDatabase(url)
    with database.engine.begin() as connection:
        schema_version.create(connection)
        v1.create_tables(connection)
        connection.execute(sa.insert(schema_version).values(version=1))
        connection.execute(sa.insert(v1.decisions).values(version_1_row(pending)))
        outcome = {"decision_id": report.decision_id, "accepted": True, "quality_score": 5, "labels": {"team": "qa"}}
        connection.execute(sa.insert(v1.outcomes).values(reported_at=utc_now(), **outcome))
        connection.execute(sa.insert(v1.attempts), attempt_rows(report))
    database.close()


def columns(database: OutcomeDatabase, table: str) -> dict[str, tuple[str, bool]]:
    """Each column's generic type and nullability, as the database reports them."""
    found = sa.inspect(database.engine).get_columns(table)
    return {column["name"]: (type(column["type"]).__name__, column["nullable"]) for column in found}


@pytest.fixture
def migrated(store_url: str) -> Iterator[tuple[OutcomeDatabase, PendingDecision]]:
    """A version-1 store holding a decision, migrated to the current version."""
    pending = pending_decision(TEXT)
    write_version_1_store(store_url, pending)
    database = OutcomeDatabase(store_url)
    assert database.migrate() == 1
    yield database, pending
    database.close()


def test_a_version_1_store_keeps_its_rows(migrated: tuple[OutcomeDatabase, PendingDecision]) -> None:
    database, pending = migrated

    assert database.migrate() == SCHEMA_VERSION
    row = database.decision(pending.decision.decision_id)
    assert row is not None
    assert (row["route"], row["model"], row["file_paths"], row["has_code_block"]) == (
        "code_change",
        "claude-sonnet-4-6",
        2,
        True,
    )
    assert (row["choice_probability"], row["choice_policy"], row["features"]) == (None, None, None)
    assert "exploration_probability" not in row
    outcome = database.outcome(pending.decision.decision_id)
    assert outcome is not None and (outcome["quality_score"], outcome["labels"]) == (5, {"team": "qa"})
    assert [attempt["model"] for attempt in database.attempts(pending.decision.decision_id)] == [
        "gpt-5-mini",
        "gpt-5.2",
    ]


def test_decisions_recorded_before_version_2_are_read_as_observations(
    migrated: tuple[OutcomeDatabase, PendingDecision],
) -> None:
    database, pending = migrated

    found = database.observations()

    kept = {"estimated_tokens": 9.0, "has_code_block": 1.0, "file_paths": 2.0, "question_marks": 0.0}
    assert [(item.model, item.quality, item.propensity) for item in found] == [
        ("gpt-5-mini", 0.0, 1.0),
        ("gpt-5.2", 1.0, 1.0),
    ]
    assert dict(found[0].features) == {**kept, "instructions": 0.0}
    assert tuple(found[0].features) == STRUCTURAL_FEATURES
    assert found[0].task_id == hashlib.sha256(TEXT.encode()).hexdigest()
    np.testing.assert_allclose(found[1].embedding, pending.vector, atol=1e-3)


def test_a_migrated_store_takes_new_decisions_and_observations(
    migrated: tuple[OutcomeDatabase, PendingDecision],
) -> None:
    database, _ = migrated
    new = pending_decision("summarize this thread")
    imported = Observation(
        "t1", "summarization", "gpt-5-mini", 1.0, np.ones(4, dtype=np.float32) / 2, source="import:x"
    )

    with database.engine.begin() as connection:
        database.insert_decisions(connection, [decision_row(new, store_text=False)])
    database.insert_observations([imported])

    row = database.decision(new.decision.decision_id)
    assert row is not None and (row["choice_policy"], row["choice_probability"]) == ("static", 1.0)
    assert row["features"]["question_marks"] == 0.0
    assert database.observations(routes={"summarization"}) == [imported]


def test_a_migrated_store_has_the_columns_of_a_new_one(
    migrated: tuple[OutcomeDatabase, PendingDecision], store_url: str, request: pytest.FixtureRequest
) -> None:
    database, _ = migrated
    if store_url.startswith("sqlite"):
        fresh_url = store_url.replace("outcomes.db", "fresh.db")
    else:
        fresh_url = new_postgres_database(request.getfixturevalue("postgres_server"))
    fresh = OutcomeDatabase(fresh_url)
    assert fresh.migrate() == 0

    for table in ("decisions", "outcomes", "attempts", "observations"):
        assert columns(database, table) == columns(fresh, table), table
    indexes = sa.inspect(database.engine).get_indexes("observations")
    assert [(index["name"], index["column_names"]) for index in indexes] == [("ix_observations_route", ["route"])]
    fresh.close()
