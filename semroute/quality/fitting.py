"""Fit the decision parameters on a validation set: global threshold, margin, blend weights, per-route thresholds.

The objective is stated, not implied: maximise in-scope accuracy subject to out-of-scope recall of at least
``min_oos_recall``, where the recall counted is a one-sided Wilson lower bound at ``confidence`` over the validation
out-of-scope items. The bound, rather than the observed recall, keeps a fit on a hundred out-of-scope items from
choosing a threshold that only just clears the target on those items and misses it on new ones. Without out-of-scope
items there is nothing to reject: the rejection thresholds (global and per route) stay as the index has them, and the
margin and blend are fitted for plain accuracy.

The search works on a :class:`.sweep.Sweep`, signals computed once, so it is seconds for thousands of items:

1. the global threshold (quantiles of the items' best scores) and the margin (a grid), with the index's blend;
2. the blend: every blend of the simplex grid (weights summing to 1), each with every threshold and margin;
3. per-route thresholds: each route's threshold moves within a band around the global one to keep more of its own
   items and reject more out-of-scope ones (a Lagrangian trade, per route).

Steps 2 and 3 have many more degrees of freedom than a validation set of a few hundred items can pin down, and on
small sets they overfit (on the bundled routes' 128 validation items a fitted blend gained 2 points there and lost 3
on the test set). So each is a *gate*: adopted only when it beats the simpler fit in k-fold cross-validation on the
validation set itself (each fold decided by parameters fitted on the others).

This module does no I/O: it sees only the validation items it is handed, so it cannot read a test split.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from semroute.quality.datasets import DEFAULT_OOS_LABEL
from semroute.quality.operating_points import CurvePoint, Outcome, Targets, outcome, tradeoff_curve
from semroute.quality.sweep import Indices, Scored, Sweep
from semroute.schema import Blend, FittedParameters
from semroute.signals import SIGNAL_NAMES
from semroute.task_part import EmbedPart

DEFAULT_MIN_OOS_RECALL = 0.8
DEFAULT_CONFIDENCE = 0.95
GATE_SIGNIFICANCE = 0.05  # p-value below which a refinement's held-out gain is taken as real
_SEED = 20240401  # fixed: the same validation set always gives the same folds and the same fit


@dataclass(frozen=True)
class Objective:
    """Maximise in-scope accuracy subject to out-of-scope recall >= ``min_oos_recall`` at ``confidence``."""

    min_oos_recall: float = DEFAULT_MIN_OOS_RECALL
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_oos_recall <= 1.0:
            raise ValueError(f"min_oos_recall must be within [0, 1], got {self.min_oos_recall}")
        if not 0.5 <= self.confidence < 1.0:
            raise ValueError(f"confidence must be within [0.5, 1), got {self.confidence}")

    def describe(self) -> str:
        """The objective in words, as recorded in ``fitted.yaml``."""
        return (
            f"maximise in-scope accuracy subject to out-of-scope recall >= {self.min_oos_recall:.2f} "
            f"(one-sided {self.confidence:.0%} Wilson lower bound over the validation out-of-scope items)"
        )

    def recall_bound(self, result: Outcome) -> float | None:
        """Lower confidence bound of the out-of-scope recall (Wilson score interval), None without such items."""
        if not result.oos_items:
            return None
        n, p = result.oos_items, result.oos_rejected / result.oos_items
        z = NormalDist().inv_cdf(self.confidence)
        centre = p + z * z / (2 * n)
        spread = z * ((p * (1 - p) + z * z / (4 * n)) / n) ** 0.5
        bound: float = max(0.0, (centre - spread) / (1 + z * z / n))
        return bound

    def rank(self, result: Outcome) -> tuple[float, ...]:
        """Sort key, larger is better: feasible settings by in-scope accuracy, others by how close they come."""
        bound = self.recall_bound(result)
        if bound is None:
            return (1.0, result.accuracy, 0.0)
        if bound >= self.min_oos_recall - 1e-12:
            return (1.0, result.in_scope_accuracy, bound)
        return (0.0, bound, result.in_scope_accuracy)


@dataclass(frozen=True)
class FitSearch:
    """What the fit may change, and how finely it searches."""

    blend: bool = True
    margin: bool = True
    per_route: bool = True
    threshold_candidates: int = 120
    blend_step: float = 0.25
    margins: tuple[float, ...] = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12)
    bands: tuple[float, ...] = (0.02, 0.05, 0.1)
    exchange_rates: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)  # in-scope items kept per out-of-scope item rejected
    folds: int = 5


@dataclass(frozen=True)
class Gate:
    """A cross-validated check of one refinement: held-out outcomes without and with it, pooled over folds."""

    without: Outcome
    with_it: Outcome
    adopted: bool


@dataclass(frozen=True)
class FitResult:
    """Fitted parameters, how they do on the validation set, and how the index's parameters did before."""

    parameters: FittedParameters
    fitted: Outcome
    before: Outcome
    gates: dict[str, Gate]  # "blend", "per_route": refinements tried, and whether cross-validation kept them
    curve: list[CurvePoint]  # empty without out-of-scope items: there is no trade-off to show
    kept_threshold: float | None = None  # the index's global threshold, when there was nothing to fit it on

    @property
    def thresholds_fitted(self) -> bool:
        """Whether the rejection thresholds were fitted (they are not without out-of-scope items)."""
        return self.kept_threshold is None


_Fitter = Callable[[Sweep, Targets], FittedParameters]


def fit(
    sweep: Sweep,
    labels: Sequence[str],
    *,
    source: str,
    oos_label: str = DEFAULT_OOS_LABEL,
    objective: Objective | None = None,
    search: FitSearch | None = None,
) -> FitResult:
    """Choose the parameters that best meet ``objective`` on these validation items.

    Args:
        sweep: the validation requests scored by the index to fit (signals computed once).
        labels: expected label of each validation item.
        source: where the validation items came from, recorded in the result.
        oos_label: the label meaning "no route should claim this".
        objective: what to maximise (default: in-scope accuracy with out-of-scope recall >= 0.8); without
            out-of-scope items, plain accuracy, and the rejection thresholds are not fitted.
        search: what may change and how finely (default: everything).

    Raises:
        DatasetError: a label names no route of the index.
    """
    objective = objective or Objective()
    search = search or FitSearch()
    if sweep.policy.settings.embedding.part is EmbedPart.BEST_PART:
        # each route's signals are those of the part that won under the index's blend: another blend would pick
        # another part, which these signals cannot show, so a blend fitted on them would not be what serving does
        search = replace(search, blend=False)
    targets = Targets.of(sweep, labels, oos_label, source)
    before = current_parameters(sweep)
    fixed_blend = replace(search, blend=False)
    fit_thresholds = bool(targets.oos.any())  # with nothing to reject, any threshold rejecting nothing would do
    start = before if fit_thresholds else FittedParameters(margin=before.margin, blend=before.blend)

    def threshold_and_margin(s: Sweep, t: Targets) -> FittedParameters:
        return _fit_global(s, t, objective, fixed_blend, start, fit_thresholds)

    def with_blend(s: Sweep, t: Targets) -> FittedParameters:
        return _fit_global(s, t, objective, search, start, fit_thresholds)

    gates: dict[str, Gate] = {}
    best = threshold_and_margin(sweep, targets)
    if search.blend:
        gates["blend"] = _gate(sweep, targets, objective, search.folds, threshold_and_margin, with_blend)
        best = with_blend(sweep, targets) if gates["blend"].adopted else best
    if search.per_route and fit_thresholds:
        chosen = with_blend if gates.get("blend") and gates["blend"].adopted else threshold_and_margin

        def per_route(s: Sweep, t: Targets) -> FittedParameters:
            return _fit_per_route(s, t, objective, search, chosen(s, t))

        gates["per_route"] = _gate(sweep, targets, objective, search.folds, chosen, per_route)
        best = _fit_per_route(sweep, targets, objective, search, best) if gates["per_route"].adopted else best
    items, oos_items = len(targets.expected), int(targets.oos.sum())
    kept = None if fit_thresholds else sweep.policy.settings.score_threshold
    parameters = best.model_copy(
        update={
            "fitted_on": f"{source} ({items} items, {oos_items} out of scope)",
            "objective": objective.describe() if kept is None else describe_without_oos(kept),
        }
    )
    return FitResult(
        parameters=FittedParameters.model_validate(parameters.model_dump()),
        fitted=outcome(sweep.routes(best), targets),
        before=outcome(sweep.routes(before), targets),
        gates=gates,
        curve=tradeoff_curve(sweep, targets, best) if fit_thresholds else [],
        kept_threshold=kept,
    )


def describe_without_oos(kept_threshold: float) -> str:
    """The objective in words when the validation data has no out-of-scope items to fit a threshold on."""
    return (
        "maximise accuracy; the validation data has no out-of-scope items, so the rejection threshold was not "
        f"fitted (kept at {kept_threshold:g})"
    )


def current_parameters(sweep: Sweep) -> FittedParameters:
    """The parameters the index decides with now, per-route thresholds included."""
    settings = sweep.policy.settings
    inherited = {
        name: target.threshold
        for name, target in sweep.policy.routes.items()
        if target.threshold != sweep.own_thresholds.get(name, settings.score_threshold)
    }
    return FittedParameters(
        score_threshold=settings.score_threshold,
        margin=settings.margin,
        blend=settings.blend,
        route_thresholds=inherited,
    )


def _fit_global(
    sweep: Sweep,
    targets: Targets,
    objective: Objective,
    search: FitSearch,
    start: FittedParameters,
    fit_thresholds: bool,
) -> FittedParameters:
    global_start = start.model_copy(update={"route_thresholds": {}})
    blends = _blend_grid(search.blend_step, start.blend) if search.blend else [start.blend]

    def best_of(candidates: Iterable[FittedParameters]) -> FittedParameters:
        found = (_best_threshold(sweep, targets, objective, search, c, fit_thresholds) for c in candidates)
        return max(found, key=lambda pair: objective.rank(pair[1]))[0]

    best = best_of(global_start.model_copy(update={"blend": b}) for b in blends)
    if search.margin:
        margins = [best.margin, *(m for m in search.margins if m != best.margin)]
        best = best_of(best.model_copy(update={"margin": m}) for m in margins)
    return best


def _best_threshold(
    sweep: Sweep,
    targets: Targets,
    objective: Objective,
    search: FitSearch,
    parameters: FittedParameters,
    fit_thresholds: bool = True,
) -> tuple[FittedParameters, Outcome]:
    """The best global threshold for this blend and margin (or, when not ``fit_thresholds``, the ones given).

    Thresholds often tie (a plateau where no item changes side); the middle of the tied ones is taken, the choice
    farthest from flipping items on either side, so that new items near the plateau's edges are least affected.
    """
    scored = sweep.scored(parameters.blend)
    thresholds = (
        _threshold_grid(scored, search.threshold_candidates) if fit_thresholds else [parameters.score_threshold]
    )
    results = [
        (
            threshold,
            outcome(sweep.routes(parameters.model_copy(update={"score_threshold": threshold}), scored), targets),
        )
        for threshold in thresholds
    ]
    best_rank = max(objective.rank(result) for _, result in results)
    tied = [(threshold, result) for threshold, result in results if objective.rank(result) == best_rank]
    threshold, result = tied[len(tied) // 2]
    return parameters.model_copy(update={"score_threshold": threshold}), result


def _threshold_grid(scored: Scored, count: int) -> list[float]:
    """Candidate thresholds, ascending: quantiles of each item's best score, rounded so that what is written is what
    was tried."""
    top = scored.values[:, 0] if scored.values.size else np.zeros(1)
    quantiles = np.quantile(top, np.linspace(0.0, 1.0, count))
    return sorted({round(float(value), 4) for value in np.clip(quantiles, -1.0, 1.0)} | {1.0})


def _blend_grid(step: float, current: Blend | None) -> list[Blend]:
    """Every blend of the registered signals whose weights are multiples of ``step`` summing to 1, the current blend
    first (the last signal takes what the others leave)."""
    parts = round(1 / step)
    grid = [
        Blend(dict(zip(SIGNAL_NAMES, [*(n / parts for n in head), (parts - sum(head)) / parts], strict=True)))
        for head in itertools.product(range(parts + 1), repeat=len(SIGNAL_NAMES) - 1)
        if sum(head) <= parts
    ]
    return list(dict.fromkeys([*([current] if current else []), *grid]))


def _fit_per_route(
    sweep: Sweep, targets: Targets, objective: Objective, search: FitSearch, start: FittedParameters
) -> FittedParameters:
    """Per-route thresholds around ``start``: the best (band, exchange rate) proposal under the objective."""
    scored = sweep.scored(start.blend)
    base = sweep.thresholds(start)
    proposals = (
        _propose(sweep, scored, targets, base, band, rate)
        for band, rate in itertools.product(search.bands, search.exchange_rates)
    )
    candidates = [start, *(start.model_copy(update={"route_thresholds": p}) for p in proposals)]
    return max(candidates, key=lambda c: objective.rank(outcome(sweep.routes(c, scored), targets)))


def _propose(
    sweep: Sweep, scored: Scored, targets: Targets, base: npt.NDArray[np.float64], band: float, rate: float
) -> dict[str, float]:
    """Per route, the threshold offset within +-band that keeps most of its right items plus ``rate`` x the
    out-of-scope items it rejects, judged on the items it scores best (smallest offset on ties)."""
    routes = len(sweep.table.routes)
    top, best = scored.columns[:, 0], scored.values[:, 0]
    right = ~targets.oos & (top == targets.expected)
    offsets = sorted(np.linspace(-band, band, 21), key=abs)
    gains = []
    for offset in offsets:
        kept = right & (best >= base[top] + offset)
        rejected = targets.oos & (best < base[top] + offset)
        gains.append(np.bincount(top[kept], minlength=routes) + rate * np.bincount(top[rejected], minlength=routes))
    chosen = np.asarray(offsets)[np.argmax(np.asarray(gains), axis=0)]
    return {
        name: round(float(np.clip(base[number] + chosen[number], -1.0, 1.0)), 4)
        for number, name in enumerate(sweep.table.routes)
        if chosen[number] != 0.0
    }


def _gate(sweep: Sweep, targets: Targets, objective: Objective, folds: int, without: _Fitter, with_it: _Fitter) -> Gate:
    """Whether a refinement (``with_it``) beats the simpler fit (``without``) on held-out folds of the validation set.

    Each fold is decided by parameters fitted on the other folds; the held-out decisions of all folds are pooled. The
    refinement is adopted when it ranks better under the objective *and* the items it turns right outnumber those it
    turns wrong beyond chance (one-sided sign test): one or two items of difference on a small set are noise.
    """
    assignment = _folds(targets, folds)
    pooled_without = np.zeros(len(targets.expected), dtype=np.int64)
    pooled_with = np.zeros(len(targets.expected), dtype=np.int64)
    for held in _fold_rows(assignment):
        kept = np.flatnonzero(~np.isin(np.arange(len(assignment)), held))
        train_sweep, train_targets = sweep.subset(kept), targets.rows(kept)
        held_sweep = sweep.subset(held)
        pooled_without[held] = held_sweep.routes(without(train_sweep, train_targets))
        pooled_with[held] = held_sweep.routes(with_it(train_sweep, train_targets))
    result_without, result_with = outcome(pooled_without, targets), outcome(pooled_with, targets)
    gained = int(np.sum((pooled_with == targets.expected) & (pooled_without != targets.expected)))
    lost = int(np.sum((pooled_with != targets.expected) & (pooled_without == targets.expected)))
    better = objective.rank(result_with) > objective.rank(result_without)
    return Gate(result_without, result_with, better and sign_test(gained, lost) < GATE_SIGNIFICANCE)


def sign_test(gained: int, lost: int) -> float:
    """One-sided p-value of ``gained`` items or more turning right, of the ``gained + lost`` that changed, by chance."""
    changed = gained + lost
    return sum(math.comb(changed, k) for k in range(gained, changed + 1)) / 2**changed if changed else 1.0


def _folds(targets: Targets, count: int) -> Indices:
    """Fold number of each item, stratified by expected route and out-of-scope flag, reproducibly shuffled."""
    generator = np.random.default_rng(_SEED)
    folds = np.zeros(len(targets.expected), dtype=np.int64)
    strata = targets.expected * 2 + targets.oos
    for stratum in np.unique(strata):
        members = np.flatnonzero(strata == stratum)
        generator.shuffle(members)
        folds[members] = (np.arange(len(members)) + generator.integers(count)) % count
    return folds


def _fold_rows(folds: Indices) -> Iterable[Indices]:
    for fold in np.unique(folds):
        yield np.flatnonzero(folds == fold)
