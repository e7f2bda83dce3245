"""What the store keeps of a decision and of a report: rows built from plain values, and the checks a report passes.

A decision reaches the store as a :class:`PendingDecision` (what the request thread already holds: the decision, the
request and its query vector); the writer thread turns it into a row, so that hashing and the whole-text features
cost the routing call nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from semroute.embedding import Vectors
from semroute.errors import RequestError
from semroute.features import structural_features
from semroute.types import OutcomeReport, QualityReport, RouteDecision, RouteRequest

MAX_DECISION_ID_CHARS = 64
MAX_ATTEMPTS = 32
MAX_LABELS = 32
MAX_LABEL_VALUE_CHARS = 256
MAX_STORED_MESSAGE_CHARS = 4096  # an attempt's message is cut to this: provider errors can be long
QUALITY_SCORES = range(1, 6)
_LABEL_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_VALIDATOR_KIND = _LABEL_KEY  # stored comma-separated: no comma can be in one


def utc_now() -> datetime:
    """Now, in UTC, as the store keeps times (naive)."""
    return datetime.now(UTC).replace(tzinfo=None)


def encode_embedding(vector: npt.ArrayLike) -> bytes:
    """A query vector as the store keeps it: little-endian float16 (half the bytes; cosine similarities move <1e-3)."""
    return np.asarray(vector, dtype="<f2").reshape(-1).tobytes()


def decode_embedding(stored: bytes) -> npt.NDArray[np.float32]:
    """A stored vector back as float32."""
    return np.frombuffer(stored, dtype="<f2").astype(np.float32)


@dataclass(frozen=True)
class PendingDecision:
    """A decision on its way to the store."""

    decision: RouteDecision
    request: RouteRequest
    vector: Vectors  # the request's query vector (one row)
    request_id: str
    decided_at: datetime  # UTC, naive


def decision_row(pending: PendingDecision, *, store_text: bool) -> dict[str, Any]:
    """The ``decisions`` row of a decision: its text only when ``store_text`` is set."""
    decision, text = pending.decision, pending.request.text
    features = structural_features(text, pending.request.input_tokens)
    return {
        "decision_id": decision.decision_id,
        "decided_at": pending.decided_at,
        "request_id": pending.request_id,
        "route": decision.route,
        "model": decision.model.name,
        "cascade": [model.name for model in decision.cascade],
        "fallbacks": [model.name for model in decision.fallbacks],
        "candidates": [
            {"route": candidate.route, "score": candidate.score, "signals": dict(candidate.signals)}
            for candidate in decision.candidates
        ],
        "rules": list(decision.rules),
        "ambiguous": decision.ambiguous,
        "margin": decision.margin,
        "index_fingerprint": decision.index_fingerprint,
        "estimated_tokens": decision.estimated_tokens,
        "file_paths": int(features["file_paths"]),
        "has_code_block": bool(features["has_code_block"]),
        "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        "text_chars": len(text),
        "embedding": encode_embedding(pending.vector),
        "choice_probability": decision.choice_probability,
        "text": text if store_text else None,
        "choice_policy": decision.choice_policy,
        "features": features,
    }


def attempt_rows(report: OutcomeReport) -> list[dict[str, Any]]:
    """The ``attempts`` rows of a report, in order."""
    return [
        {
            "decision_id": report.decision_id,
            "position": position,
            "model": attempt.model,
            "outcome": attempt.outcome.value,
            "latency_ms": attempt.latency_ms,
            "input_tokens": attempt.input_tokens,
            "output_tokens": attempt.output_tokens,
            "cost_usd": attempt.cost_usd,
            "validator": attempt.validator,
            "message": attempt.message[:MAX_STORED_MESSAGE_CHARS],
            "error_class": attempt.error_class,
            "passed_validators": ",".join(attempt.passed_validators),
        }
        for position, attempt in enumerate(report.attempts)
    ]


def passed_validators_of(stored: str | None) -> tuple[str, ...]:
    """An attempt's ``passed_validators`` as :func:`attempt_rows` stored them (NULL, from before version 3: none)."""
    return tuple(stored.split(",")) if stored else ()


def validate_outcome_report(report: OutcomeReport) -> None:
    """Check a ReportOutcome request's fields.

    Raises:
        RequestError: naming the field that is wrong, e.g. ``quality_score`` or ``attempts[2].input_tokens``.
    """
    _validate_decision_id(report.decision_id)
    if len(report.attempts) > MAX_ATTEMPTS:
        raise RequestError("attempts", f"has {len(report.attempts)} entries, over the limit of {MAX_ATTEMPTS}")
    for position, attempt in enumerate(report.attempts):
        where = f"attempts[{position}]"
        if not attempt.model.strip():
            raise RequestError(f"{where}.model", "must not be empty")
        for name in ("latency_ms", "input_tokens", "output_tokens", "cost_usd"):
            value = getattr(attempt, name)
            if not value >= 0:  # also refuses NaN
                raise RequestError(f"{where}.{name}", f"must not be negative, got {value}")
        if len(attempt.passed_validators) > MAX_ATTEMPTS:
            raise RequestError(
                f"{where}.passed_validators", f"has {len(attempt.passed_validators)} entries, over {MAX_ATTEMPTS}"
            )
        for kind in attempt.passed_validators:
            if not _VALIDATOR_KIND.fullmatch(kind):
                raise RequestError(
                    f"{where}.passed_validators", f"{kind!r} must be 1-64 characters of letters, digits, '_', '.', '-'"
                )
    if report.quality_score is not None:
        _validate_score("quality_score", report.quality_score)
    _validate_labels(report.labels)


def validate_quality_report(report: QualityReport) -> None:
    """Check a ReportQuality request's fields.

    Raises:
        RequestError: naming the field that is wrong.
    """
    _validate_decision_id(report.decision_id)
    _validate_score("score", report.score)
    _validate_labels(report.labels)


def _validate_decision_id(decision_id: str) -> None:
    if not decision_id.strip():
        raise RequestError("decision_id", "must not be empty: send the decision_id of the decision you executed")
    if len(decision_id) > MAX_DECISION_ID_CHARS:
        raise RequestError("decision_id", f"is over {MAX_DECISION_ID_CHARS} characters")


def _validate_score(field: str, score: int) -> None:
    if score not in QUALITY_SCORES:
        raise RequestError(field, f"must be between 1 and 5, got {score}")


def _validate_labels(labels: Mapping[str, str]) -> None:
    if len(labels) > MAX_LABELS:
        raise RequestError("labels", f"has {len(labels)} entries, over the limit of {MAX_LABELS}")
    for key, value in labels.items():
        if not _LABEL_KEY.fullmatch(key):
            raise RequestError("labels", f"key {key!r} must be 1-64 characters of letters, digits, '_', '.', '-'")
        if len(value) > MAX_LABEL_VALUE_CHARS:
            raise RequestError(f"labels[{key}]", f"value is over {MAX_LABEL_VALUE_CHARS} characters")
