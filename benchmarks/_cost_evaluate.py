"""One family's evaluation (learner settings and operating point chosen on a cross-validated split of train, figures
on test), and MBPP's cascade, plain and with a learned start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from benchmarks._cost_cascade import CASCADE, learned_starts, run_cascade, start_settings
from benchmarks._cost_data import GPT4, Family, Prompts, catalog
from benchmarks._cost_figures import Figure, family_figures
from benchmarks._cost_math import Point, frontier, resample_weights
from benchmarks._cost_plot import Panel
from benchmarks._cost_router import (
    SWEEP,
    Estimates,
    Setting,
    aiq_gain,
    baseline,
    chooser_estimates,
    cross_validated,
    hull_chain,
    learner,
    operating_point,
    outcome,
    sweep,
)
from semroute.learning.choice import ChoiceSettings
from semroute.learning.estimator import LearnedModels, LearnerSettings, fit

FloatArray = npt.NDArray[np.float64]
# The learner settings tried on validation (5-fold cross-validation of train), from the defaults to a calibrator that
# stays close to each model's rate unless the evidence is strong; with each, two chains (all 11 models, or only
# those on the train split's zero-router hull). The pair of the best validation AIQ gain is fitted on all of train.
CANDIDATES = (
    LearnerSettings(),
    LearnerSettings(regularisation=0.1, calibration=0.003),
    LearnerSettings(regularisation=0.3, calibration=0.01),
    LearnerSettings(regularisation=1.0, calibration=0.03),
)
NULL_SHUFFLES = 50  # prompt-shuffled copies of the learned router's estimates: how much AIQ gain chance gives
WITHIN = 0.01  # the operating point: the cheapest setting within 1 point of GPT-4's validation quality


@dataclass
class FamilyResult:
    """What one family's evaluation gives."""

    settings: LearnerSettings
    learned: LearnedModels
    json: dict[str, Any]
    figures: dict[str, Any]
    panel: Panel


def evaluate_family(family: Family, draws: int, seed: int) -> FamilyResult:
    """Choose the learner's settings, the chain and the operating point on validation, fit on train, measure on
    test."""
    models, reference = family.models, family.models.index(GPT4)
    chains = {"all 11 models": list(range(len(models))), "train hull": hull_chain(family.train)}
    tried: dict[str, float] = {}
    best: tuple[float, LearnerSettings, str, Prompts, Estimates] | None = None
    for settings in CANDIDATES:
        prompts, estimates = cross_validated(family, learner(settings, family.name, models))
        for name, chain in chains.items():
            gain = aiq_gain(prompts, sweep(estimates, models, chain, fast=True))
            tried[f"{_describe(settings)}; chain: {name}"] = round(gain, 3)
            if best is None or gain > best[0]:
                best = (gain, settings, name, prompts, estimates)
    assert best is not None
    _, settings, chain_name, validation, estimates = best
    chain = chains[chain_name]
    validation_picks = sweep(estimates, models, chain)
    chosen = operating_point(validation, validation_picks, reference, WITHIN)
    val_quality, val_cost = outcome(validation, validation_picks[chosen])
    # the settings on the validation curve's hull: the sweep as validation would prune it, measured on test as is
    val_q, val_c = outcome(validation, validation_picks)
    validated = frontier([_point(c, q) for c, q in zip(val_c.mean(axis=1), val_q.mean(axis=1), strict=True)])

    learned = fit(family.observations, settings)
    prices = catalog({model: float(np.nanmean(family.train.cost[:, j])) for j, model in enumerate(models)})
    test = family.test
    test_estimates = chooser_estimates(learned, family.name, models, [prices[models[j]] for j in chain], test)
    regression = baseline(family.name, models)(family.observations, test)
    test_picks = sweep(test_estimates, models, chain)
    sweeps = {
        "learned": outcome(test, test_picks),
        "learned_validated_settings": outcome(test, test_picks[validated]),
        "baseline": outcome(test, sweep(regression, models, chain, fast=True)),
        "baseline_all_models": outcome(test, sweep(regression, models, chains["all 11 models"], fast=True)),
    }
    sweep_q, sweep_c = sweeps["learned"]
    router = (sweep_q[chosen], sweep_c[chosen])
    figures = family_figures(models, test.quality, test.cost, router, sweeps, reference, draws, seed)
    figures["null_aiq_gain"] = _null_gains(test, test_estimates, models, chain, SWEEP, seed)
    figures["null_aiq_gain_validated_settings"] = _null_gains(
        test, test_estimates, models, chain, [SWEEP[i] for i in validated], seed
    )
    setting = SWEEP[chosen]
    summary = {
        "validation_aiq_gain_tried": tried,
        "learner_settings": _describe(settings),
        "chain": [models[j] for j in chain],
        "chain_chosen": chain_name,
        "operating_point": setting.label(),
        "validated_settings": [SWEEP[i].label() for i in validated],
        "validation": {
            "prompts": len(validation.task_ids),
            "aiq_gain_points": tried[f"{_describe(settings)}; chain: {chain_name}"],
            "quality": round(float(val_quality.mean()), 4),
            "gpt4_quality": round(float(validation.quality[:, reference].mean()), 4),
            "cost_ratio": round(float(val_cost.mean() / validation.cost[:, reference].mean()), 4),
        },
        "test_prompts": len(test.task_ids),
        "test_prompts_left_out_blank": family.test_dropped,
    }
    base_q, base_c = sweeps["baseline"]
    panel = Panel(
        title=f"{family.title} (test, {len(test.task_ids)} prompts)",
        models=models,
        singles=[_point(c, q) for c, q in zip(test.cost.mean(axis=0), test.quality.mean(axis=0), strict=True)],
        router=[_point(c, q) for c, q in zip(sweep_c.mean(axis=1), sweep_q.mean(axis=1), strict=True)],
        operating=_point(router[1].mean(), router[0].mean()),
        operating_label=setting.label().replace("max_quality_loss", "loss").replace("quality_target", "target"),
        baseline=[_point(c, q) for c, q in zip(base_c.mean(axis=1), base_q.mean(axis=1), strict=True)],
        reference=GPT4,
    )
    return FamilyResult(settings, learned, summary, figures, panel)


def _null_gains(
    test: Prompts,
    estimates: Estimates,
    models: tuple[str, ...],
    chain: list[int],
    settings: Sequence[Setting],
    seed: int,
) -> dict[str, float]:
    """The AIQ gain of routers that know nothing about the prompt: the learned router's test estimates shuffled
    across the prompts (each model keeps its spread of estimates), swept and measured the same way. The hull over a
    sweep measured on the same prompts picks the luckiest settings, so even these gain something; the learned
    router's gain means something only well above theirs."""
    rng = np.random.default_rng(seed)
    gains = []
    for _ in range(NULL_SHUFFLES):
        shuffled = Estimates(estimates.success[rng.permutation(len(test.task_ids))], estimates.expected_cost)
        gains.append(aiq_gain(test, sweep(shuffled, models, chain, fast=True, settings=settings)))
    return {"mean": float(np.mean(gains)), "p95": float(np.percentile(gains, 95)), "shuffles": NULL_SHUFFLES}


def _point(cost: float, quality: float) -> Point:
    return Point(float(cost), float(quality))


def evaluate_cascade(
    family: Family, settings: LearnerSettings, learned: LearnedModels, draws: int, seed: int
) -> dict[str, Any]:
    """MBPP: GPT-4 alone, the cheapest-first cascade, and the cascade started where the learner says (its setting
    chosen on validation: the cheapest whose validation quality is within 1 point of the plain cascade's)."""
    models = family.models
    prices = catalog({model: float(np.nanmean(family.train.cost[:, j])) for j, model in enumerate(models)})
    columns = [models.index(name) for name in CASCADE]
    validation, estimates = cross_validated(family, learner(settings, family.name, models))
    plain_steps = [CASCADE] * len(validation.task_ids)
    plain_q, plain_c, _ = run_cascade(validation, models, prices, plain_steps)
    tried = []
    for choice in start_settings():
        starts = learned_starts(estimates.success[:, columns], estimates.expected_cost[columns], choice, prices)
        quality, cost, _ = run_cascade(validation, models, prices, starts)
        tried.append((choice, float(quality.mean()), float(cost.mean())))
    close = [item for item in tried if item[1] >= plain_q.mean() - WITHIN - 1e-12]
    chosen: ChoiceSettings = min(close, key=lambda item: item[2])[0] if close else tried[0][0]

    test = family.test
    test_estimates = chooser_estimates(learned, family.name, models, [prices[name] for name in CASCADE], test)
    runs = {
        "gpt-4 alone": run_cascade(test, models, prices, [(GPT4,)] * len(test.task_ids)),
        "cascade": run_cascade(test, models, prices, [CASCADE] * len(test.task_ids)),
        "cascade, learned start": run_cascade(
            test,
            models,
            prices,
            learned_starts(test_estimates.success[:, columns], test_estimates.expected_cost[columns], chosen, prices),
        ),
    }
    weights = resample_weights(len(test.task_ids), draws, seed + 1)
    gpt4_q, gpt4_c, _ = runs["gpt-4 alone"]
    result: dict[str, Any] = {"steps": " -> ".join(CASCADE), "learned_start_setting": _choice_label(chosen)}
    for name, (quality, cost, calls) in runs.items():
        result[name] = {
            "quality": Figure.of(float(quality.mean()), weights @ quality),
            "cost": Figure.of(float(cost.mean()), weights @ cost),
            "quality_delta": Figure.of(
                100 * float(quality.mean() - gpt4_q.mean()), 100 * (weights @ quality - weights @ gpt4_q)
            ),
            "cost_ratio": Figure.of(float(cost.mean() / gpt4_c.mean()), (weights @ cost) / (weights @ gpt4_c)),
            "calls_per_prompt": round(float(calls.mean()), 3),
        }
    result["validation"] = {
        "prompts": len(validation.task_ids),
        "plain": {"quality": round(float(plain_q.mean()), 4), "cost": round(float(plain_c.mean()), 7)},
        "learned_starts_tried": {
            _choice_label(choice): {"quality": round(quality, 4), "cost": round(cost, 7)}
            for choice, quality, cost in tried
        },
        "chosen": {
            "quality": round(next(q for c, q, _ in tried if c == chosen), 4),
            "cost": round(next(k for c, _, k in tried if c == chosen), 7),
        },
    }
    return result


def _describe(settings: LearnerSettings) -> str:
    default = LearnerSettings()
    changed = {key: value for key, value in vars(settings).items() if getattr(default, key) != value}
    return ", ".join(f"{key}={value:g}" for key, value in changed.items()) or "defaults"


def _choice_label(settings: ChoiceSettings) -> str:
    if settings.quality_target is not None:
        return f"quality_target={settings.quality_target:g}"
    return f"max_quality_loss={settings.max_quality_loss:g}"
