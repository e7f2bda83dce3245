"""The execution of one decision, free of I/O: it says which model to call with which arguments, is told what came
back, and keeps the attempts. The blocking and asyncio faces (:mod:`semroute.execution.complete`) only send the calls::

    run = Execution(decision, request)
    for call in run:                          # raises CompletionError when the chain is exhausted or time is up
        with run.attempt(call) as answer:     # records a provider failure; lets anything else through
            answer.response = litellm.completion(**call.arguments)
    return run.result()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from semroute.execution._errors import CompletionError, ConstraintViolationError
from semroute.execution._litellm import FIXED_ARGUMENTS, ModelOutput, read_output
from semroute.execution.attempts import AttemptOrder, cost_usd, provider_error_class, total_cost_usd
from semroute.execution.constraint import constraint_violation
from semroute.execution.providers import provider_for
from semroute.execution.reporting import PendingReport
from semroute.execution.request import CompletionRequest, require_registered
from semroute.types import Attempt, AttemptOutcome, ModelConfig, RemoteDecision, ResolvedModel
from semroute.validators import judge


@dataclass(frozen=True)
class Completion:
    """An accepted output and how it was reached.

    Attributes:
        text: The accepted answer's text ("" when the answer is only tool calls).
        tool_calls: The answer's tool calls, as OpenAI-format dicts (``function.name``, ``function.arguments``).
        model: The model that produced it.
        decision: The routing decision that was executed.
        attempts: Every model call, in order, the accepted one last.
        response: litellm's response of the accepted call (None for a stream).
    """

    text: str
    tool_calls: tuple[dict[str, Any], ...]
    model: ResolvedModel
    decision: RemoteDecision
    attempts: tuple[Attempt, ...]
    response: Any = field(default=None, repr=False, compare=False)

    @property
    def cost_usd(self) -> float:
        """What every attempt cost together, at the decision's prices."""
        return total_cost_usd(self.attempts)


@dataclass(frozen=True)
class ModelCall:
    """One call to make: the model and every keyword argument of ``litellm.completion``."""

    model: ResolvedModel
    arguments: dict[str, Any]


@dataclass
class Answer:
    """Filled in by the face with litellm's response."""

    response: Any = None


def config_arguments(config: ModelConfig) -> dict[str, Any]:
    """A route's generation config as litellm arguments (``max_output_tokens`` is litellm's ``max_tokens``)."""
    names = {"max_output_tokens": "max_tokens"}
    return {names.get(key, key): value for key, value in config.to_json().items()}


class Execution:
    """The attempts at one decision; iterate it for the calls to make (see the module's docstring)."""

    def __init__(
        self, decision: RemoteDecision, request: CompletionRequest, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Check the validators, every model's provider settings, and what a constrained decision allows, before
        anything is called (a constraint the call would break is raised by the first iteration, so that its outcome
        is reported like any other).

        Raises:
            UnknownCustomValidatorError: a ``custom`` validator nobody registered.
            ValueError: a provider setting names an environment variable that is not set.
        """
        self.decision = decision
        self.validators = (*decision.validators, *request.validators)
        require_registered(self.validators, request.custom_checks)
        self._request = request
        self._clock = clock
        self._order = AttemptOrder(decision)
        violation = constraint_violation(decision, self._order.chain(), request.providers, request.passed_through)
        self.refusal = ConstraintViolationError(decision, violation) if violation is not None else None
        self._where = {
            model.name: provider_for(model, request.providers).litellm_arguments(model) for model in self._order.chain()
        }
        self._common = {**config_arguments(decision.config), **request.passed_through, **FIXED_ARGUMENTS}
        self.attempts: list[Attempt] = []
        self._accepted: tuple[ModelCall, ModelOutput, Any] | None = None

    def __iter__(self) -> Iterator[ModelCall]:
        if self.refusal is not None:
            raise self.refusal
        model = self._order.next_model()
        while model is not None:
            timeout = self._request.budget.attempt_seconds(self._clock())
            if timeout is None:
                raise CompletionError(self.decision, self.attempts, deadline_exceeded=True)
            yield ModelCall(model, self.arguments(model, timeout))
            model = self._order.next_model(self.attempts[-1].outcome if self.attempts else None)
        if self._accepted is None:
            raise CompletionError(self.decision, self.attempts, deadline_exceeded=False)

    def arguments(self, model: ResolvedModel, timeout: float) -> dict[str, Any]:
        """Every keyword argument of the ``litellm.completion`` call of ``model``."""
        return {**self._common, **self._where[model.name], "messages": list(self._request.messages), "timeout": timeout}

    def attempt(self, call: ModelCall) -> AttemptRecorder:
        """A context for sending ``call``: it times the call, then judges the answer or records the provider error."""
        return AttemptRecorder(self, call, self._clock)

    def answered(self, call: ModelCall, output: ModelOutput, latency_ms: float, response: Any = None) -> Attempt:
        """Judge an answer with every validator and record the attempt."""
        spent = cost_usd(call.model, output.input_tokens, output.output_tokens)
        record = Attempt(
            call.model.name, AttemptOutcome.ACCEPTED, latency_ms, output.input_tokens, output.output_tokens, spent
        )
        for spec in self.validators:
            problem = judge(output.judged, spec, self._request.custom_checks)
            if problem is not None:
                record = replace(
                    record, outcome=AttemptOutcome.INVALID, validator=spec.kind, message=_reportable(problem)
                )
                break
        else:
            record = replace(record, passed_validators=tuple(dict.fromkeys(spec.kind for spec in self.validators)))
            self._accepted = (call, output, response)
        self.attempts.append(record)
        return record

    def failed(self, call: ModelCall, error_class: str, message: str, latency_ms: float) -> Attempt:
        """Record a provider failure."""
        record = Attempt(
            call.model.name,
            AttemptOutcome.PROVIDER_ERROR,
            latency_ms,
            message=_reportable(message),
            error_class=error_class,
        )
        self.attempts.append(record)
        return record

    def report(self, attempts: tuple[Attempt, ...], *, accepted: bool) -> PendingReport | None:
        """What to report of this run once it ended with ``attempts``: None when there is nothing to report (no
        decision id, no model called and nothing refused)."""
        if not self.decision.decision_id or not (attempts or self.refusal is not None):
            return None
        labels = {"semroute.refused": "constraint"} if self.refusal is not None else {}
        return PendingReport(self.decision.decision_id, attempts, accepted, labels)

    def result(self) -> Completion:
        """The accepted completion (call it once the iteration has ended)."""
        assert self._accepted is not None, "result() before an output was accepted"
        call, output, response = self._accepted
        return Completion(output.text, output.tool_calls, call.model, self.decision, tuple(self.attempts), response)


def _reportable(message: str) -> str:
    """A provider's or validator's message as the service stores it: a NUL (an output or error body can hold one)
    would get the whole report refused."""
    return message.replace("\x00", "\ufffd")


class AttemptRecorder:
    """The context manager of :meth:`Execution.attempt`."""

    def __init__(self, execution: Execution, call: ModelCall, clock: Callable[[], float]) -> None:
        self._execution = execution
        self._call = call
        self._clock = clock
        self._started = clock()
        self._answer = Answer()

    def __enter__(self) -> Answer:
        self._started = self._clock()
        return self._answer

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        latency_ms = (self._clock() - self._started) * 1000
        if error is None:
            output = read_output(self._answer.response)
            self._execution.answered(self._call, output, latency_ms, self._answer.response)
            return False
        error_class = provider_error_class(error)
        if error_class is None:
            return False  # not the provider's failure: let it through
        self._execution.failed(self._call, error_class, str(error), latency_ms)
        return True
