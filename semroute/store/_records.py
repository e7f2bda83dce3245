"""What the store keeps of a decision and of a report: rows built from plain values, and the checks a report passes.

A decision reaches the store as a :class:`PendingDecision` (what the request thread already holds: the decision, the
request and its query vector); the writer thread turns it into a row, so that hashing and the whole-text features
cost the routing call nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from semroute.embedding import Vectors
from semroute.errors import RequestError
from semroute.features import structural_features
from semroute.limits import (
    MAX_ATTEMPTS,
    MAX_COST_USD,
    MAX_DECISION_ID_CHARS,
    MAX_ERROR_CLASS_CHARS,
    MAX_LATENCY_MS,
    MAX_MODEL_NAME_CHARS,
    MAX_PASSED_VALIDATORS,
    MAX_STORED_MESSAGE_CHARS,
    MAX_VALIDATOR_CHARS,
    check_amount,
    check_count,
    check_kind,
    check_labels,
    check_name,
    check_score,
    check_text,
    check_tokens,
)
from semroute.types import Attempt, OutcomeReport, QualityReport, RouteDecision, RouteRequest


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


def decision_row(
    pending: PendingDecision, *, store_text: bool, keep_constrained_embeddings: bool = False
) -> dict[str, Any]:
    """The ``decisions`` row of a decision: its text only when ``store_text`` is set, and no embedding (NULL) for a
    decision a rule constrained (``constraint_rules``: where the task may go was restricted, e.g. sovereign data)
    unless ``keep_constrained_embeddings`` is set: an embedding can be inverted to approximate text."""
    decision, text = pending.decision, pending.request.text
    keep_embedding = keep_constrained_embeddings or not decision.constraint_rules
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
        "embedding": encode_embedding(pending.vector) if keep_embedding else None,
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
    """Check a ReportOutcome request's fields against :mod:`semroute.limits`.

    Raises:
        RequestError: naming the field that is wrong, e.g. ``quality_score`` or ``attempts[2].input_tokens``.
    """
    _validate_decision_id(report.decision_id)
    check_count("attempts", len(report.attempts), MAX_ATTEMPTS)
    for position, attempt in enumerate(report.attempts):
        _validate_attempt(f"attempts[{position}]", attempt)
    if report.quality_score is not None:
        check_score("quality_score", report.quality_score)
    check_labels(report.labels)


def validate_quality_report(report: QualityReport) -> None:
    """Check a ReportQuality request's fields against :mod:`semroute.limits`.

    Raises:
        RequestError: naming the field that is wrong.
    """
    _validate_decision_id(report.decision_id)
    check_score("score", report.score)
    check_labels(report.labels)


def _validate_decision_id(decision_id: str) -> None:
    if not decision_id.strip():
        raise RequestError("decision_id", "must not be empty: send the decision_id of the decision you executed")
    check_name("decision_id", decision_id, MAX_DECISION_ID_CHARS)


def _validate_attempt(where: str, attempt: Attempt) -> None:
    check_name(f"{where}.model", attempt.model, MAX_MODEL_NAME_CHARS, required=True)
    check_name(f"{where}.validator", attempt.validator, MAX_VALIDATOR_CHARS)
    check_name(f"{where}.error_class", attempt.error_class, MAX_ERROR_CLASS_CHARS)
    check_text(f"{where}.message", attempt.message)
    check_amount(f"{where}.latency_ms", attempt.latency_ms, MAX_LATENCY_MS)
    check_amount(f"{where}.cost_usd", attempt.cost_usd, MAX_COST_USD)
    check_tokens(f"{where}.input_tokens", attempt.input_tokens)
    check_tokens(f"{where}.output_tokens", attempt.output_tokens)
    check_count(f"{where}.passed_validators", len(attempt.passed_validators), MAX_PASSED_VALIDATORS)
    for kind in attempt.passed_validators:
        check_kind(f"{where}.passed_validators", kind)
