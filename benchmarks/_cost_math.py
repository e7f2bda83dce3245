"""The arithmetic of ``benchmarks/cost.py``, free of any model: cost-quality frontiers, RouterBench's AIQ, random
mixing at equal cost, the oracle, and bootstrap intervals over prompts.

A router is a set of (mean cost, mean quality) points, one per setting. Between two settings a router can always mix
at random (flip a biased coin per prompt), and it can always spend more than it needs without losing anything; so
what a router *reaches* is the **upper convex non-decreasing hull** of its points (:func:`frontier`). RouterBench
(Hu et al. 2024, arXiv 2403.12031) calls the area under that hull, with cost normalised between the cheapest and the
dearest single model, the router's AIQ (:func:`aiq`). The "zero router" is the hull of the single models themselves:
what random mixing of fixed choices reaches without learning anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
INTERVAL = 0.90  # the bootstrap intervals' coverage


@dataclass(frozen=True)
class Point:
    """One setting of a router (or one single model): its mean cost per prompt and mean quality (0-1)."""

    cost: float
    quality: float


def frontier(points: Sequence[Point]) -> list[int]:
    """Indices of ``points`` on their upper convex non-decreasing hull, by increasing cost.

    A point is left out when another costs no more and is no worse (dominated), or when it lies on or under the
    straight line between two others (random mixing of those two reaches it).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i].cost, -points[i].quality))
    kept: list[int] = []
    for i in order:  # cost rises along ``order``: a point must beat the best quality seen so far
        if not kept or points[i].quality > points[kept[-1]].quality:
            kept.append(i)
    hull: list[int] = []
    for i in kept:
        while len(hull) >= 2 and _turn(points[hull[-2]], points[hull[-1]], points[i]) >= 0:
            hull.pop()
        hull.append(i)
    return hull


def _turn(first: Point, middle: Point, last: Point) -> float:
    """Above 0: ``middle`` lies under the line from ``first`` to ``last``; 0: on it; below 0: above it."""
    return (middle.cost - first.cost) * (last.quality - first.quality) - (middle.quality - first.quality) * (
        last.cost - first.cost
    )


def hull_quality(hull: Sequence[Point], cost: float) -> float:
    """The quality the hull (points by increasing cost, as :func:`frontier` orders them) reaches at ``cost``: linear
    between its points, its last quality beyond its dearest point, its first quality below its cheapest."""
    if cost <= hull[0].cost:
        return hull[0].quality
    for left, right in zip(hull, hull[1:], strict=False):
        if cost <= right.cost:
            share = (cost - left.cost) / (right.cost - left.cost)
            return left.quality + share * (right.quality - left.quality)
    return hull[-1].quality


@dataclass(frozen=True)
class Mix:
    """Random choice between two models at a given mean cost: ``cheap`` with probability ``1 - dear_share``."""

    cheap: int  # index of the cheaper model among the points given to :func:`equal_cost_mix`
    dear: int
    dear_share: float
    quality: float
    cost: float


def equal_cost_mix(points: Sequence[Point], cost: float) -> Mix:
    """Random choice between the two models of the points' hull that bracket ``cost``, mixed so that the mean cost is
    ``cost`` (clamped to the hull's ends: below the cheapest model it is that model alone, above the dearest point
    of the hull, that point alone)."""
    indices = frontier(points)
    hull = [points[i] for i in indices]
    if cost <= hull[0].cost:
        return Mix(indices[0], indices[0], 0.0, hull[0].quality, hull[0].cost)
    for (cheap, left), (dear, right) in zip(
        zip(indices, hull, strict=True), zip(indices[1:], hull[1:], strict=True), strict=False
    ):
        if cost <= right.cost:
            share = (cost - left.cost) / (right.cost - left.cost)
            return Mix(cheap, dear, share, left.quality + share * (right.quality - left.quality), cost)
    return Mix(indices[-1], indices[-1], 1.0, hull[-1].quality, hull[-1].cost)


def aiq(points: Sequence[Point], low: float, high: float) -> float:
    """RouterBench's AIQ: the mean quality of the points' hull over costs from ``low`` to ``high`` (the cheapest and
    the dearest single model's mean cost), i.e. the area under it with cost normalised to [0, 1].

    Beyond the hull's dearest point the quality stays flat (spending more never has to lose anything); below its
    cheapest point the router cannot go, and that stretch counts as quality 0 (a router whose cheapest setting still
    costs more than the cheapest model is not credited with what it cannot reach).
    """
    if high <= low:
        raise ValueError(f"the cost range must be increasing, got {low} to {high}")
    hull = [points[i] for i in frontier(points)]
    knots = [Point(max(point.cost, low), hull_quality(hull, max(point.cost, low))) for point in hull]
    knots = [knot for knot in knots if knot.cost < high]
    if not knots:  # the cheapest setting costs more than the dearest model: nothing reached in the range
        return 0.0
    knots.append(Point(high, hull_quality(hull, high)))
    area = sum(
        (right.cost - left.cost) * (left.quality + right.quality) / 2
        for left, right in zip(knots, knots[1:], strict=False)
    )
    return area / (high - low)


def single_model_range(points: Sequence[Point]) -> tuple[float, float]:
    """The cheapest and the dearest single model's mean cost: AIQ's cost range."""
    costs = [point.cost for point in points]
    return min(costs), max(costs)


def oracle_choice(correct: FloatArray, cost: FloatArray) -> IntArray:
    """Per prompt, the cheapest model that is correct (``correct`` and ``cost`` are prompts x models); the cheapest
    model overall where none is."""
    penalty = np.where(correct > 0.5, 0.0, np.inf)
    cheapest_correct = np.argmin(cost + penalty, axis=1)
    cheapest = np.argmin(cost, axis=1)
    chosen: IntArray = np.where(correct.max(axis=1) > 0.5, cheapest_correct, cheapest).astype(np.int64)
    return chosen


def resample_weights(prompts: int, draws: int, seed: int) -> FloatArray:
    """Bootstrap resamples of the prompts as weights: row ``b`` holds how often each prompt was drawn in resample
    ``b``, divided by the number of prompts, so that ``weights @ per_prompt`` is each resample's mean."""
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(prompts, np.full(prompts, 1.0 / prompts), size=draws)
    weights: FloatArray = counts.astype(np.float64) / prompts
    return weights


def interval(values: FloatArray | Sequence[float], coverage: float = INTERVAL) -> tuple[float, float]:
    """The percentile interval of bootstrap values."""
    tail = (1.0 - coverage) / 2 * 100
    low, high = np.percentile(np.asarray(values, dtype=np.float64), [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_aiq(qualities: FloatArray, costs: FloatArray, singles: tuple[FloatArray, FloatArray]) -> FloatArray:
    """AIQ of a router in each resample: ``qualities`` and ``costs`` are resamples x settings (each setting's mean in
    that resample), ``singles`` the single models' (qualities, costs), resamples x models, which give each resample's
    cost range."""
    values = np.empty(len(qualities))
    for row in range(len(qualities)):
        low, high = float(singles[1][row].min()), float(singles[1][row].max())
        points = [Point(float(c), float(q)) for c, q in zip(costs[row], qualities[row], strict=True)]
        values[row] = aiq(points, low, high)
    return values
