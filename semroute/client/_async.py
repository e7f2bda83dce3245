"""The asyncio client: the shared core of :mod:`._core`, awaited on a ``grpc.aio`` channel."""

from __future__ import annotations

import asyncio
import warnings
import weakref
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

import grpc
from grpc import aio

from semroute import types as api
from semroute.client import _core
from semroute.wire import SERVICE_NAME

if TYPE_CHECKING:  # the execution stage loads on the first complete(): importing the client costs nothing more
    from semroute import execution
    from semroute.execution import reporting, request, streaming


class AsyncRouterClient(_core.ClientCore):
    """An asyncio client of the routing service: the calls of :class:`~semroute.client.RouterClient`, awaitable.

    Create and use it inside one running event loop, and close it before the loop ends (``async with``, or
    ``await client.close()``): ``complete()`` reports outcomes from tasks on that loop, and closing waits for them. A
    client left open loses the reports still in flight when the loop ends (each logged as a warning), and warns with
    a ResourceWarning when it is collected::

        async with AsyncRouterClient("localhost:50051") as client:
            decision = await client.route("write unit tests for the parser")
    """

    _streams: weakref.WeakSet[streaming.AsyncCompletionStream] | None = None  # open streams, closed by close()

    async def route(self, text: str, **options: Unpack[_core.RouteOptions]) -> api.RemoteDecision:
        """See :meth:`RouterClient.route`."""
        return await self._send(self._route_call(text, options))

    async def route_batch(
        self, tasks: Sequence[str | api.RouteRequest], **options: Unpack[_core.BatchOptions]
    ) -> list[api.RemoteDecision]:
        """See :meth:`RouterClient.route_batch`."""
        return await self._send(self._batch_call(tasks, options))

    async def list_routes(self, **options: Unpack[_core.CallOptions]) -> list[api.RouteInfo]:
        """See :meth:`RouterClient.list_routes`."""
        return await self._send(self._list_routes_call(options))

    async def index_info(self, **options: Unpack[_core.CallOptions]) -> api.IndexInfo:
        """See :meth:`RouterClient.index_info`."""
        return await self._send(self._index_info_call(options))

    async def reload_index(self, **options: Unpack[_core.CallOptions]) -> api.ReloadResult:
        """See :meth:`RouterClient.reload_index`."""
        return await self._send(self._reload_call(options))

    async def health(self, service: str = SERVICE_NAME, **options: Unpack[_core.CallOptions]) -> api.ServingStatus:
        """See :meth:`RouterClient.health`."""
        return await self._send(self._health_call(service, options))

    async def report_outcome(
        self,
        decision_id: str,
        attempts: Sequence[api.Attempt],
        *,
        accepted: bool,
        **options: Unpack[_core.OutcomeOptions],
    ) -> None:
        """See :meth:`RouterClient.report_outcome`."""
        await self._send(self._report_outcome_call(decision_id, attempts, accepted, options))

    async def report_quality(self, decision_id: str, score: int, **options: Unpack[_core.ReportOptions]) -> None:
        """See :meth:`RouterClient.report_quality`."""
        await self._send(self._report_quality_call(decision_id, score, options))

    async def stats(self, **options: Unpack[_core.CallOptions]) -> api.StoreStats:
        """See :meth:`RouterClient.stats`."""
        return await self._send(self._stats_call(options))

    @overload
    async def complete(
        self, task: request.Task, *, stream: Literal[False] = False, **options: Unpack[execution.CompletionOptions]
    ) -> execution.Completion: ...

    @overload
    async def complete(
        self, task: request.Task, *, stream: Literal[True], **options: Unpack[execution.CompletionOptions]
    ) -> streaming.AsyncCompletionStream: ...

    async def complete(
        self, task: request.Task, *, stream: bool = False, **options: Unpack[execution.CompletionOptions]
    ) -> execution.Completion | streaming.AsyncCompletionStream:
        """See :meth:`RouterClient.complete`; models are called with ``litellm.acompletion`` (a stream is read with
        ``async for``)."""
        from semroute.execution import complete as completing
        from semroute.execution.reporting import TaskReporter
        from semroute.execution.request import CompletionOptions

        _core.check_options("complete", options, CompletionOptions)
        if self._reporter is None:
            self._reporter = TaskReporter(self._report_pending)
        if not stream:
            return await completing.complete_async(self.route, task, options, self._reporter.submit)
        opened = await completing.stream_async(self.route, task, options, self._reporter.submit)
        if self._streams is None:
            self._streams = weakref.WeakSet()
        self._streams.add(opened)  # a loop that breaks does not close an async generator: close() does
        return opened

    async def _report_pending(self, report: reporting.PendingReport) -> None:
        await self.report_outcome(
            report.decision_id, report.attempts, accepted=report.accepted, labels=report.labels or None
        )

    async def close(self) -> None:
        """Close the streams still open (reporting them) and the channels, after up to 2 s for completion reports
        still in flight; calls in progress are cancelled."""
        self._closed = True
        for opened in list(self._streams or ()):
            try:
                await opened.aclose()
            except RuntimeError:  # another task is inside it, waiting for a chunk: its ending reports it there
                continue
        if self._reporter is not None:
            await self._reporter.close()
        for channel in self._channels():
            await channel.close(None)

    def __del__(self) -> None:
        if getattr(self, "_closed", True) is False:  # False only once __init__ has finished
            warnings.warn(
                f"unclosed AsyncRouterClient {self._address!r}: use `async with AsyncRouterClient(...)` or "
                "`await client.close()` before the event loop ends, or outcome reports in flight are lost",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )

    async def __aenter__(self) -> AsyncRouterClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    def _open_channel(self, options: list[tuple[str, str | int]]) -> Any:
        if self._credentials is None:
            return aio.insecure_channel(self._address, options=options)
        return aio.secure_channel(self._address, self._credentials, options=options)

    async def _send(self, call: _core.Call[_core.Result]) -> _core.Result:
        method = getattr(self._stub(call.stub), call.method)
        attempts = _core.Attempts(call)
        while True:
            try:
                return call.read(await method(call.request, timeout=attempts.timeout, metadata=call.metadata))
            except grpc.RpcError as error:
                await asyncio.sleep(attempts.failed(error))  # raises ServiceError unless the call is sent again
