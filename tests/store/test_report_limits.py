"""Reports over a limit, against SQLite and a real PostgreSQL: each is refused naming its field, nothing of it is
written, and the reports committed beside it are not lost (on PostgreSQL such a row used to fail its whole batch)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest

from semroute.errors import RecordLimitError, RequestError
from semroute.limits import MAX_LABELS, MAX_TOKENS
from semroute.store import OutcomeStore
from semroute.types import Attempt, AttemptOutcome, OutcomeReport, QualityReport
from tests.store.conftest import pending_decision

OpenStore = Callable[..., OutcomeStore]
ATTEMPT = Attempt("gpt-5-mini", AttemptOutcome.ACCEPTED, 812.5, 120, 40, 0.0001, passed_validators=("json",))
COMMIT_SECONDS = 10


def over_limit(decision_id: str) -> list[tuple[OutcomeReport | QualityReport, str]]:
    """Reports of ``decision_id`` with one field over a limit each, and the field each must be refused for."""

    def attempt(**fields: Any) -> OutcomeReport:
        return OutcomeReport(decision_id, (ATTEMPT, dataclasses.replace(ATTEMPT, **fields)), True)

    return [
        (OutcomeReport(decision_id + "\x00", (ATTEMPT,), True), "decision_id"),
        (OutcomeReport("d" * 65, (ATTEMPT,), True), "decision_id"),
        (OutcomeReport(decision_id, (ATTEMPT,) * 33, True), "attempts"),
        (attempt(model="m" * 1_000_000), "attempts[1].model"),
        (attempt(model="gpt-5\x00mini"), "attempts[1].model"),
        (attempt(validator="v" * 65), "attempts[1].validator"),
        (attempt(validator="=HYPERLINK(\x00)"), "attempts[1].validator"),
        (attempt(error_class="E" * 129), "attempts[1].error_class"),
        (attempt(message="provider said \x00"), "attempts[1].message"),
        (attempt(latency_ms=math.inf), "attempts[1].latency_ms"),
        (attempt(latency_ms=math.nan), "attempts[1].latency_ms"),
        (attempt(cost_usd=1e308), "attempts[1].cost_usd"),
        (attempt(input_tokens=2**63 - 1), "attempts[1].input_tokens"),
        (attempt(output_tokens=MAX_TOKENS + 1), "attempts[1].output_tokens"),
        (attempt(passed_validators=("json",) * 33), "attempts[1].passed_validators"),
        (OutcomeReport(decision_id, (ATTEMPT,), True, 6), "quality_score"),
        (OutcomeReport(decision_id, (ATTEMPT,), True, None, {"team": "\x00"}), "labels[team]"),
        (OutcomeReport(decision_id, (ATTEMPT,), True, None, {f"k{i}": "v" for i in range(33)}), "labels"),
        (QualityReport(decision_id, 0), "score"),
        (QualityReport(decision_id, 3, {"bad key": "v"}), "labels"),
        (QualityReport(decision_id, 3, {"reviewer": "r" * 257}), "labels[reviewer]"),
    ]


def submit(store: OutcomeStore, report: OutcomeReport | QualityReport) -> Future[None]:
    if isinstance(report, OutcomeReport):
        return store.report_outcome(report)
    return store.report_quality(report)


def refused_field(future: Future[None]) -> str:
    """The field a report was refused for."""
    with pytest.raises(RequestError) as caught:
        future.result(timeout=COMMIT_SECONDS)
    return caught.value.field


def test_a_report_over_any_limit_is_refused_alone_and_writes_nothing(open_store: OpenStore) -> None:
    store = open_store(store_text=True)
    pending = pending_decision()
    store.record_decisions([pending])
    decision_id = pending.decision.decision_id
    store.report_outcome(OutcomeReport(decision_id, (ATTEMPT,), True, 4, {"team": "qa"})).result(COMMIT_SECONDS)
    bad = over_limit(decision_id)

    # queued together: the writer commits them in one batch, each report in a savepoint of its own
    futures = [submit(store, report) for report, _ in bad]
    later = pending_decision("summarize this article")
    store.record_decisions([later])
    valid = store.report_quality(QualityReport(later.decision.decision_id, 5, {"reviewer": "ana"}))

    assert [refused_field(future) for future in futures] == [field for _, field in bad]
    valid.result(timeout=COMMIT_SECONDS)
    outcome = store.database.outcome(decision_id)
    assert outcome is not None
    assert (outcome["accepted"], outcome["quality_score"], outcome["labels"]) == (True, 4, {"team": "qa"})
    assert [row["model"] for row in store.database.attempts(decision_id)] == ["gpt-5-mini"]
    assert store.database.outcome(later.decision.decision_id)["labels"] == {"reviewer": "ana"}  # type: ignore[index]
    assert store.database.count("outcomes") == 2
    stats = store.stats()
    assert (stats.store_errors, stats.decisions_dropped, stats.outcomes_recorded) == (0, 0, 2)


def test_labels_stop_at_the_limit_per_decision_across_reports(open_store: OpenStore) -> None:
    """200 ReportQuality calls of one new label each left 6,400 keys on one row; now the 33rd key is refused."""
    store = open_store()
    pending = pending_decision()
    store.record_decisions([pending])
    decision_id = pending.decision.decision_id
    store.report_outcome(OutcomeReport(decision_id, (ATTEMPT,), True, None, {"team": "qa"})).result(COMMIT_SECONDS)

    futures = [store.report_quality(QualityReport(decision_id, 3, {f"key{i}": "v"})) for i in range(40)]

    for future in futures[: MAX_LABELS - 1]:
        future.result(timeout=COMMIT_SECONDS)
    for future in futures[MAX_LABELS - 1 :]:
        with pytest.raises(RecordLimitError, match="^labels: would give the decision 33 labels"):
            future.result(timeout=COMMIT_SECONDS)
    outcome = store.database.outcome(decision_id)
    assert outcome is not None and len(outcome["labels"]) == MAX_LABELS
    assert outcome["labels"]["team"] == "qa"


def test_a_full_decision_still_takes_reports_that_add_no_label(open_store: OpenStore) -> None:
    store = open_store()
    pending = pending_decision()
    store.record_decisions([pending])
    decision_id = pending.decision.decision_id
    labels = {f"key{i}": "v" for i in range(MAX_LABELS)}
    store.report_quality(QualityReport(decision_id, 2, labels)).result(COMMIT_SECONDS)

    refused = store.report_outcome(OutcomeReport(decision_id, (ATTEMPT,), False, None, {"one_more": "v"}))
    store.report_outcome(OutcomeReport(decision_id, (ATTEMPT,), True, None, {"key0": "w"})).result(COMMIT_SECONDS)
    store.report_quality(QualityReport(decision_id, 5)).result(COMMIT_SECONDS)

    assert refused_field(refused) == "labels"
    outcome = store.database.outcome(decision_id)
    assert outcome is not None
    assert (outcome["accepted"], outcome["quality_score"]) == (True, 5)
    assert outcome["labels"] == {**labels, "key0": "w"}
