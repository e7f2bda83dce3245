"""The blocking client: the shared core of :mod:`._core`, sent on a ``grpc`` channel."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Unpack, overload

import grpc

from semroute import types as api
from semroute.client import _core
from semroute.wire import SERVICE_NAME

if TYPE_CHECKING:  # the execution stage loads on the first complete(): importing the client costs nothing more
    from semroute import execution
    from semroute.execution import reporting, request, streaming


class RouterClient(_core.ClientCore):
    """A blocking client of the routing service.

    Example::

        with RouterClient("localhost:50051") as client:
            decision = client.route("write unit tests for the parser")
            print(decision.route, decision.model.litellm, decision.config.temperature)
    """

    def route(self, text: str, **options: Unpack[_core.RouteOptions]) -> api.RemoteDecision:
        """Ask which model should handle ``text``; ``options`` are those of :class:`RouteOptions`.

        Every call checks its options before sending anything, as this one does.

        Raises:
            ServiceError: the call failed (INVALID_ARGUMENT names the field).
            TypeError: an option the call does not take (a misspelt ``metadata`` would skip the rules that read it),
                or a field of the wrong type (metadata and labels map strings to strings), named.
            ValueError: a ``timeout`` that is not a positive, finite number of seconds.
        """
        return self._send(self._route_call(text, options))

    def route_batch(
        self, tasks: Sequence[str | api.RouteRequest], **options: Unpack[_core.BatchOptions]
    ) -> list[api.RemoteDecision]:
        """Decide up to 256 tasks in one call; each decision equals what :meth:`route` gives for that task.

        Raises:
            ServiceError: the call failed (INVALID_ARGUMENT names the task, e.g. ``requests[3].text``).
        """
        return self._send(self._batch_call(tasks, options))

    def list_routes(self, **options: Unpack[_core.CallOptions]) -> list[api.RouteInfo]:
        """The routes of the index in service, with their models and descriptions."""
        return self._send(self._list_routes_call(options))

    def index_info(self, **options: Unpack[_core.CallOptions]) -> api.IndexInfo:
        """The index in service: fingerprint, counts, model, build and load times, last reload error."""
        return self._send(self._index_info_call(options))

    def reload_index(self, **options: Unpack[_core.CallOptions]) -> api.ReloadResult:
        """Have the server load its artifact on disk now.

        Raises:
            ServiceError: FAILED_PRECONDITION when the artifact is refused (the old index keeps serving).
        """
        return self._send(self._reload_call(options))

    def health(self, service: str = SERVICE_NAME, **options: Unpack[_core.CallOptions]) -> api.ServingStatus:
        """The server's health for ``service`` (``""``: the whole server)."""
        return self._send(self._health_call(service, options))

    def report_outcome(
        self,
        decision_id: str,
        attempts: Sequence[api.Attempt],
        *,
        accepted: bool,
        **options: Unpack[_core.OutcomeOptions],
    ) -> None:
        """Record how executing a decision went; returns once the server has committed it to its outcome store.
        Reporting the same decision again replaces the earlier report.

        Raises:
            ServiceError: NOT_FOUND for a decision the store has no record of; INVALID_ARGUMENT names the field
                (``quality_score`` outside 1-5...); RESOURCE_EXHAUSTED or UNAVAILABLE when the store is busy or down.
        """
        self._send(self._report_outcome_call(decision_id, attempts, accepted, options))

    def report_quality(self, decision_id: str, score: int, **options: Unpack[_core.ReportOptions]) -> None:
        """Record a quality score from 1 to 5 (and labels) given after the outcome; returns once committed.

        Raises:
            ServiceError: as :meth:`report_outcome` (INVALID_ARGUMENT ``score: ...`` outside 1-5).
        """
        self._send(self._report_quality_call(decision_id, score, options))

    def stats(self, **options: Unpack[_core.CallOptions]) -> api.StoreStats:
        """The server's outcome store counters: decisions recorded and dropped, store errors, outcomes recorded."""
        return self._send(self._stats_call(options))

    @overload
    def complete(
        self, task: request.Task, *, stream: Literal[False] = False, **options: Unpack[execution.CompletionOptions]
    ) -> execution.Completion: ...

    @overload
    def complete(
        self, task: request.Task, *, stream: Literal[True], **options: Unpack[execution.CompletionOptions]
    ) -> streaming.CompletionStream: ...

    def complete(
        self, task: request.Task, *, stream: bool = False, **options: Unpack[execution.CompletionOptions]
    ) -> execution.Completion | streaming.CompletionStream:
        """Route ``task`` (a text, or chat messages: routed on the last user message) and have the decision's models
        answer it through litellm (needs ``pip install 'semroute[llm]'``).

        The cascade's models (or the decision's model) are tried in turn, cheapest first, escalating when an output
        fails a validator; a provider failure moves on to the first fallback not yet called. See
        :mod:`semroute.execution.attempts` for the policy and :class:`~semroute.execution.CompletionOptions` for
        ``options``.

        With ``stream=True`` (a route without validators only) it returns a :class:`CompletionStream` of text chunks
        from the first model that starts answering; a fallback is possible only before the first chunk.

        Returns:
            The accepted output, the model that produced it, the decision and every attempt with its cost.

        Raises:
            CompletionError: no model gave an accepted output, or the deadline passed; it carries every attempt.
            UnknownCustomValidatorError: a ``custom`` validator that ``validators=`` does not register.
            ValueError: ``stream=True`` for a route with validators.
            ServiceError: the routing call failed.
            MissingExtraError: the ``llm`` extra is not installed.
        """
        from semroute.execution import complete as completing
        from semroute.execution.reporting import ThreadReporter
        from semroute.execution.request import CompletionOptions

        _core.check_options("complete", options, CompletionOptions)
        with self._reporter_lock:
            if self._reporter is None:
                self._reporter = ThreadReporter(self._report_pending)
        run = completing.stream if stream else completing.complete
        return run(self.route, task, options, self._reporter.submit)

    def _report_pending(self, report: reporting.PendingReport) -> None:
        self.report_outcome(report.decision_id, report.attempts, accepted=report.accepted, labels=report.labels or None)

    def close(self) -> None:
        """Close the channels, after up to 2 s for completion reports still queued; calls in progress are
        cancelled."""
        self._closed = True
        if self._reporter is not None:
            self._reporter.close()
        for channel in self._channels():
            channel.close()

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _open_channel(self, options: list[tuple[str, str | int]]) -> Any:
        if self._credentials is None:
            return grpc.insecure_channel(self._address, options=options)
        return grpc.secure_channel(self._address, self._credentials, options=options)

    def _send(self, call: _core.Call[_core.Result]) -> _core.Result:
        method = getattr(self._stub(call.stub), call.method)
        attempts = _core.Attempts(call)
        while True:
            try:
                return call.read(method(call.request, timeout=attempts.timeout, metadata=call.metadata))
            except grpc.RpcError as error:
                time.sleep(attempts.failed(error))  # raises ServiceError unless the call is to be sent again
