"""MBPP's cascade through the product's own execution code: :class:`~semroute.execution.run.Execution` of a
:class:`~semroute.types.RemoteDecision` whose ``cascade`` is cheapest-first, with the recorded correctness as a
``custom`` validator registered through the execution request, and no model called.

Each "call" answers at once with the model's name as its text and a usage of one input token; the validator looks
the (prompt, model) pair up in the table. Per prompt, the decision's models are priced so that one input token costs
what the table recorded for that model on that prompt, so the attempts' ``cost_usd`` (tokens times the decision's
prices, :func:`~semroute.execution.attempts.cost_usd`) is exactly the recorded cost of every model tried, refused
attempts included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import numpy.typing as npt

from benchmarks._cost_data import Prompts
from semroute.decision import _start_at
from semroute.execution import CompletionError
from semroute.execution.request import CompletionRequest
from semroute.execution.run import Execution
from semroute.learning.choice import Choice, ChoicePolicy, ChoiceSettings, ModelEstimate, choose
from semroute.types import ModelConfig, RemoteDecision, ResolvedModel, ValidatorSpec

FloatArray = npt.NDArray[np.float64]
CASCADE = ("mistral-7b", "gpt-3.5", "claude-instant", "gpt-4")
VALIDATOR = "recorded_tests"  # the custom validator: the recorded MBPP correctness stands in for running the tests
PASSED = 0.75  # a quality from here up passes (0/1 correctness: 1)


def run_cascade(
    prompts: Prompts, models: Sequence[str], catalog: Mapping[str, ResolvedModel], steps: Sequence[Sequence[str]]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Execute, per prompt, the cascade ``steps[i]`` (catalog names, cheapest first); return per prompt whether an
    output was accepted (0/1), what every attempt cost together, and how many models were called."""
    column = {model: j for j, model in enumerate(models)}
    accepted, cost, calls = np.zeros(len(steps)), np.zeros(len(steps)), np.zeros(len(steps))
    for i, cascade in enumerate(steps):
        priced = {
            name: replace(catalog[name], input_cost_per_mtok=float(prompts.cost[i, column[name]]) * 1_000_000)
            for name in cascade
        }
        passed = {name: float(prompts.quality[i, column[name]]) >= PASSED for name in cascade}
        accepted[i], cost[i], calls[i] = _execute(prompts.texts[i], [priced[name] for name in cascade], passed)
    return accepted, cost, calls


def _execute(text: str, cascade: Sequence[ResolvedModel], passed: Mapping[str, bool]) -> tuple[float, float, int]:
    def recorded_tests(output: str) -> str | None:
        return None if passed[output] else f"{output} failed the recorded tests"

    decision = RemoteDecision(
        route="mbpp",
        model=cascade[0],
        fallbacks=(),
        config=ModelConfig(),
        candidates=(),
        margin=1.0,
        ambiguous=False,
        rules=(),
        trace=(),
        estimated_tokens=0,
        index_fingerprint="bench-cost",
        cascade=tuple(cascade),
        validators=(ValidatorSpec("custom", {"name": VALIDATOR}),),
    )
    request = CompletionRequest.from_options(text, {"validators": {VALIDATOR: recorded_tests}})
    run = Execution(decision, request)
    try:
        for call in run:
            with run.attempt(call) as answer:
                answer.response = _response(call.model.name)
        completion = run.result()
        return 1.0, completion.cost_usd, len(completion.attempts)
    except CompletionError as error:  # every step refused: the cascade is exhausted
        return 0.0, sum(attempt.cost_usd for attempt in error.attempts), len(error.attempts)


def _response(model: str) -> SimpleNamespace:
    """What litellm would answer, as far as the execution reads it: the text and a usage of one input token."""
    message = SimpleNamespace(content=model, tool_calls=None)
    usage = SimpleNamespace(prompt_tokens=1, completion_tokens=0)
    return SimpleNamespace(choices=[SimpleNamespace(message=message)], usage=usage)


def learned_starts(
    success: FloatArray, expected_cost: FloatArray, settings: ChoiceSettings, catalog: Mapping[str, ResolvedModel]
) -> list[tuple[str, ...]]:
    """Per prompt, the cascade started at the learned choice (``success``: prompts x cascade models), the way the
    decision does it (:func:`semroute.decision._start_at`)."""
    chain = tuple(catalog[name] for name in CASCADE)
    starts = []
    for row in success:
        found = {name: ModelEstimate(name, float(row[j]), 0, float(expected_cost[j])) for j, name in enumerate(CASCADE)}
        choice: Choice = choose(CASCADE[0], CASCADE, found, settings, draw=0.0, may_explore=False)
        _, _, started = _start_at(choice, chain[0], (), chain)
        starts.append(tuple(model.name for model in started))
    return starts


def start_settings() -> list[ChoiceSettings]:
    """The learned start's sweep: skip the cheap steps whose estimate is under a target, or far below the best."""
    targets = [ChoiceSettings(ChoicePolicy.LEARNED, quality_target=float(t)) for t in np.arange(0.0, 0.61, 0.05)]
    losses = [ChoiceSettings(ChoicePolicy.LEARNED, max_quality_loss=float(x)) for x in np.arange(0.1, 0.61, 0.05)]
    return targets + losses
