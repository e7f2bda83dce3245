"""The attempt policy, as pure functions of plain values: which model to call next, how long it may take, what it
cost, and whether an exception is a provider's failure (worth moving on from) or the caller's own.

The order: the decision's ``cascade`` (cheapest first) or, without one, ``[decision.model]``. A provider failure moves
to the first of the decision's ``fallbacks`` not yet called; when none is left, to the next cascade step. An output
that fails a validator escalates to the next cascade step, sending the same task. No model is called twice in one
completion: a model that failed once (AuthenticationError included) or whose output was refused is skipped wherever
it comes up again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from semroute.types import Attempt, AttemptOutcome, ResolvedModel, RouteDecision

DEFAULT_ATTEMPT_TIMEOUT = 60.0  # seconds one model call may take (litellm's request timeout)
# An attempt that could only run for less than this is not started: it would turn "the deadline passed" into a
# provider Timeout that says less.
MIN_ATTEMPT_SECONDS = 0.1
_TOKENS_PER_PRICE_UNIT = 1_000_000  # prices are per million tokens
# Where the exceptions of a provider call come from: litellm maps every provider failure (HTTP status, timeout,
# refused connection, content filter, bad key) onto its classes, which subclass openai's; httpx sits under both.
_PROVIDER_ERROR_MODULES = ("litellm", "openai", "httpx")


class AttemptOrder:
    """Which model to call next, given how the last attempt ended."""

    def __init__(self, decision: RouteDecision) -> None:
        self._steps: Sequence[ResolvedModel] = decision.cascade or (decision.model,)
        self._next_step = 0
        self._fallbacks = decision.fallbacks
        self._called: set[str] = set()

    def next_model(self, last: AttemptOutcome | None = None) -> ResolvedModel | None:
        """The model to call after an attempt that ended ``last`` (None: the first call); None when none is left."""
        if last is AttemptOutcome.ACCEPTED:
            return None
        fallback = self._first_uncalled(self._fallbacks) if last is AttemptOutcome.PROVIDER_ERROR else None
        model = fallback or self._next_cascade_step()
        if model is not None:
            self._called.add(model.name)
        return model

    def chain(self) -> tuple[ResolvedModel, ...]:
        """Every model this order may call, each once: the cascade steps, then the fallbacks."""
        models = {model.name: model for model in (*self._steps, *self._fallbacks)}
        return tuple(models.values())

    def _first_uncalled(self, models: Sequence[ResolvedModel]) -> ResolvedModel | None:
        return next((model for model in models if model.name not in self._called), None)

    def _next_cascade_step(self) -> ResolvedModel | None:
        while self._next_step < len(self._steps):
            step = self._steps[self._next_step]
            self._next_step += 1
            if step.name not in self._called:
                return step
        return None


@dataclass(frozen=True)
class Budget:
    """The time a completion may take: an optional overall deadline and a timeout per attempt (seconds).

    Attributes:
        started: When the completion started, on the clock the caller passes to the methods.
        deadline: Seconds from ``started`` for the whole completion (routing included); None for no deadline.
        attempt_timeout: Seconds one model call may take.
    """

    started: float
    deadline: float | None
    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT

    def __post_init__(self) -> None:
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError(f"deadline: must be a positive number of seconds, not {self.deadline}")
        if self.attempt_timeout <= 0:
            raise ValueError(f"attempt_timeout: must be a positive number of seconds, not {self.attempt_timeout}")

    def seconds_left(self, now: float) -> float | None:
        """Seconds until the deadline (None without one)."""
        return None if self.deadline is None else self.started + self.deadline - now

    def attempt_seconds(self, now: float) -> float | None:
        """The timeout of an attempt starting ``now``: the per-attempt timeout capped by what is left of the deadline;
        None when too little is left to start one."""
        left = self.seconds_left(now)
        if left is None:
            return self.attempt_timeout
        return min(self.attempt_timeout, left) if left >= MIN_ATTEMPT_SECONDS else None


def cost_usd(model: ResolvedModel, input_tokens: int, output_tokens: int) -> float:
    """What a call cost: its tokens times the model's prices in the decision (USD per million tokens)."""
    spent = input_tokens * model.input_cost_per_mtok + output_tokens * model.output_cost_per_mtok
    return spent / _TOKENS_PER_PRICE_UNIT


def total_cost_usd(attempts: Sequence[Attempt]) -> float:
    """What every attempt cost together, refused outputs included."""
    return sum(attempt.cost_usd for attempt in attempts)


def provider_error_class(error: BaseException) -> str | None:
    """The class name of ``error`` (e.g. ``RateLimitError``) if it is a provider's failure; None if it is not one
    (a bug, a cancellation, an invalid argument of the caller's), which must propagate instead of moving on."""
    from_provider = any(kind.__module__.split(".")[0] in _PROVIDER_ERROR_MODULES for kind in type(error).__mro__)
    return type(error).__name__ if from_provider else None
