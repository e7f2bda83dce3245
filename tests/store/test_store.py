"""The outcome store against SQLite and a real PostgreSQL: schema, decisions, outcomes, quality, retention."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa

from semroute.errors import StoreVersionError, UnknownDecisionError
from semroute.features import structural_features
from semroute.store import SCHEMA_VERSION, OutcomeDatabase, OutcomeStore, utc_now
from semroute.store._schema import schema_version
from semroute.types import Attempt, AttemptOutcome, OutcomeReport, QualityReport
from tests.service.conftest import wait_until
from tests.store.conftest import pending_decision

OpenStore = Callable[..., OutcomeStore]
ATTEMPTS = (
    Attempt("gpt-5-mini", AttemptOutcome.INVALID, 812.5, 120, 40, 0.0001, "json", "not JSON: line 1"),
    Attempt("claude-sonnet-4-6", AttemptOutcome.PROVIDER_ERROR, 95.0, message="429", error_class="RateLimitError"),
    Attempt("gpt-5.2", AttemptOutcome.ACCEPTED, 1500.0, 120, 300, 0.0042),
)


def recorded(store: OutcomeStore, count: int) -> None:
    wait_until(lambda: store.stats().decisions_recorded >= count, f"{count} decisions recorded")


def test_a_new_store_is_migrated_to_the_current_version(open_store: OpenStore, store_url: str) -> None:
    open_store()

    database = OutcomeDatabase(store_url)
    assert database.migrate() == SCHEMA_VERSION  # the second time: nothing left to do
    assert {"decisions", "outcomes", "attempts", "observations", "semroute_schema"} <= set(
        sa.inspect(database.engine).get_table_names()
    )
    database.close()


def test_a_store_written_by_a_newer_version_is_refused(open_store: OpenStore, store_url: str) -> None:
    open_store()
    database = OutcomeDatabase(store_url)
    with database.engine.begin() as connection:
        connection.execute(sa.update(schema_version).values(version=SCHEMA_VERSION + 1))
    database.close()

    with pytest.raises(StoreVersionError, match=rf"schema version {SCHEMA_VERSION + 1}, written by a newer semroute"):
        open_store()


def test_a_decision_is_stored_without_its_text_by_default(open_store: OpenStore) -> None:
    store = open_store()
    pending = pending_decision("fix the bug in utils.py and app.py\n```\nx = 1\n```")

    store.record_decisions([pending])
    recorded(store, 1)

    row = store.database.decision(pending.decision.decision_id)
    assert row is not None
    assert row["text"] is None
    assert row["text_sha256"] == hashlib.sha256(pending.request.text.encode()).hexdigest()
    assert row["text_chars"] == len(pending.request.text)
    assert (row["route"], row["model"]) == ("code_change", "claude-sonnet-4-6")
    assert (row["cascade"], row["fallbacks"]) == (["gpt-5-mini", "claude-sonnet-4-6"], ["gpt-5.2"])
    assert row["candidates"][0] == {"route": "code_change", "score": 0.8, "signals": {"neighbour": 0.7}}
    assert (row["file_paths"], row["has_code_block"], row["estimated_tokens"]) == (2, True, 9)
    assert (row["choice_policy"], row["choice_probability"]) == ("static", 1.0)
    assert row["features"] == structural_features(pending.request.text)
    vector = np.frombuffer(row["embedding"], dtype="<f2")
    np.testing.assert_allclose(vector, pending.vector, atol=1e-3)


def test_the_text_is_stored_when_asked(open_store: OpenStore) -> None:
    store = open_store(store_text=True)
    pending = pending_decision()

    store.record_decisions([pending])
    recorded(store, 1)

    row = store.database.decision(pending.decision.decision_id)
    assert row is not None and row["text"] == pending.request.text


def test_an_outcome_is_committed_when_its_future_resolves(open_store: OpenStore) -> None:
    store = open_store()
    pending = pending_decision()
    store.record_decisions([pending])
    decision_id = pending.decision.decision_id

    # no wait for the decision: the writer commits it before the report that follows it
    store.report_outcome(OutcomeReport(decision_id, ATTEMPTS, True, 4, {"team": "qa"})).result(timeout=10)

    outcome = store.database.outcome(decision_id)
    assert outcome is not None
    assert (outcome["accepted"], outcome["quality_score"], outcome["labels"]) == (True, 4, {"team": "qa"})
    rows = store.database.attempts(decision_id)
    assert [(row["position"], row["model"], row["outcome"]) for row in rows] == [
        (0, "gpt-5-mini", "invalid"),
        (1, "claude-sonnet-4-6", "provider_error"),
        (2, "gpt-5.2", "accepted"),
    ]
    assert (rows[0]["validator"], rows[1]["error_class"], rows[2]["output_tokens"]) == ("json", "RateLimitError", 300)
    assert rows[2]["cost_usd"] == pytest.approx(0.0042)
    assert store.stats().outcomes_recorded == 1


def test_reporting_again_replaces_the_outcome(open_store: OpenStore) -> None:
    store = open_store()
    pending = pending_decision()
    store.record_decisions([pending])
    decision_id = pending.decision.decision_id

    store.report_outcome(OutcomeReport(decision_id, ATTEMPTS, True)).result(timeout=10)
    store.report_outcome(OutcomeReport(decision_id, ATTEMPTS[:1], False)).result(timeout=10)

    assert store.database.outcome(decision_id)["accepted"] is False  # type: ignore[index]
    assert len(store.database.attempts(decision_id)) == 1


def test_a_score_given_before_the_outcome_arrives_is_kept(open_store: OpenStore) -> None:
    """complete() sends its outcome in the background, so a report_quality right after it usually lands first: the
    late outcome used to wipe the score and the reviewer's labels (10 of 10 times, probing README's own example)."""
    store = open_store()
    pending = pending_decision()
    store.record_decisions([pending])
    decision_id = pending.decision.decision_id

    store.report_quality(QualityReport(decision_id, 5, {"reviewer": "ana"})).result(timeout=10)
    store.report_outcome(OutcomeReport(decision_id, ATTEMPTS, True, None, {"team": "qa"})).result(timeout=10)

    outcome = store.database.outcome(decision_id)
    assert outcome is not None and (outcome["quality_score"], outcome["accepted"]) == (5, True)
    assert outcome["labels"] == {"reviewer": "ana", "team": "qa"} and outcome["scored_at"] is not None
    store.report_outcome(OutcomeReport(decision_id, ATTEMPTS, True, 3)).result(timeout=10)  # a score of its own wins
    assert store.database.outcome(decision_id)["quality_score"] == 3  # type: ignore[index]


def test_an_outcome_of_an_unknown_decision_is_refused_alone(open_store: OpenStore) -> None:
    store = open_store()
    pending = pending_decision()
    store.record_decisions([pending])
    unknown = store.report_outcome(OutcomeReport("0" * 32, ATTEMPTS, True))
    known = store.report_outcome(OutcomeReport(pending.decision.decision_id, ATTEMPTS, True))

    with pytest.raises(UnknownDecisionError, match="decision_id: no decision '0000"):
        unknown.result(timeout=10)
    known.result(timeout=10)
    assert store.database.count("outcomes") == 1


def test_a_quality_score_updates_the_outcome_and_merges_labels(open_store: OpenStore) -> None:
    store = open_store()
    pending = pending_decision()
    store.record_decisions([pending])
    decision_id = pending.decision.decision_id
    store.report_outcome(OutcomeReport(decision_id, ATTEMPTS, True, None, {"team": "qa", "env": "dev"})).result(10)

    store.report_quality(QualityReport(decision_id, 2, {"env": "prod", "reviewer": "ana"})).result(timeout=10)

    outcome = store.database.outcome(decision_id)
    assert outcome is not None
    assert outcome["quality_score"] == 2 and outcome["accepted"] is True
    assert outcome["labels"] == {"team": "qa", "env": "prod", "reviewer": "ana"}
    assert outcome["scored_at"] is not None


def test_a_quality_score_alone_makes_an_outcome_row(open_store: OpenStore) -> None:
    store = open_store()
    pending = pending_decision()
    store.record_decisions([pending])

    store.report_quality(QualityReport(pending.decision.decision_id, 5)).result(timeout=10)

    outcome = store.database.outcome(pending.decision.decision_id)
    assert outcome is not None and (outcome["quality_score"], outcome["accepted"]) == (5, None)


def test_a_decision_recorded_by_another_replica_is_found(open_store: OpenStore) -> None:
    replica_a, replica_b = open_store(), open_store()
    pending = pending_decision()
    replica_a.record_decisions([pending])
    recorded(replica_a, 1)

    replica_b.report_outcome(OutcomeReport(pending.decision.decision_id, ATTEMPTS, True)).result(timeout=10)

    assert replica_a.database.outcome(pending.decision.decision_id) is not None


def test_retention_purges_old_decisions_with_their_outcomes(open_store: OpenStore) -> None:
    store = open_store(retention_days=1000)  # the writer's own purge must leave the old decision to this test
    old, recent = pending_decision("old task"), pending_decision("recent task")
    old = type(old)(old.decision, old.request, old.vector, old.request_id, utc_now() - timedelta(days=91))
    store.record_decisions([old, recent])
    for pending in (old, recent):
        store.report_outcome(OutcomeReport(pending.decision.decision_id, ATTEMPTS, True)).result(timeout=10)

    purged = store.database.purge(utc_now() - timedelta(days=90))

    assert purged == 1
    assert store.database.decision(old.decision.decision_id) is None
    assert store.database.outcome(old.decision.decision_id) is None
    assert store.database.attempts(old.decision.decision_id) == []
    assert store.database.decision(recent.decision.decision_id) is not None
    assert len(store.database.attempts(recent.decision.decision_id)) == 3


def test_a_full_queue_drops_decisions_and_counts_them(open_store: OpenStore) -> None:
    store = open_store(queue_decisions=1, queue_chars=10_000)
    batch = [pending_decision(f"task number {n}") for n in range(200)]

    store.record_decisions(batch)  # one fits; the writer may take it before the next few arrive
    wait_until(lambda: store.stats().decisions_recorded + store.stats().decisions_dropped == 200, "all counted")

    assert store.stats().decisions_dropped > 0
