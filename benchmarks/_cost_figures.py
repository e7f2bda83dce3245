"""The headline figures of one family on test, each with a 90 % bootstrap interval over the test prompts (the
prompts are resampled; nothing is refitted or re-chosen: the interval is the test sample's uncertainty)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks._cost_math import (
    Point,
    aiq,
    bootstrap_aiq,
    equal_cost_mix,
    interval,
    oracle_choice,
    resample_weights,
    single_model_range,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Figure:
    """A value on the full test set and its bootstrap interval."""

    value: float
    low: float
    high: float

    @classmethod
    def of(cls, value: float, draws: FloatArray) -> Figure:
        """``value`` with the percentile interval of its bootstrap ``draws``."""
        low, high = interval(draws)
        return cls(value, low, high)

    def json(self, digits: int = 4) -> dict[str, Any]:
        """``{"value": ..., "interval90": [low, high]}``."""
        return {"value": round(self.value, digits), "interval90": [round(self.low, digits), round(self.high, digits)]}

    def text(self, scale: float = 1.0, digits: int = 1, sign: bool = False) -> str:
        """``95.2 [94.0, 96.3]``."""
        form = f"{'+' if sign else ''}.{digits}f"
        return f"{self.value * scale:{form}} [{self.low * scale:{form}}, {self.high * scale:{form}}]"


@dataclass(frozen=True)
class Row:
    """One line of a family's table: quality (0-1) and cost (USD per prompt), each with its interval."""

    name: str
    quality: Figure
    cost: Figure
    cost_ratio: Figure  # cost / always-GPT-4's cost


def family_figures(
    models: tuple[str, ...],
    quality: FloatArray,
    cost: FloatArray,
    router: tuple[FloatArray, FloatArray],
    sweeps: dict[str, tuple[FloatArray, FloatArray]],
    reference: int,
    draws: int,
    seed: int,
) -> dict[str, Any]:
    """Every figure of one family.

    Args:
        models: The models, in the column order of ``quality`` and ``cost`` (test prompts x models).
        router: Per-prompt quality and cost of the learned router at its operating point.
        sweeps: Per router (``learned`` and the baselines), per-prompt quality and cost of every setting of its sweep
            (settings x prompts): their AIQ gains.
        reference: GPT-4's column.
    """
    weights = resample_weights(len(quality), draws, seed)
    singles_q, singles_c = weights @ quality, weights @ cost  # resamples x models
    full_singles = [Point(float(c), float(q)) for c, q in zip(cost.mean(axis=0), quality.mean(axis=0), strict=True)]
    low, high = single_model_range(full_singles)

    def row(name: str, per_prompt_quality: FloatArray, per_prompt_cost: FloatArray) -> Row:
        q, c = weights @ per_prompt_quality, weights @ per_prompt_cost
        ratio = c / singles_c[:, reference]
        full_ratio = per_prompt_cost.mean() / cost[:, reference].mean()
        return Row(
            name,
            Figure.of(float(per_prompt_quality.mean()), q),
            Figure.of(float(per_prompt_cost.mean()), c),
            Figure.of(float(full_ratio), ratio),
        )

    rows = [row("learned router", *router), row("always GPT-4", quality[:, reference], cost[:, reference])]
    best = max(range(len(models)), key=lambda j: (quality[:, j].mean(), -cost[:, j].mean()))
    rows.append(row(f"best single in hindsight: {models[best]}", quality[:, best], cost[:, best]))
    mix = equal_cost_mix(full_singles, float(router[1].mean()))
    mixed_q = np.array(
        [
            equal_cost_mix([Point(float(c), float(q)) for c, q in zip(cs, qs, strict=True)], float(rc)).quality
            for qs, cs, rc in zip(singles_q, singles_c, weights @ router[1], strict=True)
        ]
    )
    chosen = oracle_choice(quality, cost)
    prompts = np.arange(len(quality))
    rows.append(row("oracle (cheapest correct model)", quality[prompts, chosen], cost[prompts, chosen]))
    zero_draws = bootstrap_aiq(singles_q, singles_c, (singles_q, singles_c))
    zero = aiq(full_singles, low, high)

    def gain(per_setting: tuple[FloatArray, FloatArray]) -> tuple[Figure, float]:
        q_settings, c_settings = per_setting
        points = [
            Point(float(c), float(q)) for c, q in zip(c_settings.mean(axis=1), q_settings.mean(axis=1), strict=True)
        ]
        value = aiq(points, low, high)
        draws_ = bootstrap_aiq(weights @ q_settings.T, weights @ c_settings.T, (singles_q, singles_c))
        return Figure.of(100 * (value - zero), 100 * (draws_ - zero_draws)), value

    gains = {name: gain(per_setting) for name, per_setting in sweeps.items()}
    learned, gpt4 = rows[0], rows[1]
    delta_draws = 100 * (weights @ router[0] - singles_q[:, reference])
    over_random = Figure.of(100 * (learned.quality.value - mix.quality), 100 * (weights @ router[0] - mixed_q))
    return {
        "rows": rows,
        "random_at_equal_cost": {
            "models": [models[mix.cheap], models[mix.dear]],
            "dear_share": round(mix.dear_share, 4),
            "quality": Figure.of(mix.quality, mixed_q),
            "learned_minus_random_points": over_random,
        },
        "quality_delta": Figure.of(100 * (learned.quality.value - gpt4.quality.value), delta_draws),
        "cost_ratio": learned.cost_ratio,
        "aiq_gain": {name: figure for name, (figure, _) in gains.items()},
        "aiq": {"zero": round(100 * zero, 3), **{name: round(100 * value, 3) for name, (_, value) in gains.items()}},
    }
