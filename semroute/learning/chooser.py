"""The learned model choice's view of one request: estimates for the models of a route's chain, computed only when
the decided route asks for them (none for a model whose evidence for this task is thin), and the request's
exploration draw."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import cached_property

import numpy as np
import numpy.typing as npt

from semroute.features import structural_features
from semroute.learning.choice import ModelEstimate
from semroute.learning.estimator import LearnedModels
from semroute.types import ResolvedModel

DEFAULT_OUTPUT_TOKENS = 500  # assumed when no outcome recorded the model's output size
_PER_MILLION = 1_000_000


class LearnedChooser:
    """Implements :class:`semroute.decision.ModelChooser` for one request."""

    def __init__(
        self,
        learned: LearnedModels | None,
        vector: npt.NDArray[np.float32],
        text: str,
        input_tokens: int | None,
        salt: bytes,
    ) -> None:
        self._learned = learned
        self._vector = vector.reshape(1, -1)
        self._text = text
        self._input_tokens = input_tokens
        self._salt = salt

    @cached_property
    def draw(self) -> float:
        """Uniform in [0, 1): a hash of the text under the router's random salt, so that a batch answers exactly as
        one by one, while different servers and restarts draw independently."""
        digest = hashlib.blake2b(self._text.encode("utf-8", "surrogatepass"), key=self._salt, digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    @cached_property
    def _features(self) -> dict[str, float]:
        return structural_features(self._text, self._input_tokens)

    def estimates(self, route: str, chain: Sequence[ResolvedModel]) -> Mapping[str, ModelEstimate]:
        """Estimates of the chain's models (never another: the choice stays within the chain) that have one on
        ``route`` and whose evidence for this task is not thin: a model with fewer than ``min_similar`` past tasks
        similar to this one gets none, so that for a task unlike anything observed the static choice stands and the
        trace says which models had too little evidence."""
        learned = self._learned
        if learned is None:
            return {}
        tokens = self._features["estimated_tokens"]
        found: dict[str, ModelEstimate] = {}
        costs = _expected_costs(learned, route, chain, tokens)
        for model in chain:
            estimate = learned.estimate(route, model.name, self._vector, [self._features])
            if estimate is not None and estimate[0].similar >= learned.settings.min_similar:
                found[model.name] = ModelEstimate(
                    model.name, estimate[0].success, estimate[0].similar, costs[model.name]
                )
        return found


def _expected_costs(
    learned: LearnedModels, route: str, chain: Sequence[ResolvedModel], tokens: float
) -> dict[str, float]:
    """What a call of each model is expected to cost: the mean recorded cost when every model of the chain has one
    (so that they compare like with like), otherwise prices times the input estimate and the mean output size."""
    recorded = {model.name: _mean_cost(learned, route, model.name) for model in chain}
    if all(cost is not None for cost in recorded.values()):
        return {name: float(cost or 0.0) for name, cost in recorded.items()}
    costs: dict[str, float] = {}
    for model in chain:
        estimator = learned.estimator(route, model.name)
        output = estimator.mean_output_tokens if estimator and estimator.mean_output_tokens else DEFAULT_OUTPUT_TOKENS
        costs[model.name] = (tokens * model.input_cost_per_mtok + output * model.output_cost_per_mtok) / _PER_MILLION
    return costs


def _mean_cost(learned: LearnedModels, route: str, model: str) -> float | None:
    estimator = learned.estimator(route, model)
    return estimator.mean_cost_usd if estimator else None
