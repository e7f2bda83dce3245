"""``semroute learn``'s work, as a library: split the outcomes by task, fit on one part and measure the estimates on
the other (AUC and calibration per route and model), then fit on everything for serving."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from semroute.learning.estimator import LearnedModels, LearnerSettings, fit, propensity_weights, success_labels
from semroute.learning.metrics import EstimateQuality, estimate_quality
from semroute.learning.observations import Observation

DEFAULT_HOLDOUT = 0.2


@dataclass(frozen=True)
class ModelReport:
    """What was learned about one model on one route, and how well its estimates held on unseen tasks."""

    route: str
    model: str
    observations: int
    success_rate: float
    held_out: EstimateQuality | None  # None when too few held-out outcomes or too little evidence to fit


@dataclass(frozen=True)
class LearningResult:
    """The fit on every outcome (what serving uses) and the held-out measurement per route and model."""

    learned: LearnedModels
    models: tuple[ModelReport, ...]
    observations: int
    tasks: int


def held_out(task_id: str, share: float) -> bool:
    """Whether a task falls in the held-out share: a hash of its id, so that every model's outcome of one task falls
    on the same side and a later run splits the same way."""
    digest = hashlib.sha256(task_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def learn_and_measure(
    observations: Sequence[Observation], settings: LearnerSettings | None = None, holdout: float = DEFAULT_HOLDOUT
) -> LearningResult:
    """Measure the estimator on a held-out share of the tasks, then fit it on all of them."""
    settings = settings or LearnerSettings()
    fitting = [row for row in observations if not held_out(row.task_id, holdout)]
    testing = [row for row in observations if held_out(row.task_id, holdout)]
    measured = fit(fitting, settings)
    learned = fit(observations, settings)
    by_pair: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for row in observations:
        by_pair[(row.route, row.model)].append(row)
    tested: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for row in testing:
        tested[(row.route, row.model)].append(row)
    reports = []
    for (route, model), rows in sorted(by_pair.items()):
        success_rate = float(success_labels(rows).mean())
        reports.append(ModelReport(route, model, len(rows), success_rate, _quality(measured, tested[(route, model)])))
    return LearningResult(learned, tuple(reports), len(observations), len({row.task_id for row in observations}))


def _quality(measured: LearnedModels, rows: Sequence[Observation]) -> EstimateQuality | None:
    if len(rows) < 2:
        return None
    route, model = rows[0].route, rows[0].model
    vectors = np.stack([row.embedding for row in rows]).astype(np.float32)
    estimates = measured.estimate(route, model, vectors, [row.features for row in rows])
    if estimates is None:
        return None
    predicted = np.array([estimate.success for estimate in estimates])
    return estimate_quality(success_labels(rows), predicted, propensity_weights(rows, measured.settings))
