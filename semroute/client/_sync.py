"""The blocking client: the shared core of :mod:`._core`, sent on a ``grpc`` channel."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, TypeVar, Unpack

import grpc

from semroute.client._core import Attempts, BatchOptions, Call, CallOptions, ClientCore, RouteOptions
from semroute.types import IndexInfo, ReloadResult, RemoteDecision, RouteInfo, RouteRequest, ServingStatus
from semroute.wire import SERVICE_NAME

_Result = TypeVar("_Result")


class RouterClient(ClientCore):
    """A blocking client of the routing service.

    Example::

        with RouterClient("localhost:50051") as client:
            decision = client.route("write unit tests for the parser")
            print(decision.route, decision.model.litellm, decision.config.temperature)
    """

    def route(self, text: str, **options: Unpack[RouteOptions]) -> RemoteDecision:
        """Ask which model should handle ``text``; ``options`` are those of :class:`RouteOptions`.

        Raises:
            ServiceError: the call failed (INVALID_ARGUMENT names the field).
        """
        return self._send(self._route_call(text, options))

    def route_batch(self, tasks: Sequence[str | RouteRequest], **options: Unpack[BatchOptions]) -> list[RemoteDecision]:
        """Decide up to 256 tasks in one call; each decision equals what :meth:`route` gives for that task.

        Raises:
            ServiceError: the call failed (INVALID_ARGUMENT names the task, e.g. ``requests[3].text``).
        """
        return self._send(self._batch_call(tasks, options))

    def list_routes(self, **options: Unpack[CallOptions]) -> list[RouteInfo]:
        """The routes of the index in service, with their models and descriptions."""
        return self._send(self._list_routes_call(options))

    def index_info(self, **options: Unpack[CallOptions]) -> IndexInfo:
        """The index in service: fingerprint, counts, model, build and load times, last reload error."""
        return self._send(self._index_info_call(options))

    def reload_index(self, **options: Unpack[CallOptions]) -> ReloadResult:
        """Have the server load its artifact on disk now.

        Raises:
            ServiceError: FAILED_PRECONDITION when the artifact is refused (the old index keeps serving).
        """
        return self._send(self._reload_call(options))

    def health(self, service: str = SERVICE_NAME, **options: Unpack[CallOptions]) -> ServingStatus:
        """The server's health for ``service`` (``""``: the whole server)."""
        return self._send(self._health_call(service, options))

    def close(self) -> None:
        """Close the channels; calls in progress are cancelled."""
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

    def _send(self, call: Call[_Result]) -> _Result:
        method = getattr(self._stub(call.stub), call.method)
        attempts = Attempts(call)
        while True:
            try:
                return call.read(method(call.request, timeout=attempts.timeout, metadata=call.metadata))
            except grpc.RpcError as error:
                time.sleep(attempts.failed(error))  # raises ServiceError unless the call is to be sent again
