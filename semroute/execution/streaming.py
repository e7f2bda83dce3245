"""``complete(..., stream=True)``: the answer's text as it comes, from the first model that starts answering.

A stream is possible only where the route has no validators: an output must be complete before a validator can accept
it. A provider failure before the first chunk moves on exactly as without streaming (the next fallback, then the next
cascade step); once a chunk has arrived the model is committed, and a failure after it is raised as it is. When the
stream ends, :attr:`CompletionStream.completion` holds the result (tokens from the provider's usage when it sends it,
``stream_options={"include_usage": True}``).

Every stream that ends is reported once, with its attempts: read to its end (accepted), every model failed before its
first chunk (not accepted), broken after it (the committed model's attempt a ``provider_error``, not accepted), or
closed by the caller (``break``, ``close()``/``aclose()``, a cancellation: the committed model's attempt accepted, as
what was read was taken, with a message saying so and the tokens the provider had counted, usually none yet).
Chunks are never empty strings.
"""

from __future__ import annotations

import itertools
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator
from dataclasses import replace
from typing import Any

from semroute.execution._litellm import ModelOutput
from semroute.execution.attempts import provider_error_class
from semroute.execution.reporting import PendingReport, logger
from semroute.execution.run import Completion, Execution, ModelCall
from semroute.types import AttemptOutcome, RemoteDecision

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
        """Take in one of litellm's chunks; its text ("" for a chunk of usage or of the finish reason only)."""
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            self.output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        choices = getattr(chunk, "choices", None) or []
        text = (getattr(choices[0].delta, "content", None) or "") if choices else ""
        if text:
            self.parts.append(text)
        return text

    def output(self) -> ModelOutput:
        return ModelOutput("".join(self.parts), (), self.input_tokens, self.output_tokens)

    def read(self) -> str:
        """How many text chunks the caller was given, in words."""
        return f"{len(self.parts)} chunk{'' if len(self.parts) == 1 else 's'}"


class _StreamBase:
    """What both faces share: the attempts of the run, and the one report of a stream that ends, however it ends
    (accepted, every model failed, broken after its first chunk, closed or abandoned by the caller)."""

    def __init__(self, run: Execution, report: Report | None) -> None:
        self._run = run
        self._report = report
        self._completion: Completion | None = None
        self._started = False
        self._ended = False

    @property
    def decision(self) -> RemoteDecision:
        """The routing decision being executed (its ``decision_id`` is what a later quality score refers to)."""
        return self._run.decision

    @property
    def completion(self) -> Completion:
        """The result, once every chunk has been read.

        Raises:
            RuntimeError: the stream has not been read to its end.
        """
        if self._completion is None:
            raise RuntimeError("read the stream to its end first")
        return self._completion

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a stream is read once: its models were called when it was first read")
        self._started = True

    def _failed(self, call: ModelCall, error: Exception, started: float) -> None:
        """A failure before the first chunk: recorded, and the run moves on, if it is the provider's."""
        error_class = provider_error_class(error)
        if error_class is None:
            raise error  # not the provider's failure
        self._run.failed(call, error_class, str(error), (time.monotonic() - started) * 1000)

    def _broke(self, call: ModelCall, collected: _Collected, error: BaseException, started: float) -> None:
        """The committed model's stream ended before its last chunk: a failure (raised as it is by the caller of
        this), or the caller stopping to read (closing the stream, abandoning it, a cancellation)."""
        latency_ms = (time.monotonic() - started) * 1000
        if isinstance(error, Exception):
            error_class = provider_error_class(error) or type(error).__name__
            self._run.failed(call, error_class, f"the stream broke after {collected.read()}: {error}", latency_ms)
            return
        how = "closed" if isinstance(error, GeneratorExit) else f"stopped ({type(error).__name__})"
        record = self._run.answered(call, collected.output(), latency_ms)  # no validator: what was read is taken
        self._run.attempts[-1] = replace(record, message=f"the caller {how} the stream after {collected.read()}")

    def _finish(self, call: ModelCall, collected: _Collected, started: float) -> None:
        self._run.answered(call, collected.output(), (time.monotonic() - started) * 1000)
        self._completion = self._run.result()

    def _end(self) -> None:
        """Report the stream's attempts, once, whichever way it ended; never raises."""
        if self._ended:
            return
        self._ended = True
        attempts = tuple(self._run.attempts)
        accepted = any(attempt.outcome is AttemptOutcome.ACCEPTED for attempt in attempts)
        pending = self._run.report(attempts, accepted=accepted)
        if self._report is None or pending is None:
            return
        try:
            self._report(pending)
        except RuntimeError as error:  # a stream collected at interpreter exit: no thread or loop left to send it
            logger.warning("outcome report of decision %s was lost: %s", self._run.decision.decision_id, error)


class CompletionStream(_StreamBase):
    """Iterate it, once, for the answer's text chunks; then read :attr:`completion`.

    Stopping early (``break``, an exception in the loop) closes it at once and reports what was read; so do
    :meth:`close` and leaving a ``with stream:`` block.
    """

    def __init__(self, run: Execution, open_stream: Callable[..., Any], report: Report | None = None) -> None:
        """Stream with ``open_stream`` (``litellm.completion``) the calls ``run`` asks for."""
        super().__init__(run, report)
        self._open = open_stream
        # weak: a loop that breaks drops the last reference to the chunks, which closes them at once and reports
        self._chunks: Callable[[], Generator[str, None, None] | None] = lambda: None

    def __iter__(self) -> Iterator[str]:
        self._start()
        chunks = self._generate()
        self._chunks = weakref.ref(chunks)
        return chunks

    def close(self) -> None:
        """Stop reading: the provider's answer is dropped and the stream reported (if a model was called)."""
        chunks = self._chunks()
        if chunks is not None:
            chunks.close()  # its own ending reports
        self._started = True

    def __enter__(self) -> CompletionStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _generate(self) -> Generator[str, None, None]:
        try:
            for call in self._run:  # raises CompletionError when every model failed before its first chunk
                started, collected = time.monotonic(), _Collected()
                try:
                    chunks = iter(self._open(**call.arguments, **STREAM_ARGUMENTS))
                    first = next(chunks, None)
                except Exception as error:
                    self._failed(call, error, started)
                    continue
                try:  # committed: a failure from here on is raised as it is
                    for chunk in itertools.chain(() if first is None else (first,), chunks):
                        if text := collected.add(chunk):
                            yield text
                except BaseException as error:
                    self._broke(call, collected, error, started)
                    raise
                self._finish(call, collected, started)
                return
        finally:
            self._end()


class AsyncCompletionStream(_StreamBase):
    """``async for`` it, once, for the answer's text chunks; then read :attr:`completion`.

    To stop early, leave an ``async with stream:`` block or await :meth:`aclose`: that reports what was read at
    once. A loop that only breaks leaves the chunks to the event loop, which closes them, and reports, soon after.
    """

    def __init__(self, run: Execution, open_stream: Callable[..., Any], report: Report | None = None) -> None:
        """Stream with ``open_stream`` (``litellm.acompletion``) the calls ``run`` asks for."""
        super().__init__(run, report)
        self._open = open_stream
        # strong: a loop that breaks does not close an async generator; aclose() must still reach it
        self._chunks: AsyncGenerator[str, None] | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        self._start()
        self._chunks = self._generate()
        return self._chunks

    async def aclose(self) -> None:
        """Stop reading: the provider's answer is dropped and the stream reported (if a model was called)."""
        if self._chunks is not None:
            await self._chunks.aclose()  # its own ending reports
        self._started = True

    async def __aenter__(self) -> AsyncCompletionStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _generate(self) -> AsyncGenerator[str, None]:
        try:
            for call in self._run:
                started, collected = time.monotonic(), _Collected()
                try:
                    chunks = aiter(await self._open(**call.arguments, **STREAM_ARGUMENTS))
                    first = await anext(chunks, None)
                except Exception as error:
                    self._failed(call, error, started)
                    continue
                try:
                    if first is not None and (text := collected.add(first)):
                        yield text
                    async for chunk in chunks:
                        if text := collected.add(chunk):
                            yield text
                except BaseException as error:
                    self._broke(call, collected, error, started)
                    raise
                self._finish(call, collected, started)
                return
        finally:
            self._end()
