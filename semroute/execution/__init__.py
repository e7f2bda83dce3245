"""Executing a routing decision: call the chosen model through litellm, fall back when a provider fails, escalate
along the cascade when an output fails a validator, and account for every attempt.

Reached through ``RouterClient.complete`` and ``AsyncRouterClient.complete``; needs the ``llm`` extra
(``pip install 'semroute[llm]'``), and imports litellm only when a completion is made::

    from semroute.client import RouterClient
    from semroute.execution import Provider

    with RouterClient("localhost:50051") as client:
        completion = client.complete("Summarize this article: ...", deadline=30)
        print(completion.model.name, completion.cost_usd, completion.text)

The policy is in :mod:`semroute.execution.attempts`; the loop, free of I/O, in :mod:`semroute.execution.run`.
"""

from semroute.execution._errors import CompletionError, ConstraintViolationError
from semroute.execution.attempts import DEFAULT_ATTEMPT_TIMEOUT
from semroute.execution.providers import Provider
from semroute.execution.request import CompletionOptions
from semroute.execution.run import Completion

__all__ = [
    "DEFAULT_ATTEMPT_TIMEOUT",
    "Completion",
    "CompletionError",
    "CompletionOptions",
    "ConstraintViolationError",
    "Provider",
]
