"""The learned router of ``benchmarks/cost.py`` as the product runs it: estimates from the fitted learner (through
:class:`~semroute.learning.chooser.LearnedChooser` on test), choices by
:func:`~semroute.learning.choice.learned_choice`; its settings and operating point chosen on a cross-validated split
of train. Also the plain logistic-regression baseline, computed the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchmarks._cost_data import GPT4, Family, Prompts
from benchmarks._cost_math import Point, aiq, frontier, single_model_range
from semroute.learning.choice import ChoicePolicy, ChoiceSettings, ModelEstimate, choose
from semroute.learning.chooser import LearnedChooser
from semroute.learning.estimator import LearnedModels, LearnerSettings, fit
from semroute.learning.observations import Observation
from semroute.types import ResolvedModel

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
FOLDS = 5
BASELINE_C = 1.0  # sklearn's default: the "plain" logistic regression
SALT = b"bench-cost"
# The sweep, fixed beforehand and the same for every router: fine where the cost-quality trade is decided (small
# losses, high targets), coarse elsewhere.
LOSSES = tuple(sorted({*np.round(np.arange(0, 0.1, 0.0025), 4), *np.round(np.arange(0.1, 0.3, 0.01), 3)}))
LOSSES += tuple(np.round(np.arange(0.3, 1.001, 0.05), 3))
TARGETS = (*np.round(np.arange(0.0, 1.0, 0.01), 3), 0.995, 1.0)


@dataclass(frozen=True)
class Setting:
    """One point of the sweep: a goal kind and its value."""

    kind: str  # "max_quality_loss" (relative to the chain's best estimate) or "quality_target" (absolute)
    value: float

    def choice(self) -> ChoiceSettings:
        """The route's ``choice:`` block of this setting (exploration off)."""
        if self.kind == "quality_target":
            return ChoiceSettings(ChoicePolicy.LEARNED, quality_target=self.value)
        return ChoiceSettings(ChoicePolicy.LEARNED, max_quality_loss=self.value)

    def label(self) -> str:
        """``max_quality_loss=0.05`` and the like."""
        return f"{self.kind}={self.value:g}"


SWEEP = tuple(Setting("max_quality_loss", float(x)) for x in LOSSES) + tuple(
    Setting("quality_target", float(x)) for x in TARGETS
)


@dataclass(frozen=True)
class Estimates:
    """Every model's estimated success per prompt (prompts x models) and each model's expected cost (the chooser's:
    its mean recorded cost)."""

    success: FloatArray
    expected_cost: FloatArray


def folds_of(prompts: Prompts) -> IntArray:
    """The cross-validation fold of each train prompt (from its task id: stable across runs)."""
    digests = [int(hashlib.sha256(task.encode()).hexdigest()[:8], 16) for task in prompts.task_ids]
    return np.array(digests, dtype=np.int64) % FOLDS


def batch_estimates(learned: LearnedModels, route: str, models: Sequence[str], prompts: Prompts) -> Estimates:
    """Estimates of many prompts at once (``LearnedModels.estimate``, the function the chooser calls per request)."""
    success = np.column_stack(
        [
            [item.success for item in learned.estimate(route, model, prompts.vectors, prompts.features) or ()]
            for model in models
        ]
    )
    return Estimates(success, _mean_costs(learned, route, models))


def chooser_estimates(
    learned: LearnedModels, route: str, models: Sequence[str], chain: Sequence[ResolvedModel], prompts: Prompts
) -> Estimates:
    """Estimates as serving computes them: one :class:`LearnedChooser` per prompt over the route's chain (models
    outside the chain get none: NaN, cost 0)."""
    column = {model: j for j, model in enumerate(models)}
    success = np.full((len(prompts.task_ids), len(models)), np.nan)
    costs = np.zeros(len(models))
    for i, (vector, text) in enumerate(zip(prompts.vectors, prompts.texts, strict=True)):
        found = LearnedChooser(learned, vector, text, None, SALT).estimates(route, chain)
        for name, estimate in found.items():
            success[i, column[name]] = estimate.success
            costs[column[name]] = estimate.expected_cost_usd
    return Estimates(success, costs)


def _mean_costs(learned: LearnedModels, route: str, models: Sequence[str]) -> FloatArray:
    costs = []
    for model in models:
        estimator = learned.estimator(route, model)
        costs.append(estimator.mean_cost_usd if estimator and estimator.mean_cost_usd is not None else 0.0)
    return np.array(costs)


def choices(estimates: Estimates, models: Sequence[str], chain: Sequence[int], setting: Setting) -> IntArray:
    """The model each prompt starts with under ``setting`` (:func:`~semroute.learning.choice.choose` over the chain's
    models, exploration off), as indices into ``models``."""
    names = [models[j] for j in chain]
    position = {model: j for j, model in enumerate(models)}
    settings = setting.choice()
    picked = np.empty(len(estimates.success), dtype=np.int64)
    for i, row in enumerate(estimates.success):
        found = {  # a model the learner gave no estimate for this task (NaN) is left out, as serving leaves it out
            models[j]: ModelEstimate(models[j], float(row[j]), 0, float(estimates.expected_cost[j]))
            for j in chain
            if np.isfinite(row[j])
        }
        picked[i] = position[choose(GPT4, names, found, settings, draw=0.0, may_explore=False).model]
    return picked


def fast_choices(estimates: Estimates, chain: Sequence[int], setting: Setting, static: int) -> IntArray:
    """The same rule as :func:`choices`, vectorised, for ranking learner settings on validation (the final
    validation and test sweeps go through :func:`choices`)."""
    columns = np.asarray(chain)
    success, cost = estimates.success[:, columns], estimates.expected_cost[columns]
    success = np.where(np.isfinite(success), success, -np.inf)  # no estimate: never adequate, never the best
    if setting.kind == "quality_target":
        floor = np.full((len(success), 1), setting.value)
    else:
        floor = success.max(axis=1, keepdims=True) - setting.value
    adequate = success >= floor - 1e-12
    ranked = np.where(adequate, cost[None, :], np.inf)
    picked = ranked.argmin(axis=1)
    none = ~adequate.any(axis=1)
    picked[none] = success[none].argmax(axis=1)
    chosen: IntArray = columns[picked].astype(np.int64)
    thin = (np.isfinite(success).sum(axis=1) < 2) | ~np.isfinite(estimates.success[:, static])
    chosen[thin] = static  # as learned_choice: too little evidence, the static choice stands
    return chosen


def sweep(
    estimates: Estimates,
    models: Sequence[str],
    chain: Sequence[int],
    *,
    fast: bool = False,
    settings: Sequence[Setting] = SWEEP,
) -> IntArray:
    """The choice of every prompt under every setting (settings x prompts), GPT-4 being the route's static model
    (what stands where the evidence is too thin)."""
    static = list(models).index(GPT4)
    picked = [
        fast_choices(estimates, chain, s, static) if fast else choices(estimates, models, chain, s) for s in settings
    ]
    return np.array(picked, dtype=np.int64)


def hull_chain(prompts: Prompts) -> list[int]:
    """The models on the zero router's hull of ``prompts`` (cheapest first): the chain an operator would configure,
    leaving out every model that another, or a mix of two others, beats at its cost."""
    return sorted(frontier(single_points(prompts)), key=lambda j: float(np.nanmean(prompts.cost[:, j])))


def outcome(prompts: Prompts, picked: IntArray) -> tuple[FloatArray, FloatArray]:
    """Per-prompt quality and cost of the choices ``picked`` (... x prompts, indices into the models)."""
    rows = np.arange(picked.shape[-1])
    return prompts.quality[rows, picked], prompts.cost[rows, picked]


def aiq_gain(prompts: Prompts, picked: IntArray) -> float:
    """AIQ of the sweep's choices minus the zero router's, in points, on ``prompts``."""
    quality, cost = outcome(prompts, picked)
    singles = single_points(prompts)
    low, high = single_model_range(singles)
    points = [Point(float(c), float(q)) for c, q in zip(cost.mean(axis=1), quality.mean(axis=1), strict=True)]
    return 100 * (aiq(points, low, high) - aiq(singles, low, high))


def single_points(prompts: Prompts) -> list[Point]:
    """Each single model's (mean cost, mean quality) on ``prompts``."""
    return [
        Point(float(c), float(q))
        for c, q in zip(np.nanmean(prompts.cost, axis=0), np.nanmean(prompts.quality, axis=0), strict=True)
    ]


def cross_validated(
    family: Family, predict: Callable[[Sequence[Observation], Prompts], Estimates]
) -> tuple[Prompts, Estimates]:
    """Out-of-fold estimates of the train prompts that have every model's result (``predict`` is given the
    observations of the other folds and the held-out prompts)."""
    folds = folds_of(family.train)
    rows = np.flatnonzero(family.train.complete)
    success = np.zeros((len(rows), len(family.models)))
    costs = np.zeros((FOLDS, len(family.models)))
    for fold in range(FOLDS):
        held = set(np.array(family.train.task_ids)[folds == fold])
        kept = [item for item in family.observations if item.task_id not in held]
        place = np.flatnonzero(folds[rows] == fold)
        found = predict(kept, family.train.subset(rows[place]))
        success[place], costs[fold] = found.success, found.expected_cost
    return family.train.subset(rows), Estimates(success, costs.mean(axis=0))


def learner(
    settings: LearnerSettings, route: str, models: Sequence[str]
) -> Callable[[Sequence[Observation], Prompts], Estimates]:
    """The learner fitted on some observations, estimating some prompts."""

    def predict(observations: Sequence[Observation], prompts: Prompts) -> Estimates:
        return batch_estimates(fit(observations, settings), route, models, prompts)

    return predict


def baseline(
    route: str, models: Sequence[str], regularisation: float = BASELINE_C
) -> Callable[[Sequence[Observation], Prompts], Estimates]:
    """A plain logistic regression per model on the embeddings (no neighbours, no calibration, no shrinkage)."""

    def predict(observations: Sequence[Observation], prompts: Prompts) -> Estimates:
        from sklearn.linear_model import LogisticRegression

        success, costs = [], []
        for model in models:
            rows = [item for item in observations if item.model == model and item.route == route]
            labels = np.array([int(item.success) for item in rows])
            fitted = LogisticRegression(C=regularisation, max_iter=2000)
            fitted.fit(np.stack([item.embedding for item in rows]), labels)
            success.append(fitted.predict_proba(prompts.vectors)[:, 1])
            costs.append(float(np.mean([item.cost_usd or 0.0 for item in rows])))
        return Estimates(np.column_stack(success), np.array(costs))

    return predict


def operating_point(prompts: Prompts, picked: IntArray, reference: int, within: float = 0.01) -> int:
    """The setting chosen on validation: the cheapest whose quality is within ``within`` of the reference model's
    (GPT-4's) quality; where none is, the best quality (the cheaper of equals)."""
    quality, cost = outcome(prompts, picked)
    means, costs = quality.mean(axis=1), cost.mean(axis=1)
    floor = float(np.mean(prompts.quality[:, reference])) - within
    close = np.flatnonzero(means >= floor - 1e-12)
    if len(close):
        return int(close[np.argmin(costs[close])])
    return int(min(range(len(means)), key=lambda i: (-means[i], costs[i])))
