"""The error of a completion that no model could give: it carries every attempt."""

from __future__ import annotations

from collections.abc import Sequence

from semroute.errors import SemrouteError
from semroute.execution.constraint import constraint_words
from semroute.types import Attempt, AttemptOutcome, RemoteDecision


class CompletionError(SemrouteError, RuntimeError):
    """No model of the decision's chain gave an accepted output, or the deadline passed first.

    Attributes:
        decision: The decision that was executed.
        attempts: Every model call made, in order (empty if the deadline passed before the first).
        deadline_exceeded: True when the overall deadline stopped the chain before it was exhausted.
    """

    def __init__(self, decision: RemoteDecision, attempts: Sequence[Attempt], *, deadline_exceeded: bool) -> None:
        self.decision = decision
        self.attempts = tuple(attempts)
        self.deadline_exceeded = deadline_exceeded
        why = "the deadline passed" if deadline_exceeded else "every model of the chain failed"
        tried = "; ".join(describe(attempt) for attempt in self.attempts) or "no model was called"
        inside = f"; {constraint_words(decision)}: no other model was called" if decision.constrained else ""
        super().__init__(f"route {decision.route!r}: no accepted output, {why} ({tried}){inside}")


class ConstraintViolationError(CompletionError):
    """Refused before any model was called: what the call asked for could send a constrained decision's task outside
    the models its rules allow (see :mod:`semroute.execution.constraint`).

    Attributes:
        reason: What was refused, in words.
    """

    def __init__(self, decision: RemoteDecision, reason: str) -> None:
        self.reason = reason
        SemrouteError.__init__(
            self, f"route {decision.route!r}: refused, no model was called: {constraint_words(decision)}, and {reason}"
        )
        self.decision = decision
        self.attempts = ()
        self.deadline_exceeded = False


def describe(attempt: Attempt) -> str:
    """One attempt in words, e.g. ``gpt-5-mini: invalid (json: not JSON ...)``."""
    if attempt.outcome is AttemptOutcome.INVALID:
        return f"{attempt.model}: invalid ({attempt.validator}: {attempt.message})"
    if attempt.outcome is AttemptOutcome.PROVIDER_ERROR:
        return f"{attempt.model}: {attempt.error_class} after {attempt.latency_ms:.0f} ms ({attempt.message[:200]})"
    return f"{attempt.model}: accepted"
