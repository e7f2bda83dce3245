"""The error of a completion that no model could give: it carries every attempt."""

from __future__ import annotations

from collections.abc import Sequence

from semroute.errors import SemrouteError
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
        super().__init__(f"route {decision.route!r}: no accepted output, {why} ({tried})")


def describe(attempt: Attempt) -> str:
    """One attempt in words, e.g. ``gpt-5-mini: invalid (json: not JSON ...)``."""
    if attempt.outcome is AttemptOutcome.INVALID:
        return f"{attempt.model}: invalid ({attempt.validator}: {attempt.message})"
    if attempt.outcome is AttemptOutcome.PROVIDER_ERROR:
        return f"{attempt.model}: {attempt.error_class} after {attempt.latency_ms:.0f} ms ({attempt.message[:200]})"
    return f"{attempt.model}: accepted"
