"""The limits of what a caller may write: one definition, the same for an SQLite and a PostgreSQL outcome store.

Every request field that reaches the outcome store is checked against these where the request is read, before it is
queued: a value the database would refuse (a string longer than its column, a NUL character, which PostgreSQL text
cannot hold) would otherwise fail the whole write batch, and with it other callers' records; and a figure the reports
sum (cost, latency, tokens) must be finite and plausible, or one report poisons every total. SQLite enforces no column
size, so the limits, not the database, are what make the two stores accept the same records. Each string limit is at
most its column's size in :mod:`semroute.store._schema` (a test compares them).

Each check raises :class:`~semroute.errors.RequestError` naming the field (``attempts[2].model``), which the service
answers with INVALID_ARGUMENT. Labels are also bounded per decision after merging (:func:`merged_labels`): a report
that would take its decision's stored labels over :data:`MAX_LABELS` gets :class:`~semroute.errors.RecordLimitError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from semroute.errors import RecordLimitError, RequestError

MAX_DECISION_ID_CHARS: Final = 64  # decisions.decision_id is VARCHAR(64); the server issues 32 hex digits
MAX_MODEL_NAME_CHARS: Final = 128  # attempts.model (and decisions.model) are VARCHAR(128)
MAX_VALIDATOR_CHARS: Final = 64  # attempts.validator is VARCHAR(64); also each of an attempt's passed_validators
MAX_ERROR_CLASS_CHARS: Final = 128  # attempts.error_class is VARCHAR(128)
MAX_STORED_MESSAGE_CHARS: Final = 4096  # an attempt's message may be longer (provider errors are); the store cuts it
MAX_ATTEMPTS: Final = 32  # model calls per report: a cascade and its fallbacks take a handful
MAX_PASSED_VALIDATORS: Final = 32  # validator kinds one accepted output passed
MAX_LABELS: Final = 32  # labels per report, and per decision after merging the labels of all its reports
MAX_LABEL_KEY_CHARS: Final = 64  # a label key is 1-64 characters of letters, digits, '_', '.', '-'
MAX_LABEL_VALUE_CHARS: Final = 256  # so a decision's labels hold at most 32 * (64 + 256) characters
# One day: a call that took longer is no measurement (a provider's batch API, at 24 hours, still fits).
MAX_LATENCY_MS: Final = 86_400_000.0
# Per call. The dearest list prices (150 USD per million input tokens) times the longest context window offered
# (10 million tokens) come to 1,500 USD; more is a unit mistake (cents, micro-dollars) or a forged figure.
MAX_COST_USD: Final = 10_000.0
# Per call (input and output each; also a routing request's input_tokens): ten times the longest context window
# offered. Far below 2**63 - 1, so sums over millions of calls stay exact in a BIGINT and in a float.
MAX_TOKENS: Final = 100_000_000
QUALITY_SCORES: Final = range(1, 6)  # 1 (bad) to 5 (excellent)

_NAME_CHARS = "letters, digits, '_', '.', '-'"
# fullmatch, not `$`, which would let a final newline through
_LABEL_KEY = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_LABEL_KEY_CHARS}}}")
_VALIDATOR_KIND = re.compile(rf"[A-Za-z0-9_.-]{{1,{MAX_VALIDATOR_CHARS}}}")
# C0 controls, DEL and C1 controls (Unicode category Cc): never part of a name, and unprintable in a report.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_name(field: str, value: str, max_chars: int, *, required: bool = False) -> None:
    """Check an identifier a caller sends (a model name, a validator kind, an error class, a decision id): at most
    ``max_chars`` characters, no control character, and not blank when ``required``.

    Raises:
        RequestError: naming ``field``.
    """
    if required and not value.strip():
        raise RequestError(field, "must not be empty")
    if len(value) > max_chars:
        raise RequestError(field, f"is {len(value):,} characters, over the limit of {max_chars}")
    if found := _CONTROL.search(value):
        raise RequestError(field, f"holds the control character {found.group()!r} at position {found.start()}")


def check_text(field: str, value: str) -> None:
    """Check free text (an attempt's message, a label's value, a task's text): no NUL character, which a
    PostgreSQL text column cannot hold; other characters, newlines included, are kept.

    Raises:
        RequestError: naming ``field``.
    """
    if (position := value.find("\x00")) >= 0:
        raise RequestError(field, f"holds a NUL character (at position {position})")


def check_amount(field: str, value: float, maximum: float) -> None:
    """Check a measured figure (a latency, a cost): finite, from 0 to ``maximum``.

    Raises:
        RequestError: naming ``field``; NaN and infinities are refused too.
    """
    if not 0 <= value <= maximum:  # NaN fails every comparison
        raise RequestError(field, f"must be between 0 and {maximum:,g}, got {value}")


def check_tokens(field: str, value: int) -> None:
    """Check a token count: from 0 to :data:`MAX_TOKENS`.

    Raises:
        RequestError: naming ``field``.
    """
    if not 0 <= value <= MAX_TOKENS:
        raise RequestError(field, f"must be between 0 and {MAX_TOKENS:,}, got {value}")


def check_count(field: str, count: int, maximum: int) -> None:
    """Check how many entries a repeated field holds.

    Raises:
        RequestError: naming ``field``.
    """
    if count > maximum:
        raise RequestError(field, f"has {count} entries, over the limit of {maximum}")


def check_score(field: str, score: int) -> None:
    """Check a quality score (:data:`QUALITY_SCORES`).

    Raises:
        RequestError: naming ``field``.
    """
    if score not in QUALITY_SCORES:
        raise RequestError(field, f"must be between {QUALITY_SCORES[0]} and {QUALITY_SCORES[-1]}, got {score}")


def check_kind(field: str, kind: str) -> None:
    """Check a validator kind as an attempt's ``passed_validators`` names it (stored comma-separated: no comma).

    Raises:
        RequestError: naming ``field``.
    """
    if not _VALIDATOR_KIND.fullmatch(kind):
        raise RequestError(field, f"{kind!r} must be 1-{MAX_VALIDATOR_CHARS} characters of {_NAME_CHARS}")


def check_labels(labels: Mapping[str, str]) -> None:
    """Check one report's labels: at most :data:`MAX_LABELS`, keys of 1-64 name characters, values of at most
    :data:`MAX_LABEL_VALUE_CHARS` characters with no NUL.

    Raises:
        RequestError: naming ``labels`` or ``labels[<key>]``.
    """
    check_count("labels", len(labels), MAX_LABELS)
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            raise RequestError("labels", f"key {key!r} must be 1-{MAX_LABEL_KEY_CHARS} characters of {_NAME_CHARS}")
        if len(value) > MAX_LABEL_VALUE_CHARS:
            raise RequestError(f"labels[{key}]", f"value is over {MAX_LABEL_VALUE_CHARS} characters")
        check_text(f"labels[{key}]", value)


def merged_labels(stored: Mapping[str, str], added: Mapping[str, str]) -> dict[str, str]:
    """A decision's labels after a report adds its own (the report's win).

    A decision whose row already holds more than :data:`MAX_LABELS` (written before the limit) still takes reports
    that add no new key.

    Raises:
        RecordLimitError: naming ``labels``, when the report's new keys would take the decision over the limit.
    """
    merged = {**stored, **added}
    if len(merged) > MAX_LABELS and len(merged) > len(stored):
        raise RecordLimitError(
            "labels",
            f"would give the decision {len(merged)} labels ({len(merged) - len(stored)} new, {len(stored)} reported "
            f"before), over the limit of {MAX_LABELS} per decision",
        )
    return merged
