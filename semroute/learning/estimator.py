"""Per route and model, a calibrated estimate of P(success | task), fitted on observations.

Per route and model of the route's chain:

- **Neighbours**: the past tasks nearest in embedding space that this model was tried on and that are actually
  similar (cosine at least ``similarity_floor``), each weighted by its similarity (``exp((s - s_best) /
  temperature)``) and its inverse propensity (served traffic is biased towards the models the router picked;
  exploration's recorded probabilities undo that), shrunk towards the model's overall success rate on the route with
  ``prior_strength`` pseudo-tasks: thin evidence gives the route's rate, not noise. The floor is absolute: the
  nearest of a far-away neighbourhood is no evidence, however near its companions are to it.
- **A linear model of the embedding** (logistic regression, inverse-propensity weighted): what separates successes
  from failures along directions the nearest neighbours see only locally.
- **The route's pooled difficulty**, from every model's outcomes at once (a task most models fail is hard for the
  next one too): the success rate of the nearest tasks over all models, and a logistic regression of the embedding
  fitted on all models' outcomes, which rests on as many outcomes as the route has, not one model's share.
- **A calibrator** (logistic regression) over the four estimates' log-odds and the task's structure (estimated
  tokens, code block, file paths, question marks, instructions), fitted on out-of-fold estimates so that it learns
  how far to trust each one; its output is the probability. Keep it well regularised (``calibration``): where the
  signal is weak, as on public benchmarks, an estimate that strays from the model's rate on noise makes the choice
  mix models at random, which costs quality at equal cost (``make bench-cost`` picks 0.003-0.01 on validation
  there; the default, 0.1, still lets a strong signal through, as in the tests' hand-made clusters).

A model with fewer than ``min_evidence`` observations on a route gets no estimate: the static choice stands. A task
with fewer than ``min_similar`` similar past tasks of a model lies outside what was observed: the regressions and the
calibrator would only extrapolate there, so its estimate is shrunk to the model's rate on the route (all the way with
none), and the chooser gives the model no estimate for that task (:mod:`semroute.learning.chooser`). The calibrator's
structural inputs are also held within ``structure_clip`` standard deviations of what it was fitted on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import faiss
import numpy as np
import numpy.typing as npt

from semroute.features import STRUCTURAL_FEATURES
from semroute.learning.observations import Observation

FloatArray = npt.NDArray[np.float64]
_EPSILON = 1e-4
_ESTIMATES = 4  # the calibrator's first inputs: the four estimates' log-odds; the structural features follow


@dataclass(frozen=True)
class LearnerSettings:
    """How the estimator learns; the defaults suit a few hundred to a few thousand outcomes per route."""

    neighbours: int = 24
    temperature: float = 0.05  # similarity scale of the neighbours' weights
    # cosine below which a past task is no evidence about a task. all-MiniLM-L6-v2 puts paraphrases of a task at
    # 0.55-0.92; pairs of tasks of different bundled routes below 0.31 (99th percentile); a bundled route's task and
    # its nearest RouterBench prompt at 0.23 (median; 99th percentile 0.42-0.44), a code fix and the nearest
    # ARC-Challenge question at 0.18; a RouterBench test prompt and its nearest train prompt of the same family at
    # 0.51-0.95 (5th-95th percentile). At 0.5, 1-4 % of those in-family prompts would have no evidence at all.
    similarity_floor: float = 0.4
    min_similar: int = 1  # similar past tasks below which a task's estimate is shrunk to the route rate (pro rata)
    structure_clip: float = 3.0  # standard deviations the calibrator's structural inputs are clipped to
    prior_strength: float = 4.0  # pseudo-tasks at the route's success rate added to every neighbourhood
    min_evidence: int = 20  # observations of a model on a route below which it gets no estimate
    regularisation: float = 0.3  # inverse L2 strength of the embedding's logistic regressions (per model, pooled)
    max_weight: float = 20.0  # inverse-propensity weights are clipped here (a 1 % exploration gives 100)
    calibration: float = 0.1  # inverse L2 strength of the calibrator (smaller: closer to each model's rate)
    folds: int = 5  # out-of-fold estimates for the calibrator
    seed: int = 0


@dataclass(frozen=True)
class TaskEstimate:
    """One model's estimate for one task."""

    success: float  # calibrated P(success)
    similar: int  # past tasks of this model at or above the similarity floor (of the nearest ``neighbours``)


@dataclass
class ModelEstimator:
    """What was learned about one model on one route."""

    model: str
    vectors: npt.NDArray[np.float32]  # (n, dim) unit vectors of the tasks this model was tried on
    rates: FloatArray  # (n,) 1.0 success, 0.0 failure
    weights: FloatArray  # (n,) clipped inverse-propensity weights
    prior: float  # weighted success rate on the route
    embedding_coef: FloatArray  # (dim,)
    embedding_intercept: float
    calibrator_coef: FloatArray  # (features,)
    calibrator_intercept: float
    calibrator_mean: FloatArray
    calibrator_scale: FloatArray
    mean_cost_usd: float | None
    mean_output_tokens: float | None
    _index: object = field(default=None, repr=False)

    @property
    def evidence(self) -> int:
        """Observations this estimate rests on."""
        return len(self.rates)

    def index(self) -> object:
        """The FAISS inner-product index over :attr:`vectors`, built on first use."""
        if self._index is None:
            self._index = _inner_product_index(self.vectors)
        return self._index


@dataclass
class RouteDifficulty:
    """How hard the tasks near a task were for every model tried on them: the pooled evidence of all models (a task
    most models fail is hard for the next one too), which a single model's few outcomes cannot give."""

    vectors: npt.NDArray[np.float32]  # (n, dim) every task of the route with an outcome
    rates: FloatArray  # (n,) weighted success rate of each task over the models tried on it
    weights: FloatArray  # (n,) how many model outcomes each rate rests on (propensity weighted)
    prior: float
    embedding_coef: FloatArray  # (dim,) the pooled logistic regression of the embedding
    embedding_intercept: float
    # task id -> the pooled regression's estimate from a fit without that task: the calibrator's input when fitting
    out_of_fold: dict[str, float] = field(default_factory=dict, repr=False)
    _index: object = field(default=None, repr=False)

    def index(self) -> object:
        """The FAISS inner-product index over :attr:`vectors`, built on first use."""
        if self._index is None:
            self._index = _inner_product_index(self.vectors)
        return self._index

    def linear(self, queries: npt.NDArray[np.float32]) -> FloatArray:
        """The pooled logistic regression's success estimate of each query."""
        return _sigmoid(queries.astype(np.float64) @ self.embedding_coef + self.embedding_intercept)


@dataclass
class LearnedModels:
    """Every route's estimators, and the settings they were learned with."""

    settings: LearnerSettings
    routes: dict[str, dict[str, ModelEstimator]]
    difficulty: dict[str, RouteDifficulty] = field(default_factory=dict)

    def models(self, route: str) -> tuple[str, ...]:
        """The models of ``route`` that have an estimate."""
        return tuple(self.routes.get(route, {}))

    def estimator(self, route: str, model: str) -> ModelEstimator | None:
        """The estimator of ``model`` on ``route``, or None when it has too little evidence."""
        return self.routes.get(route, {}).get(model)

    def estimate(
        self,
        route: str,
        model: str,
        vectors: npt.NDArray[np.float32],
        features: Sequence[Mapping[str, float]],
    ) -> list[TaskEstimate] | None:
        """``model``'s estimates for tasks of ``route`` (row ``i`` of ``vectors`` and ``features[i]`` are task
        ``i``), or None when the model has no estimate on that route."""
        estimator = self.estimator(route, model)
        if estimator is None:
            return None
        settings = self.settings
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        knn, similar = _neighbours(estimator, queries, settings, exclude_self=False)
        difficulty = self.difficulty[route]
        pooled, _ = _neighbours(difficulty, queries, settings, exclude_self=False)
        linear = _sigmoid(queries.astype(np.float64) @ estimator.embedding_coef + estimator.embedding_intercept)
        estimates = np.column_stack([_logit(knn), _logit(linear), _logit(pooled), _logit(difficulty.linear(queries))])
        success = _calibrated(estimator, estimates, features, settings.structure_clip)
        # outside what was observed the regressions and the calibrator extrapolate: back to the route rate
        support = np.minimum(similar / settings.min_similar, 1.0) if settings.min_similar > 0 else np.ones(len(similar))
        success = estimator.prior + support * (success - estimator.prior)
        return [TaskEstimate(float(p), int(n)) for p, n in zip(success, similar, strict=True)]


def fit(
    observations: Sequence[Observation],
    settings: LearnerSettings | None = None,
    chains: Mapping[str, Collection[str]] | None = None,
) -> LearnedModels:
    """Learn every (route, model) pair with at least ``min_evidence`` observations; given ``chains`` (per route the
    models of its chain), only the chain's models of each route, a route without a chain none. Every model's
    outcomes count toward the route's pooled difficulty all the same."""
    settings = settings or LearnerSettings()
    grouped: dict[str, dict[str, list[Observation]]] = defaultdict(lambda: defaultdict(list))
    for observation in observations:
        grouped[observation.route][observation.model].append(observation)
    learned = LearnedModels(settings, {})
    for route, by_model in sorted(grouped.items()):
        wanted = by_model if chains is None else {m: rows for m, rows in by_model.items() if m in chains.get(route, ())}
        evidenced = {model: rows for model, rows in sorted(wanted.items()) if len(rows) >= settings.min_evidence}
        if not evidenced:
            continue
        difficulty = route_difficulty([row for rows in by_model.values() for row in rows], settings)
        learned.difficulty[route] = difficulty
        learned.routes[route] = {
            model: fit_model(model, rows, difficulty, settings) for model, rows in evidenced.items()
        }
    return learned


def route_difficulty(rows: Sequence[Observation], settings: LearnerSettings) -> RouteDifficulty:
    """Each task's success rate over every model tried on it (propensity weighted), and a logistic regression of the
    embedding on every model's outcomes (with its out-of-fold estimate of each task, for the calibrators)."""
    tasks: dict[str, list[Observation]] = defaultdict(list)
    for row in rows:
        tasks[row.task_id].append(row)
    vectors = np.stack([outcomes[0].embedding for outcomes in tasks.values()]).astype(np.float32)
    rates, weights, successes, failures = [], [], [], []
    for outcomes in tasks.values():
        weight = propensity_weights(outcomes, settings)
        labels = success_labels(outcomes)
        rates.append(float(np.average(labels, weights=weight)))
        weights.append(float(weight.sum()) / len(outcomes))
        successes.append(float((weight * labels).sum()))
        failures.append(float((weight * (1 - labels)).sum()))
    rate_array, weight_array = np.array(rates), np.array(weights)
    prior = float(np.average(rate_array, weights=weight_array))
    intercept = float(_logit(np.array([prior]))[0])
    difficulty = RouteDifficulty(vectors, rate_array, weight_array, prior, np.zeros(vectors.shape[1]), intercept)
    outcome_weights = np.array([successes, failures])  # (2, n): each task's weighted successes and failures
    if outcome_weights.min(axis=1).max() <= 0:
        difficulty.out_of_fold = dict.fromkeys(tasks, prior)  # every outcome alike: nothing to separate
        return difficulty
    folds = np.random.default_rng(settings.seed).permutation(len(tasks)) % settings.folds
    estimates = np.full(len(tasks), prior)
    for fold in range(settings.folds):
        held, kept = folds == fold, folds != fold
        pooled = _pooled_logistic(vectors[kept], outcome_weights[:, kept], settings.regularisation)
        if pooled is not None:
            estimates[held] = _sigmoid(vectors[held].astype(np.float64) @ pooled[0] + pooled[1])
    fitted = _pooled_logistic(vectors, outcome_weights, settings.regularisation)
    if fitted is not None:
        difficulty.embedding_coef, difficulty.embedding_intercept = fitted
    difficulty.out_of_fold = dict(zip(tasks, np.clip(estimates, _EPSILON, 1 - _EPSILON).tolist(), strict=True))
    return difficulty


def _pooled_logistic(
    vectors: npt.NDArray[np.float32], outcome_weights: FloatArray, inverse_strength: float
) -> tuple[FloatArray, float] | None:
    """A logistic regression of every model's outcomes on the task's embedding: each task enters as a success and a
    failure, weighted by how many outcomes of each it had (None when the outcomes do not separate)."""
    successes, failures = outcome_weights
    if successes.sum() <= 0 or failures.sum() <= 0:
        return None
    inputs = np.concatenate([vectors, vectors])
    labels = np.concatenate([np.ones(len(vectors)), np.zeros(len(vectors))])
    weights = np.concatenate([successes, failures])
    present = weights > 0
    return _logistic(inputs[present], labels[present], weights[present], inverse_strength)


def fit_model(
    model: str, rows: Sequence[Observation], difficulty: RouteDifficulty, settings: LearnerSettings
) -> ModelEstimator:
    """Learn one model on one route from its observations there."""
    vectors = np.stack([row.embedding for row in rows]).astype(np.float32)
    labels, weights = success_labels(rows), propensity_weights(rows, settings)
    prior = float(np.average(labels, weights=weights))
    costs = [row.cost_usd for row in rows if row.cost_usd is not None]
    outputs = [row.output_tokens for row in rows if row.output_tokens is not None]
    inputs = _ESTIMATES + len(STRUCTURAL_FEATURES)
    estimator = ModelEstimator(
        model=model,
        vectors=vectors,
        rates=labels,
        weights=weights,
        prior=prior,
        embedding_coef=np.zeros(vectors.shape[1]),
        embedding_intercept=float(_logit(np.array([prior]))[0]),
        calibrator_coef=np.eye(1, inputs)[0],  # until fitted: the shrunk neighbour rate as it is
        calibrator_intercept=0.0,
        calibrator_mean=np.zeros(inputs),
        calibrator_scale=np.ones(inputs),
        mean_cost_usd=float(np.mean(costs)) if costs else None,
        mean_output_tokens=float(np.mean(outputs)) if outputs else None,
    )
    if labels.min() == labels.max():
        return estimator  # one outcome only: nothing to separate
    knn, _ = _neighbours(estimator, vectors, settings, exclude_self=True)
    pooled, _ = _neighbours(difficulty, vectors, settings, exclude_self=True)
    linear = _out_of_fold(vectors, labels, weights, settings)
    pooled_linear = np.array([difficulty.out_of_fold.get(row.task_id, difficulty.prior) for row in rows])
    estimates = np.column_stack([_logit(knn), _logit(linear), _logit(pooled), _logit(pooled_linear)])
    table = np.column_stack([estimates, _structure([row.features for row in rows])])
    estimator.calibrator_mean = table.mean(axis=0)
    estimator.calibrator_scale = np.where(table.std(axis=0) > 1e-9, table.std(axis=0), 1.0)
    scaled = _scaled(estimator, table, settings.structure_clip)
    estimator.calibrator_coef, estimator.calibrator_intercept = _logistic(scaled, labels, weights, settings.calibration)
    estimator.embedding_coef, estimator.embedding_intercept = _logistic(
        vectors, labels, weights, settings.regularisation
    )
    return estimator


def success_labels(rows: Sequence[Observation]) -> FloatArray:
    """1.0 for each successful observation, 0.0 for each failed one."""
    return np.array([1.0 if row.success else 0.0 for row in rows])


def propensity_weights(rows: Sequence[Observation], settings: LearnerSettings) -> FloatArray:
    """Clipped inverse-propensity weights: a model picked with probability p stands for 1/p such tasks."""
    inverse = np.array([1.0 / max(row.propensity, _EPSILON) for row in rows], dtype=np.float64)
    clipped: FloatArray = np.minimum(inverse, settings.max_weight)
    return clipped


def _out_of_fold(
    vectors: npt.NDArray[np.float32], labels: FloatArray, weights: FloatArray, settings: LearnerSettings
) -> FloatArray:
    """The embedding model's estimate of each task from a model fitted without it (k folds)."""
    folds = np.random.default_rng(settings.seed).permutation(len(labels)) % settings.folds
    estimates = np.empty(len(labels))
    for fold in range(settings.folds):
        held, kept = folds == fold, folds != fold
        if labels[kept].min() == labels[kept].max():
            estimates[held] = labels[kept][0]
            continue
        coef, intercept = _logistic(vectors[kept], labels[kept], weights[kept], settings.regularisation)
        estimates[held] = _sigmoid(vectors[held].astype(np.float64) @ coef + intercept)
    return np.clip(estimates, _EPSILON, 1 - _EPSILON)


def _logistic(
    inputs: npt.NDArray[Any], labels: FloatArray, weights: FloatArray, inverse_strength: float
) -> tuple[FloatArray, float]:
    from sklearn.linear_model import LogisticRegression  # imported when learning, never when serving

    model = LogisticRegression(C=inverse_strength, max_iter=1000)
    model.fit(inputs, labels.astype(int), sample_weight=weights / weights.mean())
    return np.asarray(model.coef_[0], dtype=np.float64), float(model.intercept_[0])


class _Neighbourhood(Protocol):
    rates: FloatArray
    weights: FloatArray
    prior: float

    def index(self) -> object: ...


def _neighbours(
    source: _Neighbourhood, queries: npt.NDArray[np.float32], settings: LearnerSettings, *, exclude_self: bool
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The shrunk, similarity- and propensity-weighted success rate of each query's nearest tasks at or above the
    similarity floor (none: the prior), and how many of them there are."""
    wanted = min(settings.neighbours + int(exclude_self), len(source.rates))
    index: Any = source.index()
    similarities, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), wanted)
    if exclude_self:  # each training task's own row is its nearest: leave it out
        similarities, rows = similarities[:, 1:], rows[:, 1:]
    similar = (rows >= 0) & (similarities >= settings.similarity_floor)
    rows = np.where(similar, rows, 0)
    nearest = similarities[:, :1]
    kernel = np.exp((similarities - nearest) / settings.temperature) * source.weights[rows] * similar
    successes = (kernel * source.rates[rows]).sum(axis=1)
    strength = settings.prior_strength
    estimate = (successes + strength * source.prior) / (kernel.sum(axis=1) + strength)
    return np.clip(estimate, _EPSILON, 1 - _EPSILON), similar.sum(axis=1).astype(np.int64)


def _calibrated(
    estimator: ModelEstimator, estimates: FloatArray, features: Sequence[Mapping[str, float]], clip: float
) -> FloatArray:
    table = np.column_stack([estimates, _structure(features)])
    return _sigmoid(_scaled(estimator, table, clip) @ estimator.calibrator_coef + estimator.calibrator_intercept)


def _scaled(estimator: ModelEstimator, table: FloatArray, clip: float) -> FloatArray:
    """The calibrator's inputs standardised, the structural ones held within ``clip`` standard deviations of the
    tasks it was fitted on (a structure never seen, e.g. ten file paths, is no licence to extrapolate)."""
    scaled = (table - estimator.calibrator_mean) / estimator.calibrator_scale
    scaled[:, _ESTIMATES:] = np.clip(scaled[:, _ESTIMATES:], -clip, clip)
    return scaled


def _structure(features: Sequence[Mapping[str, float]]) -> FloatArray:
    """Structural features on a log scale (counts and token numbers span orders of magnitude)."""
    raw = np.array([[float(row.get(name, 0.0)) for name in STRUCTURAL_FEATURES] for row in features], dtype=np.float64)
    return np.log1p(np.maximum(raw.reshape(len(features), len(STRUCTURAL_FEATURES)), 0.0))


def _inner_product_index(vectors: npt.NDArray[np.float32]) -> object:
    """An exact FAISS inner-product index over ``vectors`` (unit rows: cosine similarity)."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _sigmoid(values: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-values))


def _logit(values: FloatArray) -> FloatArray:
    clipped = np.clip(values, _EPSILON, 1 - _EPSILON)
    return np.log(clipped / (1 - clipped))
