"""``complete(..., stream=True)``: the answer's text as it comes, from the first model that starts answering.

A stream is possible only where the route has no validators: an output must be complete before a validator can accept
it. A provider failure before the first chunk moves on exactly as without streaming (the next fallback, then the next
cascade step); once a chunk has arrived the model is committed, and a failure after it is raised as it is. When the
stream ends, :attr:`CompletionStream.completion` holds the result (tokens from the provider's usage when it sends it,
``stream_options={"include_usage": True}``), and the outcome is reported like any other.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from semroute.execution._litellm import ModelOutput
from semroute.execution.attempts import provider_error_class
from semroute.execution.reporting import PendingReport
from semroute.execution.run import Completion, Execution, ModelCall

STREAM_ARGUMENTS = {"stream": True, "stream_options": {"include_usage": True}}
Report = Callable[[PendingReport], None]


def require_streamable(run: Execution) -> None:
    """Refuse a stream for a decision whose outputs must be judged.

    Raises:
        ValueError: the route (or the call) has validators.
    """
    if run.validators:
        kinds = ", ".join(spec.kind for spec in run.validators)
        raise ValueError(
            f"stream=True needs a route without validators; route {run.decision.route!r} has {kinds}: an output must "
            "be complete before a validator can accept it (call complete() without stream=True)"
        )


class _Collected:
    """The text and usage of the chunks seen so far."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.input_tokens = 0
        self.output_tokens = 0

    def add(self, chunk: Any) -> str:
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            self.output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        choices = getattr(chunk, "choices", None) or []
        text = (getattr(choices[0].delta, "content", None) or "") if choices else ""
        self.parts.append(text)
        return text

    def output(self) -> ModelOutput:
        return ModelOutput("".join(self.parts), (), self.input_tokens, self.output_tokens)


class _StreamBase:
    def __init__(self, run: Execution, report: Report | None) -> None:
        self._run = run
        self._report = report
        self._completion: Completion | None = None

    @property
    def completion(self) -> Completion:
        """The result, once every chunk has been read.

        Raises:
            RuntimeError: the stream has not been read to its end.
        """
        if self._completion is None:
            raise RuntimeError("read the stream to its end first")
        return self._completion

    def _failed(self, call: ModelCall, error: Exception, started: float) -> None:
        error_class = provider_error_class(error)
        if error_class is None:
            raise error  # not the provider's failure
        self._run.failed(call, error_class, str(error), (time.monotonic() - started) * 1000)

    def _finish(self, call: ModelCall, collected: _Collected, started: float) -> None:
        self._run.answered(call, collected.output(), (time.monotonic() - started) * 1000)
        self._completion = self._run.result()
        if self._report is not None and self._run.decision.decision_id:
            self._report(PendingReport(self._run.decision.decision_id, tuple(self._run.attempts), True))


class CompletionStream(_StreamBase):
    """Iterate it for the answer's text chunks; then read :attr:`completion`."""

    def __init__(self, run: Execution, open_stream: Callable[..., Any], report: Report | None = None) -> None:
        """Stream with ``open_stream`` (``litellm.completion``) the calls ``run`` asks for."""
        super().__init__(run, report)
        self._open = open_stream

    def __iter__(self) -> Iterator[str]:
        for call in self._run:  # raises CompletionError when every model failed before its first chunk
            started, collected = time.monotonic(), _Collected()
            try:
                chunks = iter(self._open(**call.arguments, **STREAM_ARGUMENTS))
                first = next(chunks, None)
            except Exception as error:
                self._failed(call, error, started)
                continue
            if first is not None:
                yield collected.add(first)
            for chunk in chunks:  # committed: a failure from here on is raised as it is
                yield collected.add(chunk)
            self._finish(call, collected, started)
            return


class AsyncCompletionStream(_StreamBase):
    """``async for`` it for the answer's text chunks; then read :attr:`completion`."""

    def __init__(self, run: Execution, open_stream: Callable[..., Any], report: Report | None = None) -> None:
        """Stream with ``open_stream`` (``litellm.acompletion``) the calls ``run`` asks for."""
        super().__init__(run, report)
        self._open = open_stream

    async def __aiter__(self) -> AsyncIterator[str]:
        for call in self._run:
            started, collected = time.monotonic(), _Collected()
            try:
                chunks = aiter(await self._open(**call.arguments, **STREAM_ARGUMENTS))
                first = await anext(chunks, None)
            except Exception as error:
                self._failed(call, error, started)
                continue
            if first is not None:
                yield collected.add(first)
            async for chunk in chunks:
                yield collected.add(chunk)
            self._finish(call, collected, started)
            return
