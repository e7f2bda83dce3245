"""A decision a rule constrained (sovereign data...) is stored without its embedding unless the operator keeps those,
against SQLite and a real PostgreSQL; learning skips such decisions, and schema version 4 lets the column be NULL in a
store that was made before it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from semroute.cli import main
from semroute.store import MIGRATIONS, SCHEMA_VERSION, OutcomeDatabase, OutcomeStore, PendingDecision, StoreSettings
from semroute.store._records import decision_row
from semroute.store._schema import decisions, schema_version
from semroute.types import Attempt, AttemptOutcome, OutcomeReport
from tests.store.conftest import pending_decision

OpenStore = Callable[..., OutcomeStore]
JUDGED = (
    Attempt("qwen3.5-397b-self-hosted", AttemptOutcome.ACCEPTED, 900.0, 80, 40, 0.0, passed_validators=("json",)),
)


def constrained(text: str = "review this NDA: ACME-GLOBEX CONFIDENTIAL terms") -> PendingDecision:
    """A decision a sovereignty rule restricted to the self-hosted model."""
    pending = pending_decision(text, route="contract_review")
    decision = dataclasses.replace(
        pending.decision, allowed_models=("qwen3.5-397b-self-hosted",), constraint_rules=("sovereign-data",)
    )
    return dataclasses.replace(pending, decision=decision)


@pytest.mark.parametrize("keep", [False, True])
def test_the_row_of_a_constrained_decision_has_an_embedding_only_when_kept(keep: bool) -> None:
    plain = decision_row(pending_decision(), store_text=False, keep_constrained_embeddings=keep)
    restricted = decision_row(constrained(), store_text=False, keep_constrained_embeddings=keep)

    assert plain["embedding"] is not None
    assert (restricted["embedding"] is not None) is keep
    assert restricted["text_sha256"] and restricted["features"]  # the rest of the row is kept either way


def test_by_default_a_constrained_decision_is_stored_without_its_embedding(open_store: OpenStore) -> None:
    store = open_store()
    free, restricted = pending_decision("summarize this thread"), constrained()
    store.record_decisions([free, restricted])

    for pending in (free, restricted):  # the report waits for the decisions' commit, and learning reads both
        store.report_outcome(OutcomeReport(pending.decision.decision_id, JUDGED, True, 5)).result(timeout=30)

    stored = store.database.decision(restricted.decision.decision_id)
    assert stored is not None and stored["embedding"] is None and stored["route"] == "contract_review"
    kept = store.database.decision(free.decision.decision_id)
    assert kept is not None and kept["embedding"] is not None
    observations = store.database.observations()  # learning reads these: the decision without a vector is skipped
    assert [item.task_id for item in observations] == [kept["text_sha256"]]


def test_the_operator_may_keep_constrained_embeddings(open_store: OpenStore) -> None:
    store = open_store(keep_constrained_embeddings=True)
    restricted = constrained()
    store.record_decisions([restricted])

    store.report_outcome(OutcomeReport(restricted.decision.decision_id, JUDGED, True, 5)).result(timeout=30)

    stored = store.database.decision(restricted.decision.decision_id)
    assert stored is not None
    np.testing.assert_allclose(np.frombuffer(stored["embedding"], dtype="<f2"), restricted.vector, atol=1e-3)
    assert len(store.database.observations()) == 1


def write_version_3_store(url: str, pending: PendingDecision) -> None:
    """A store as version 3 left it (migrations 1-3, embedding NOT NULL), holding one decision."""
    database = OutcomeDatabase(url)
    with database.engine.begin() as connection:
        schema_version.create(connection)
        for step in MIGRATIONS[:3]:
            step.apply(connection)
        connection.execute(sa.insert(schema_version).values(version=3))
        connection.execute(sa.insert(decisions).values(decision_row(pending, store_text=True)))
    database.close()


def indexes(database: OutcomeDatabase) -> list[tuple[Any, Any]]:
    found = sa.inspect(database.engine).get_indexes("decisions")
    return sorted((index["name"], index["column_names"]) for index in found)


def test_a_version_3_store_takes_decisions_without_embeddings(store_url: str, tmp_path: Any) -> None:
    assert SCHEMA_VERSION >= 4
    earlier = pending_decision("recorded by version 3")
    write_version_3_store(store_url, earlier)
    database = OutcomeDatabase(store_url)
    nullable = {column["name"]: column["nullable"] for column in sa.inspect(database.engine).get_columns("decisions")}
    assert nullable["embedding"] is False

    assert database.migrate() == 3

    row = database.decision(earlier.decision.decision_id)
    assert row is not None and row["text"] == "recorded by version 3" and row["embedding"] is not None
    restricted = constrained()
    with database.writes.begin() as connection:
        database.insert_decisions(connection, [decision_row(restricted, store_text=False)])
    assert database.decision(restricted.decision.decision_id)["embedding"] is None  # type: ignore[index]
    assert indexes(database) == [("ix_decisions_decided_at", ["decided_at"]), ("ix_decisions_route", ["route"])]
    assert "decisions_before_v4" not in sa.inspect(database.engine).get_table_names()
    database.close()


def test_serve_passes_the_setting_to_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    served: list[Any] = []
    monkeypatch.setattr("semroute.service.serve", served.append)
    monkeypatch.setattr("semroute.service.configure_logging", lambda level: None)
    store = f"sqlite:///{tmp_path / 'outcomes.db'}"

    for flags in ([], ["--keep-constrained-embeddings"]):
        result = CliRunner().invoke(main, ["serve", "--store", store, "--max-reports-per-caller", "2", *flags])
        assert result.exit_code == 0, result.output

    assert [config.store for config in served] == [
        StoreSettings(store),
        StoreSettings(store, keep_constrained_embeddings=True),
    ]
    assert [config.max_reports_per_caller for config in served] == [2, 2]
