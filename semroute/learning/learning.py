"""``semroute learn``'s work, as a library: split the outcomes by task, fit on one part and measure the estimates on
the other (AUC and calibration per route and model), then fit on everything for serving.

Given the routes' chains, only a chain's models are learned (the choice never leaves the chain, so an estimate for
another model would never be used); every model's outcomes still count toward the route's pooled difficulty. AUC is
given only when the held-out tasks hold at least :data:`MIN_AUC_OUTCOMES` successes and as many failures: from a
handful it is noise (0.000 from two tasks says nothing)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from semroute.learning.estimator import LearnedModels, LearnerSettings, fit, propensity_weights, success_labels
from semroute.learning.metrics import EstimateQuality, estimate_quality
from semroute.learning.observations import Observation

DEFAULT_HOLDOUT = 0.2
MIN_AUC_OUTCOMES = 5  # held-out successes, and failures, below which no AUC is given


@dataclass(frozen=True)
class ModelReport:
    """What was learned about one model on one route, and how well its estimates held on unseen tasks."""

    route: str
    model: str
    observations: int
    success_rate: float
    held_out: EstimateQuality | None  # None when too few held-out outcomes or too little evidence to fit
    in_chain: bool = True  # False: a model outside the route's chain, not learned (the choice never picks it)
    held_out_successes: int = 0
    held_out_failures: int = 0

    @property
    def auc_note(self) -> str | None:
        """Why no AUC is given although the estimates were measured on held-out tasks (None when it is given, or
        when nothing was measured)."""
        if self.held_out is None or self.held_out.auc is not None:
            return None
        failures = "failure" if self.held_out_failures == 1 else "failures"
        if self.held_out_successes < self.held_out_failures:
            few = f"{self.held_out_successes} success" + ("" if self.held_out_successes == 1 else "es")
        else:
            few = f"{self.held_out_failures} {failures}"
        return f"AUC n/a ({self.held_out.outcomes} held-out tasks, {few})"


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
    observations: Sequence[Observation],
    settings: LearnerSettings | None = None,
    holdout: float = DEFAULT_HOLDOUT,
    chains: Mapping[str, Collection[str]] | None = None,
) -> LearningResult:
    """Measure the estimator on a held-out share of the tasks, then fit it on all of them (``chains``: per route
    the models of its chain, the only ones learned; None learns every model)."""
    settings = settings or LearnerSettings()
    fitting = [row for row in observations if not held_out(row.task_id, holdout)]
    testing = [row for row in observations if held_out(row.task_id, holdout)]
    measured = fit(fitting, settings, chains)
    learned = fit(observations, settings, chains)
    by_pair: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for row in observations:
        by_pair[(row.route, row.model)].append(row)
    tested: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for row in testing:
        tested[(row.route, row.model)].append(row)
    reports = []
    for (route, model), rows in sorted(by_pair.items()):
        success_rate = float(success_labels(rows).mean())
        in_chain = chains is None or model in chains.get(route, ())
        held = tested[(route, model)]
        successes = sum(row.success for row in held)
        quality = _quality(measured, held) if in_chain else None
        reports.append(
            ModelReport(route, model, len(rows), success_rate, quality, in_chain, successes, len(held) - successes)
        )
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
    labels = success_labels(rows)
    quality = estimate_quality(labels, predicted, propensity_weights(rows, measured.settings))
    if min(labels.sum(), len(labels) - labels.sum()) < MIN_AUC_OUTCOMES:
        return replace(quality, auc=None)  # from a handful of successes or failures AUC is noise
    return quality
