"""Observations in the store, against SQLite and a real PostgreSQL: imported rows kept and replaced, texts only when
given, and served attempts read back as observations."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from semroute.features import structural_features
from semroute.learning.observations import Observation
from semroute.store import OutcomeDatabase, PendingDecision, utc_now
from semroute.store._records import decision_row
from semroute.store._schema import decisions
from semroute.store._schema import observations as observations_table
from semroute.types import Attempt, AttemptOutcome, OutcomeReport, QualityReport
from tests.store.conftest import DIMENSION, pending_decision

SERVED_ATTEMPTS = (
    Attempt("gpt-5-mini", AttemptOutcome.INVALID, 812.5, 120, 40, 0.0001, "json", "not JSON: line 1"),
    Attempt("claude-sonnet-4-6", AttemptOutcome.PROVIDER_ERROR, 95.0, message="429", error_class="RateLimitError"),
    Attempt("gpt-5.2", AttemptOutcome.ACCEPTED, 1500.0, 120, 300, 0.0042, passed_validators=("json",)),
)


def unit_vector(seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    vector = np.random.default_rng(seed).standard_normal(DIMENSION).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def observation(task_id: str, model: str, quality: float, **fields: Any) -> Observation:
    values: dict[str, Any] = {
        "route": "code_change",
        "embedding": unit_vector(len(task_id) + len(model)),
        "features": structural_features(f"task {task_id}? fix utils.py"),
        "source": "import:bench.csv",
        **fields,
    }
    return Observation(task_id=task_id, model=model, quality=quality, **values)


def stored_texts(database: OutcomeDatabase) -> dict[tuple[str, str], str | None]:
    query = sa.select(observations_table.c.task_id, observations_table.c.model, observations_table.c.text)
    with database.engine.connect() as connection:
        return {(row.task_id, row.model): row.text for row in connection.execute(query)}


def sha256_of(pending: PendingDecision) -> str:
    return hashlib.sha256(pending.request.text.encode()).hexdigest()


def record_served(database: OutcomeDatabase, pending: PendingDecision, report: OutcomeReport | None) -> None:
    """Write a decision and its outcome through the store's own functions."""
    with database.engine.begin() as connection:
        database.insert_decisions(connection, [decision_row(pending, store_text=False)])
        if report is not None:
            database.write_outcome(connection, report, utc_now())


def test_observations_round_trip(database: OutcomeDatabase) -> None:
    written = [
        observation("a", "gpt-5-mini", 0.0, cost_usd=0.0001, input_tokens=120, output_tokens=40, latency_ms=800.0),
        observation("a", "gpt-5.2", 1.0, cost_usd=0.004),
        observation("b", "gpt-5.2", 0.75, route="summarization", propensity=0.5),
    ]

    assert database.insert_observations(written) == 3

    found = database.observations()
    assert found == written  # every field but the embedding, in (source, task, model) order
    for stored, original in zip(found, written, strict=True):
        assert stored.embedding.dtype == np.float32
        np.testing.assert_allclose(stored.embedding, original.embedding, atol=1e-3)
        assert stored.features == original.features
    assert stored_texts(database) == {("a", "gpt-5-mini"): None, ("a", "gpt-5.2"): None, ("b", "gpt-5.2"): None}


def test_importing_the_same_source_again_replaces_its_rows(database: OutcomeDatabase) -> None:
    database.insert_observations([observation("a", "gpt-5-mini", 0.0), observation("a", "gpt-5.2", 1.0)])
    other_source = observation("a", "gpt-5-mini", 0.25, source="import:other.csv")
    database.insert_observations([other_source])

    assert database.insert_observations([observation("a", "gpt-5-mini", 1.0, cost_usd=0.002)]) == 1

    found = {(item.source, item.model): item for item in database.observations()}
    assert len(found) == 3 and database.count("observations") == 3
    assert (found["import:bench.csv", "gpt-5-mini"].quality, found["import:bench.csv", "gpt-5-mini"].cost_usd) == (
        1.0,
        0.002,
    )
    assert found["import:bench.csv", "gpt-5.2"].quality == 1.0
    assert found["import:other.csv", "gpt-5-mini"].quality == 0.25


def test_a_text_is_stored_only_for_the_task_ids_given(database: OutcomeDatabase) -> None:
    batch = [observation("a", "gpt-5-mini", 0.0), observation("a", "gpt-5.2", 1.0), observation("b", "gpt-5.2", 1.0)]

    database.insert_observations(batch, texts={"a": "fix the bug in utils.py", "c": "never observed"})

    assert stored_texts(database) == {
        ("a", "gpt-5-mini"): "fix the bug in utils.py",
        ("a", "gpt-5.2"): "fix the bug in utils.py",
        ("b", "gpt-5.2"): None,
    }


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (observation("a", "gpt-5.2", 1.5), r"observations\[1\] \(task 'a', model 'gpt-5.2'\): quality must be"),
        (observation("a", "gpt-5.2", 1.0, propensity=0.0), r"propensity must be above 0"),
        (observation("x" * 129, "gpt-5.2", 1.0), r"task_id is 129 characters, over the store's limit of 128"),
        (observation("a", "gpt-5.2", 1.0, route=""), r"route must be a non-empty string"),
        (observation("a", "gpt-5.2", 1.0, cost_usd=-1.0), r"cost_usd must not be negative"),
        (observation("a", "gpt-5.2", 1.0, features={"file_paths": float("nan")}), r"features\['file_paths'\]"),
        (observation("a", "gpt-5-mini", 1.0), r"observations\[1\] .*: the same source, task and model as obs"),
    ],
)
def test_an_observation_that_does_not_fit_is_refused_and_nothing_is_written(
    database: OutcomeDatabase, bad: Observation, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        database.insert_observations([observation("a", "gpt-5-mini", 0.0), bad])

    assert database.count("observations") == 0


def test_served_attempts_become_observations(database: OutcomeDatabase) -> None:
    pending = pending_decision("fix the bug in utils.py and app.py?\n```\nx = 1\n```")
    record_served(database, pending, OutcomeReport(pending.decision.decision_id, SERVED_ATTEMPTS, True))

    found = database.observations()

    task_id, features = sha256_of(pending), structural_features(pending.request.text)
    served = {"route": "code_change", "embedding": pending.vector, "features": features, "source": "served"}
    assert found == [  # the provider error in between says nothing about quality
        Observation(
            task_id,
            model="gpt-5-mini",
            quality=0.0,
            cost_usd=0.0001,
            input_tokens=120,
            output_tokens=40,
            latency_ms=812.5,
            **served,
        ),
        Observation(
            task_id,
            model="gpt-5.2",
            quality=1.0,
            cost_usd=0.0042,
            input_tokens=120,
            output_tokens=300,
            latency_ms=1500.0,
            **served,
        ),
    ]
    for item in found:
        np.testing.assert_allclose(item.embedding, pending.vector, atol=1e-3)
    assert found[0].features["has_code_block"] == 1.0 and found[0].features["question_marks"] == 1.0


def test_a_served_quality_score_grades_the_accepted_attempt(database: OutcomeDatabase) -> None:
    pending = pending_decision()
    record_served(database, pending, OutcomeReport(pending.decision.decision_id, SERVED_ATTEMPTS, True, 4))
    with database.engine.begin() as connection:  # a later score replaces the reported one
        database.write_quality(connection, QualityReport(pending.decision.decision_id, 2), utc_now())

    found = {item.model: item.quality for item in database.observations()}

    assert found == {"gpt-5-mini": 0.0, "gpt-5.2": 0.25}


def test_served_propensity_is_the_decisions_choice_probability(database: OutcomeDatabase) -> None:
    explored = pending_decision("explored task")
    learned = replace(explored.decision, choice_policy="learned", choice_probability=0.25)
    explored = replace(explored, decision=learned)
    unknown = pending_decision("recorded before choice policies")
    accepted = (Attempt("gpt-5-mini", AttemptOutcome.ACCEPTED, 300.0, 10, 10, 0.00001, passed_validators=("regex",)),)
    for pending in (explored, unknown):
        record_served(database, pending, OutcomeReport(pending.decision.decision_id, accepted, True))
    with database.engine.begin() as connection:  # as a decision recorded before version 2 has it
        unknown_id = unknown.decision.decision_id
        connection.execute(
            sa.update(decisions).where(decisions.c.decision_id == unknown_id).values(choice_probability=None)
        )

    found = {item.task_id: item.propensity for item in database.observations()}

    assert found == {sha256_of(explored): 0.25, sha256_of(unknown): 1.0}
    row = database.decision(explored.decision.decision_id)
    assert row is not None and (row["choice_policy"], row["choice_probability"]) == ("learned", 0.25)


def test_decisions_without_attempts_give_no_observations(database: OutcomeDatabase) -> None:
    unreported, scored_only, failed = pending_decision("a"), pending_decision("bb"), pending_decision("ccc")
    record_served(database, unreported, None)
    record_served(database, scored_only, None)
    with database.engine.begin() as connection:
        database.write_quality(connection, QualityReport(scored_only.decision.decision_id, 5), utc_now())
    provider_errors = (SERVED_ATTEMPTS[1],)
    record_served(database, failed, OutcomeReport(failed.decision.decision_id, provider_errors, False))

    assert database.observations() == []


def test_observations_are_filtered_by_route_and_time(database: OutcomeDatabase) -> None:
    database.insert_observations([observation("a", "gpt-5.2", 1.0), observation("b", "gpt-5.2", 1.0, route="general")])
    old = pending_decision("an old served task", route="general")
    old = PendingDecision(old.decision, old.request, old.vector, old.request_id, utc_now() - timedelta(days=3))
    recent = pending_decision("a recent served task", route="code_change")
    for pending in (old, recent):
        record_served(database, pending, OutcomeReport(pending.decision.decision_id, SERVED_ATTEMPTS[2:], True))

    def found(**filters: Any) -> list[tuple[str, str]]:
        return sorted((item.source, item.route) for item in database.observations(**filters))

    assert found(routes={"general"}) == [("import:bench.csv", "general"), ("served", "general")]
    assert found(since=utc_now() - timedelta(days=1)) == [
        ("import:bench.csv", "code_change"),
        ("import:bench.csv", "general"),
        ("served", "code_change"),
    ]
    assert found(routes=["summarization"]) == []
    assert found(since=utc_now() + timedelta(hours=1)) == []
