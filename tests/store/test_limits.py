"""The write-path limits (semroute.limits) as plain checks: what each refuses, the field it names, and that every
string limit fits the column that stores it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from semroute import limits
from semroute.errors import RecordLimitError, RequestError
from semroute.service._errors import status_for
from semroute.service._interceptors import _CLIENT_REQUEST_ID
from semroute.store import validate_outcome_report, validate_quality_report
from semroute.store._schema import attempts, decisions, outcomes
from semroute.types import Attempt, AttemptOutcome, OutcomeReport, QualityReport

GOOD_ATTEMPT = Attempt(
    "gpt-5-mini", AttemptOutcome.INVALID, 812.5, 120, 40, 0.0001, "json", "line 1\n\tnot JSON", "", ("max_chars",)
)
GOOD_REPORT = OutcomeReport("a" * 32, (GOOD_ATTEMPT,), False, 3, {"team": "qa"})
NO_NUMBER = (math.inf, -math.inf, math.nan, 1e308, -1.0)


def column_length(column: sa.Column[Any]) -> int:
    length = column.type.length  # type: ignore[attr-defined]
    assert isinstance(length, int)
    return length


@pytest.mark.parametrize(
    ("limit", "column"),
    [
        (limits.MAX_DECISION_ID_CHARS, decisions.c.decision_id),
        (limits.MAX_DECISION_ID_CHARS, outcomes.c.decision_id),
        (limits.MAX_DECISION_ID_CHARS, attempts.c.decision_id),
        (limits.MAX_MODEL_NAME_CHARS, attempts.c.model),
        (limits.MAX_MODEL_NAME_CHARS, decisions.c.model),
        (limits.MAX_VALIDATOR_CHARS, attempts.c.validator),
        (limits.MAX_ERROR_CLASS_CHARS, attempts.c.error_class),
    ],
)
def test_each_string_limit_fits_its_column(limit: int, column: sa.Column[Any]) -> None:
    assert limit <= column_length(column), f"{column.table.name}.{column.name}"


def test_a_client_request_id_fits_its_column() -> None:
    longest = column_length(decisions.c.request_id)

    assert _CLIENT_REQUEST_ID.fullmatch("r" * longest)
    assert not _CLIENT_REQUEST_ID.fullmatch("r" * (longest + 1))  # replaced by the server's own id


def test_token_sums_stay_exact() -> None:
    assert limits.MAX_TOKENS * 1_000_000 < 2**53  # a million calls' tokens: exact as a float, far from BIGINT's end


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("x" * 129, "129 characters, over the limit of 128"),
        ("gpt\x00", "control character '\\x00' at position 3"),
        ("gpt-5\n", "control character '\\n'"),
        ("\x1b[31mred", "control character '\\x1b'"),
        ("del\x7f", "control character '\\x7f'"),
        ("next\x85line", "control character '\\x85'"),
        (" ", "must not be empty"),
    ],
)
def test_a_name_is_bounded_printable_and_present(value: str, reason: str) -> None:
    with pytest.raises(RequestError, match="^attempts\\[2\\].model: ") as caught:
        limits.check_name("attempts[2].model", value, limits.MAX_MODEL_NAME_CHARS, required=True)
    assert reason in caught.value.reason


def test_names_of_any_script_up_to_the_limit_pass() -> None:
    limits.check_name("model", "qwen3.5-397b-self-hosted", limits.MAX_MODEL_NAME_CHARS, required=True)
    limits.check_name("model", ("模型-ü-🚀" * 22)[:128], limits.MAX_MODEL_NAME_CHARS)
    limits.check_name("validator", "", limits.MAX_VALIDATOR_CHARS)  # optional: empty is fine


def test_text_may_hold_anything_but_nul() -> None:
    limits.check_text("message", "line 1\r\n\tline 2 \x1b é" * 1000)
    with pytest.raises(RequestError, match=r"^message: holds a NUL character \(at position 4\)"):
        limits.check_text("message", "oops\x00")


@pytest.mark.parametrize("value", NO_NUMBER)
def test_a_figure_is_finite_and_from_zero_to_its_bound(value: float) -> None:
    with pytest.raises(RequestError, match="^cost_usd: must be between 0 and 10,000"):
        limits.check_amount("cost_usd", value, limits.MAX_COST_USD)


def test_the_bounds_themselves_pass() -> None:
    limits.check_amount("latency_ms", 0.0, limits.MAX_LATENCY_MS)
    limits.check_amount("latency_ms", limits.MAX_LATENCY_MS, limits.MAX_LATENCY_MS)
    limits.check_tokens("input_tokens", limits.MAX_TOKENS)
    with pytest.raises(RequestError, match="^input_tokens: must be between 0 and 100,000,000, got 9223372036854775807"):
        limits.check_tokens("input_tokens", 2**63 - 1)
    with pytest.raises(RequestError, match="^input_tokens: "):
        limits.check_tokens("input_tokens", -1)


@pytest.mark.parametrize(
    ("labels", "field", "reason"),
    [
        ({f"k{i}": "v" for i in range(33)}, "labels", "33 entries, over the limit of 32"),
        ({"bad key": "v"}, "labels", "key 'bad key' must be 1-64 characters"),
        ({"key\n": "v"}, "labels", "key 'key\\n'"),
        ({"k" * 65: "v"}, "labels", "must be 1-64 characters"),
        ({"team": "v" * 257}, "labels[team]", "over 256 characters"),
        ({"team": "q\x00a"}, "labels[team]", "NUL"),
    ],
)
def test_labels_are_bounded(labels: dict[str, str], field: str, reason: str) -> None:
    with pytest.raises(RequestError) as caught:
        limits.check_labels(labels)
    assert caught.value.field == field and reason in caught.value.reason


def test_merged_labels_are_bounded_per_decision() -> None:
    stored = {f"k{i}": "v" for i in range(31)}

    assert len(limits.merged_labels(stored, {"new": "v"})) == 32
    with pytest.raises(RecordLimitError, match="^labels: would give the decision 33 labels \\(2 new, 31") as caught:
        limits.merged_labels(stored, {"new": "v", "other": "v"})
    assert status_for(caught.value)[0] is grpc.StatusCode.INVALID_ARGUMENT


def test_replacing_labels_never_counts_against_the_limit() -> None:
    full = {f"k{i}": "v" for i in range(32)}
    legacy = {f"k{i}": "v" for i in range(40)}  # written before the limit held across reports

    assert limits.merged_labels(full, {"k0": "w"})["k0"] == "w"
    assert limits.merged_labels(legacy, {"k1": "w"})["k1"] == "w"
    with pytest.raises(RecordLimitError):
        limits.merged_labels(legacy, {"k99": "w"})


def attempt_with(**fields: Any) -> OutcomeReport:
    return dataclasses.replace(GOOD_REPORT, attempts=(GOOD_ATTEMPT, dataclasses.replace(GOOD_ATTEMPT, **fields)))


@pytest.mark.parametrize(
    ("report", "field"),
    [
        (dataclasses.replace(GOOD_REPORT, decision_id="a" * 65), "decision_id"),
        (dataclasses.replace(GOOD_REPORT, decision_id="abc\x00"), "decision_id"),
        (dataclasses.replace(GOOD_REPORT, decision_id=" "), "decision_id"),
        (dataclasses.replace(GOOD_REPORT, attempts=(GOOD_ATTEMPT,) * 33), "attempts"),
        (attempt_with(model="m" * 129), "attempts[1].model"),
        (attempt_with(model="gpt\x00"), "attempts[1].model"),
        (attempt_with(model=""), "attempts[1].model"),
        (attempt_with(validator="v" * 65), "attempts[1].validator"),
        (attempt_with(validator="json\x00"), "attempts[1].validator"),
        (attempt_with(error_class="E" * 129), "attempts[1].error_class"),
        (attempt_with(error_class="Rate\tLimit"), "attempts[1].error_class"),
        (attempt_with(message="x\x00" * 3000), "attempts[1].message"),
        *((attempt_with(latency_ms=value), "attempts[1].latency_ms") for value in NO_NUMBER),
        (attempt_with(latency_ms=limits.MAX_LATENCY_MS + 1), "attempts[1].latency_ms"),
        *((attempt_with(cost_usd=value), "attempts[1].cost_usd") for value in NO_NUMBER),
        (attempt_with(input_tokens=2**63 - 1), "attempts[1].input_tokens"),
        (attempt_with(output_tokens=limits.MAX_TOKENS + 1), "attempts[1].output_tokens"),
        (attempt_with(output_tokens=-1), "attempts[1].output_tokens"),
        (attempt_with(passed_validators=("json",) * 33), "attempts[1].passed_validators"),
        (attempt_with(passed_validators=("json,regex",)), "attempts[1].passed_validators"),
        (dataclasses.replace(GOOD_REPORT, quality_score=6), "quality_score"),
        (dataclasses.replace(GOOD_REPORT, labels={"team": "\x00"}), "labels[team]"),
    ],
)
def test_an_outcome_report_over_a_limit_names_the_field(report: OutcomeReport, field: str) -> None:
    with pytest.raises(RequestError) as caught:
        validate_outcome_report(report)
    assert caught.value.field == field


def test_a_report_at_every_limit_passes() -> None:
    at_limits = Attempt(
        "m" * limits.MAX_MODEL_NAME_CHARS,
        AttemptOutcome.PROVIDER_ERROR,
        limits.MAX_LATENCY_MS,
        limits.MAX_TOKENS,
        limits.MAX_TOKENS,
        limits.MAX_COST_USD,
        "v" * limits.MAX_VALIDATOR_CHARS,
        "provider error\n" * 1000,  # longer than what is stored: cut, not refused
        "E" * limits.MAX_ERROR_CLASS_CHARS,
        ("k" * limits.MAX_VALIDATOR_CHARS,) * limits.MAX_PASSED_VALIDATORS,
    )
    labels = {f"{i:02d}" + "k" * 62: "v" * limits.MAX_LABEL_VALUE_CHARS for i in range(limits.MAX_LABELS)}

    validate_outcome_report(OutcomeReport("a" * 64, (at_limits,) * limits.MAX_ATTEMPTS, True, 5, labels))
    validate_quality_report(QualityReport("a" * 64, 1, labels))


@pytest.mark.parametrize(
    ("report", "field"),
    [
        (QualityReport("a" * 32, 0), "score"),
        (QualityReport("a" * 32, 6), "score"),
        (QualityReport("a\x1b", 3), "decision_id"),
        (QualityReport("a" * 32, 3, {"reviewer": "a" * 257}), "labels[reviewer]"),
    ],
)
def test_a_quality_report_over_a_limit_names_the_field(report: QualityReport, field: str) -> None:
    with pytest.raises(RequestError) as caught:
        validate_quality_report(report)
    assert caught.value.field == field
