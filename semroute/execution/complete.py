"""``complete()``'s two faces: route the task, then send each call :class:`~semroute.execution.run.Execution` asks
for, blocking or awaited. They differ only where I/O differs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from semroute.execution._litellm import import_litellm
from semroute.execution.request import CompletionOptions, CompletionRequest, Task
from semroute.execution.run import Completion, Execution
from semroute.types import RemoteDecision

Route = Callable[..., RemoteDecision]  # the client's ``route``, called with text, metadata and timeout
AsyncRoute = Callable[..., Awaitable[RemoteDecision]]


def complete(route: Route, task: Task, options: CompletionOptions) -> Completion:
    """Route ``task`` with ``route`` and execute the decision (see ``RouterClient.complete``)."""
    request = CompletionRequest.from_options(task, options)
    litellm = import_litellm()
    run = Execution(route(**request.route_arguments()), request)
    for call in run:
        with run.attempt(call) as answer:
            answer.response = litellm.completion(**call.arguments)
    return run.result()


async def complete_async(route: AsyncRoute, task: Task, options: CompletionOptions) -> Completion:
    """Route ``task`` with ``route`` and execute the decision, awaiting ``litellm.acompletion``."""
    request = CompletionRequest.from_options(task, options)
    litellm: Any = import_litellm()
    run = Execution(await route(**request.route_arguments()), request)
    for call in run:
        with run.attempt(call) as answer:
            answer.response = await litellm.acompletion(**call.arguments)
    return run.result()
