"""The model choice: after the route is decided, which model of the route's own chain starts (pure logic).

A small registry of policies (:data:`CHOICE_POLICIES`): ``static`` keeps the route file's model; ``learned`` takes,
among the chain's models that have an estimate, the cheapest whose estimated success is good enough, where good
enough is a per-route ``quality_target`` (absolute) or ``max_quality_loss`` (relative to the best estimate of the
chain for this task: the form that works where every model is unlikely to succeed). With fewer than two estimated
models, or without an estimate for the static model, the static choice stands.

Exploration: with probability ``exploration`` a model of the chain is drawn uniformly instead (so outcomes exist for
models the policy would not pick), and the probability with which the served model was chosen is recorded, so that
the learner can weigh each outcome by its inverse. A route whose decision went through a ``final`` rule (data
sovereignty) never explores, and a rule that names the model is never second-guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

DEFAULT_EXPLORATION = 0.02


class ChoicePolicy(StrEnum):
    """How a route's starting model is chosen."""

    STATIC = "static"  # the route file's model
    LEARNED = "learned"  # the cheapest model of the chain whose estimated success is good enough


@dataclass(frozen=True)
class ChoiceSettings:
    """A route's ``choice:`` block, as decisions read it (validated by :class:`semroute.schema.ChoiceSpec`)."""

    policy: ChoicePolicy = ChoicePolicy.STATIC
    quality_target: float | None = None  # absolute: estimated success at least this
    max_quality_loss: float | None = None  # relative: at most this below the chain's best estimate for the task
    exploration: float = 0.0


@dataclass(frozen=True)
class ModelEstimate:
    """What the learner says about one model of the chain for this task."""

    model: str
    success: float  # estimated P(success)
    similar: int  # past tasks close to this one behind the estimate
    expected_cost_usd: float


@dataclass(frozen=True)
class Choice:
    """The model chosen to start with, with what the trace should say."""

    model: str
    policy: ChoicePolicy
    probability: float  # with which this model was chosen (1.0 without exploration)
    explanation: tuple[str, ...] = ()


ChoiceFunction = Callable[[str, Sequence[str], Mapping[str, ModelEstimate], ChoiceSettings], Choice]


def static_choice(
    static: str, chain: Sequence[str], estimates: Mapping[str, ModelEstimate], settings: ChoiceSettings
) -> Choice:
    """The route file's model."""
    return Choice(static, ChoicePolicy.STATIC, 1.0)


def learned_choice(
    static: str, chain: Sequence[str], estimates: Mapping[str, ModelEstimate], settings: ChoiceSettings
) -> Choice:
    """The cheapest model of ``chain`` good enough for the task; ``static`` when the evidence is too thin."""
    known = [estimates[model] for model in chain if model in estimates]
    if len(known) < 2 or static not in estimates:
        missing = [model for model in chain if model not in estimates]
        why = f"learned choice: too little evidence for {', '.join(missing)}; static choice {static} stands"
        return Choice(static, ChoicePolicy.STATIC, 1.0, (why,))
    best = max(known, key=lambda estimate: estimate.success)
    if settings.quality_target is not None:
        floor, rule = settings.quality_target, f"cheapest above {settings.quality_target:.2f}"
    else:
        loss = settings.max_quality_loss or 0.0
        floor, rule = best.success - loss, f"cheapest within {loss:.2f} of the best ({best.model} {best.success:.2f})"
    adequate = [estimate for estimate in known if estimate.success >= floor - 1e-12]
    if adequate:
        chosen = min(adequate, key=lambda estimate: (estimate.expected_cost_usd, -estimate.success))
    else:
        chosen, rule = best, f"none reaches {floor:.2f}: the best estimate"
    seen = "; ".join(
        f"{estimate.model}: {estimate.success:.2f} from {estimate.similar} similar tasks, "
        f"~${estimate.expected_cost_usd:.5f}"
        for estimate in sorted(known, key=lambda estimate: estimate.expected_cost_usd)
    )
    return Choice(chosen.model, ChoicePolicy.LEARNED, 1.0, (f"learned choice: {seen}", f"{chosen.model}: {rule}"))


CHOICE_POLICIES: dict[ChoicePolicy, ChoiceFunction] = {
    ChoicePolicy.STATIC: static_choice,
    ChoicePolicy.LEARNED: learned_choice,
}


def choose(
    static: str,
    chain: Sequence[str],
    estimates: Mapping[str, ModelEstimate],
    settings: ChoiceSettings,
    *,
    draw: float,
    may_explore: bool,
) -> Choice:
    """The starting model: the route's policy, then exploration (``draw`` is uniform in [0, 1))."""
    choice = CHOICE_POLICIES[settings.policy](static, chain, estimates, settings)
    rate = settings.exploration if may_explore and len(chain) > 1 else 0.0
    share = rate / len(chain)
    if share <= 0.0:  # no exploration (a rate so small that its share is 0 is none either)
        return choice
    if draw < rate:
        explored = chain[min(int(draw / share), len(chain) - 1)]
        probability = share + (1.0 - rate if explored == choice.model else 0.0)
        note = f"exploring: {explored} drawn from the chain (rate {rate:.3f}, probability {probability:.4f})"
        return Choice(explored, choice.policy, probability, (*choice.explanation, note))
    return Choice(choice.model, choice.policy, 1.0 - rate + share, choice.explanation)
