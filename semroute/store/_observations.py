"""Observations in the store: the rows of the ``observations`` table, and served attempts read as observations.

Imported tables and evaluations are kept as observations (:func:`observation_row`). Served traffic is not copied:
each reported attempt that says something about quality is read back as an observation of the decision's task
(:func:`served_observation`), so retention and a report replaced by a later one apply to it as they do to the
decisions themselves. What says something: an output a validator refused; an accepted output that passed at least
one validator or was given a quality score. An output accepted with nothing checking it only says that the model
answered (on a route without validators every answer is accepted), and a provider error says nothing about quality:
counted, they would teach the learner that the model it already picks always succeeds. A decision stored without
its embedding (one a rule constrained, :func:`~semroute.store._records.decision_row`) gives no observation: the
learner places tasks by their vectors.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa

from semroute.features import STRUCTURAL_FEATURES
from semroute.learning.observations import Observation, quality_of_score
from semroute.store._records import decode_embedding, encode_embedding
from semroute.store._schema import attempts, decisions, observations, outcomes
from semroute.types import AttemptOutcome

SERVED_SOURCE = "served"
_KEY_COLUMNS = ("source", "task_id", "model", "route")


def _string_limit(name: str) -> int:
    column_type = observations.c[name].type
    if not isinstance(column_type, sa.String) or column_type.length is None:
        raise TypeError(f"observations.{name} is not a bounded string column")
    return column_type.length


_LIMITS = {name: _string_limit(name) for name in _KEY_COLUMNS}


def check_observations(batch: Sequence[Observation]) -> None:
    """Check that every observation fits the table, and that no (source, task_id, model) comes twice.

    Raises:
        ValueError: naming the observation (position, task and model) and the field that is wrong.
    """
    seen: dict[tuple[str, str, str], int] = {}
    for position, observation in enumerate(batch):
        where = f"observations[{position}] (task {observation.task_id!r}, model {observation.model!r})"
        _check_observation(observation, where)
        key = (observation.source, observation.task_id, observation.model)
        if key in seen:
            raise ValueError(f"{where}: the same source, task and model as observations[{seen[key]}]")
        seen[key] = position


def observation_row(observation: Observation, *, text: str | None, recorded_at: datetime) -> dict[str, Any]:
    """The ``observations`` row of a checked observation (see :func:`check_observations`)."""
    return {
        "source": observation.source,
        "task_id": observation.task_id,
        "model": observation.model,
        "route": observation.route,
        "quality": float(observation.quality),
        "cost_usd": observation.cost_usd,
        "input_tokens": observation.input_tokens,
        "output_tokens": observation.output_tokens,
        "latency_ms": observation.latency_ms,
        "propensity": float(observation.propensity),
        "embedding": encode_embedding(observation.embedding),
        "features": {name: float(value) for name, value in observation.features.items()},
        "recorded_at": recorded_at,
        "text": text,
    }


def observation_of_row(row: sa.RowMapping) -> Observation:
    """An observation read back from its ``observations`` row."""
    return Observation(
        task_id=row["task_id"],
        route=row["route"],
        model=row["model"],
        quality=row["quality"],
        embedding=decode_embedding(row["embedding"]),
        features={name: float(value) for name, value in row["features"].items()},
        propensity=row["propensity"],
        cost_usd=row["cost_usd"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        latency_ms=row["latency_ms"],
        source=row["source"],
    )


def served_observation(row: sa.RowMapping) -> Observation:
    """A served attempt (a row of :func:`served_query`) as an observation of the decision's task.

    Quality: 0 for an invalid output; for the accepted one the reported 1-5 score as a quality, else 1 (it passed a
    validator: :func:`judged_attempt` leaves out the unchecked ones).
    """
    if row["outcome"] == AttemptOutcome.ACCEPTED.value:
        score = row["quality_score"]
        quality = 1.0 if score is None else quality_of_score(int(score))
    else:
        quality = 0.0
    probability = row["choice_probability"]
    return Observation(
        task_id=row["text_sha256"],
        route=row["route"],
        model=row["model"],
        quality=quality,
        embedding=decode_embedding(row["embedding"]),
        features=decision_features(row),
        propensity=1.0 if probability is None else float(probability),
        cost_usd=row["cost_usd"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        latency_ms=row["latency_ms"],
        source=SERVED_SOURCE,
    )


def served_query() -> sa.Select[Any]:
    """Every reported attempt that says something about quality, of a decision stored with its embedding, with its
    decision and outcome, in the order served (callers add their filters on ``decisions``)."""
    return (
        sa.select(
            decisions.c.text_sha256,
            decisions.c.route,
            decisions.c.embedding,
            decisions.c.features,
            decisions.c.estimated_tokens,
            decisions.c.file_paths,
            decisions.c.has_code_block,
            decisions.c.choice_probability,
            outcomes.c.quality_score,
            attempts.c.model,
            attempts.c.outcome,
            attempts.c.cost_usd,
            attempts.c.input_tokens,
            attempts.c.output_tokens,
            attempts.c.latency_ms,
        )
        .select_from(
            decisions.join(outcomes, outcomes.c.decision_id == decisions.c.decision_id).join(
                attempts, attempts.c.decision_id == decisions.c.decision_id
            )
        )
        .where(judged_attempt(), decisions.c.embedding.is_not(None))
        .order_by(decisions.c.decided_at, decisions.c.decision_id, attempts.c.position)
    )


def judged_attempt() -> sa.ColumnElement[bool]:
    """The attempts whose outcome says how good the output was (see the module's docstring). An attempt reported
    before schema version 3 has NULL ``passed_validators``: it counts as it did then, an acceptance as a success.
    Dropping those acceptances but not the refusals beside them would turn a route's old record into failures only."""
    accepted = attempts.c.outcome == AttemptOutcome.ACCEPTED.value
    checked = sa.or_(attempts.c.passed_validators.is_(None), attempts.c.passed_validators != "")
    return sa.or_(
        attempts.c.outcome == AttemptOutcome.INVALID.value,
        sa.and_(accepted, sa.or_(checked, outcomes.c.quality_score.is_not(None))),
    )


def decision_features(row: sa.RowMapping) -> dict[str, float]:
    """A decision's structural features: its ``features`` column, or, for a decision recorded before schema version
    2, those its columns kept (estimated tokens, file paths, code block), with no question marks or instructions."""
    if row["features"] is not None:
        return {name: float(value) for name, value in row["features"].items()}
    kept = {
        "estimated_tokens": float(row["estimated_tokens"]),
        "has_code_block": float(row["has_code_block"]),
        "file_paths": float(row["file_paths"]),
    }
    return {name: kept.get(name, 0.0) for name in STRUCTURAL_FEATURES}


def _check_observation(observation: Observation, where: str) -> None:
    for name in _KEY_COLUMNS:
        value = getattr(observation, name)
        limit = _LIMITS[name]
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: {name} must be a non-empty string, got {value!r}")
        if len(value) > limit:
            raise ValueError(f"{where}: {name} is {len(value)} characters, over the store's limit of {limit}")
    if not 0.0 <= observation.quality <= 1.0:  # also refuses NaN
        raise ValueError(f"{where}: quality must be between 0 and 1, got {observation.quality}")
    if not 0.0 < observation.propensity <= 1.0:
        raise ValueError(f"{where}: propensity must be above 0 and at most 1, got {observation.propensity}")
    for name in ("cost_usd", "input_tokens", "output_tokens", "latency_ms"):
        value = getattr(observation, name)
        if value is not None and not value >= 0:
            raise ValueError(f"{where}: {name} must not be negative, got {value}")
    embedding = np.asarray(observation.embedding)
    if embedding.ndim != 1 or embedding.size == 0 or not np.isfinite(embedding).all():
        raise ValueError(f"{where}: embedding must be one non-empty row of finite numbers, got shape {embedding.shape}")
    for name, value in observation.features.items():
        if not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{where}: features[{name!r}] must be a finite number, got {value!r}")
