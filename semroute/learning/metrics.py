"""How good an estimate of P(success) is, on outcomes it was not fitted on: discrimination (AUC) and calibration
(expected calibration error, Brier score, and the reliability table behind them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Reliability:
    """One bin of predicted probabilities: how many outcomes, the mean prediction and the observed success rate."""

    low: float
    high: float
    count: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class EstimateQuality:
    """The quality of one model's estimates on held-out outcomes."""

    outcomes: int
    success_rate: float
    auc: float | None  # None when the held-out outcomes are all successes or all failures
    ece: float  # expected calibration error: |predicted - observed| averaged over bins, weighted by their size
    brier: float
    bins: tuple[Reliability, ...]


def auc(labels: FloatArray, scores: FloatArray, weights: FloatArray | None = None) -> float | None:
    """Area under the ROC curve: the chance that a random success scores above a random failure (ties count half);
    None when there are not both."""
    weights = np.ones_like(scores) if weights is None else weights
    positive, negative = labels > 0.5, labels <= 0.5
    if not positive.any() or not negative.any():
        return None
    order = np.argsort(scores, kind="stable")
    scores, positive, weights = scores[order], positive[order], weights[order]
    total = 0.0
    below = 0.0  # weight of failures scoring strictly below the current score
    start = 0
    while start < len(scores):
        end = start
        while end < len(scores) and scores[end] == scores[start]:
            end += 1
        tie_pos = float(weights[start:end][positive[start:end]].sum())
        tie_neg = float(weights[start:end][~positive[start:end]].sum())
        total += tie_pos * (below + tie_neg / 2)
        below += tie_neg
        start = end
    return total / (float(weights[positive].sum()) * float(weights[~positive].sum()))


def estimate_quality(
    labels: FloatArray, predicted: FloatArray, weights: FloatArray | None = None, bins: int = 10
) -> EstimateQuality:
    """AUC, calibration and Brier score of ``predicted`` against 0/1 ``labels``."""
    weights = np.ones_like(predicted) if weights is None else weights
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(predicted, edges[1:-1]), 0, bins - 1)
    table: list[Reliability] = []
    error = 0.0
    for number in range(bins):
        inside = which == number
        if not inside.any():
            continue
        mass = weights[inside]
        mean_predicted = float(np.average(predicted[inside], weights=mass))
        observed = float(np.average(labels[inside], weights=mass))
        table.append(Reliability(edges[number], edges[number + 1], int(inside.sum()), mean_predicted, observed))
        error += float(mass.sum()) * abs(mean_predicted - observed)
    total = float(weights.sum())
    return EstimateQuality(
        outcomes=len(labels),
        success_rate=float(np.average(labels, weights=weights)),
        auc=auc(labels, predicted, weights),
        ece=error / total,
        brier=float(np.average((predicted - labels) ** 2, weights=weights)),
        bins=tuple(table),
    )
