"""``complete()``'s two faces: route the task, then send each call :class:`~semroute.execution.run.Execution` asks
for, blocking or awaited. They differ only where I/O differs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from semroute.execution._errors import CompletionError
from semroute.execution._litellm import import_litellm
from semroute.execution.reporting import PendingReport
from semroute.execution.request import CompletionOptions, CompletionRequest, Task
from semroute.execution.run import Completion, Execution
from semroute.execution.streaming import AsyncCompletionStream, CompletionStream, require_streamable
from semroute.types import Attempt, RemoteDecision

Route = Callable[..., RemoteDecision]  # the client's ``route``, called with text, metadata and timeout
AsyncRoute = Callable[..., Awaitable[RemoteDecision]]


Report = Callable[[PendingReport], None]  # hands a completion's report to the client's background reporter


def complete(route: Route, task: Task, options: CompletionOptions, report: Report | None = None) -> Completion:
    """Route ``task`` with ``route`` and execute the decision (see ``RouterClient.complete``); ``report`` gets the
    outcome, accepted or not, without waiting for it to be sent."""
    request = CompletionRequest.from_options(task, options)
    litellm = import_litellm()
    run = Execution(route(**request.route_arguments()), request)
    with _reported(run, report):
        for call in run:
            with run.attempt(call) as answer:
                answer.response = litellm.completion(**call.arguments)
        return run.result()


async def complete_async(
    route: AsyncRoute, task: Task, options: CompletionOptions, report: Report | None = None
) -> Completion:
    """Route ``task`` with ``route`` and execute the decision, awaiting ``litellm.acompletion``."""
    request = CompletionRequest.from_options(task, options)
    litellm: Any = import_litellm()
    run = Execution(await route(**request.route_arguments()), request)
    with _reported(run, report):
        for call in run:
            with run.attempt(call) as answer:
                answer.response = await litellm.acompletion(**call.arguments)
        return run.result()


@contextmanager
def _reported(run: Execution, report: Report | None) -> Iterator[None]:
    """Report the run's attempts when it ends: accepted when the body returns, not accepted on CompletionError, nor
    when anything else (a bug, a cancellation) ends it after some model was called."""
    try:
        yield
    except CompletionError as failure:
        _submit(report, run, failure.attempts, accepted=False)
        raise
    except BaseException:
        _submit(report, run, tuple(run.attempts), accepted=False)
        raise
    _submit(report, run, tuple(run.attempts), accepted=True)


def _submit(report: Report | None, run: Execution, attempts: tuple[Attempt, ...], *, accepted: bool) -> None:
    pending = run.report(attempts, accepted=accepted)
    if report is not None and pending is not None:
        report(pending)


def stream(route: Route, task: Task, options: CompletionOptions, report: Report | None = None) -> CompletionStream:
    """Route ``task`` and stream the answer of the first model that starts answering (see :mod:`.streaming`).

    Raises:
        ValueError: the route has validators.
    """
    request = CompletionRequest.from_options(task, options)
    litellm = import_litellm()
    run = Execution(route(**request.route_arguments()), request)
    require_streamable(run)
    return CompletionStream(run, litellm.completion, report)


async def stream_async(
    route: AsyncRoute, task: Task, options: CompletionOptions, report: Report | None = None
) -> AsyncCompletionStream:
    """Route ``task`` and stream the answer through ``litellm.acompletion`` (see :func:`stream`)."""
    request = CompletionRequest.from_options(task, options)
    litellm: Any = import_litellm()
    run = Execution(await route(**request.route_arguments()), request)
    require_streamable(run)
    return AsyncCompletionStream(run, litellm.acompletion, report)
