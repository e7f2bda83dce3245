"""The blocking client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from semroute.client._channel import (
    DEFAULT_DEADLINES,
    DEFAULT_TARGET,
    ClientTls,
    Deadlines,
    channel_credentials,
    channel_options,
    channel_target,
)
from semroute.client._errors import ServiceError
from semroute.client._requests import batch_request
from semroute.client._results import (
    IndexInfo,
    ReloadResult,
    RemoteDecision,
    RouteInfo,
    ServingStatus,
    decision_from_proto,
    index_info_from_proto,
    reload_result_from_proto,
    route_info_from_proto,
    serving_status_from_proto,
)
from semroute.router import RouteRequest
from semroute.v1 import router_pb2 as pb
from semroute.v1 import router_pb2_grpc
from semroute.wire import REQUEST_ID_KEY, SERVICE_NAME, request_to_proto

_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class RouterClient:
    """A blocking client of the routing service.

    Example::

        with RouterClient("localhost:50051") as client:
            decision = client.route("write unit tests for the parser")
            print(decision.route, decision.model.litellm, decision.config.temperature)
    """

    def __init__(
        self,
        target: str | Sequence[str] = DEFAULT_TARGET,
        *,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        tls: ClientTls | None = None,
        token: str | None = None,
    ) -> None:
        """Open a channel (connections are made lazily, on the first call).

        Args:
            target: ``host:port``, any gRPC target, or several ``ip:port`` addresses to balance over.
            deadlines: Default deadline of each kind of call.
            tls: Use TLS; None for plaintext.
            token: Bearer token sent with every call (needs ``tls``).

        Raises:
            ValueError: an unusable target, or a token without TLS.
        """
        credentials = channel_credentials(tls, token)
        address, options = channel_target(target), channel_options(tls)
        if credentials is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            self._channel = grpc.secure_channel(address, credentials, options=options)
        self._stub = router_pb2_grpc.RouterServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._deadlines = deadlines

    def route(
        self,
        text: str,
        *,
        metadata: Mapping[str, str] | None = None,
        input_tokens: int | None = None,
        top_k: int | None = None,
        full_trace: bool = False,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> RemoteDecision:
        """Ask which model should handle ``text``.

        Args:
            text: The task.
            metadata: Facts the override rules may test.
            input_tokens: Your own count of the task's input tokens (replaces the server's estimate).
            top_k: Nearest utterances to consider (1-200); None for the index's setting.
            full_trace: Also return the decision's reasoning in ``trace``.
            timeout: Deadline in seconds; None for ``deadlines.call``.
            request_id: Sent as ``x-request-id`` to tie the server's log line to your own; None lets the server
                pick one (returned in the decision).

        Raises:
            ServiceError: the call failed (INVALID_ARGUMENT names the field).
        """
        request = request_to_proto(RouteRequest(text, metadata or {}, input_tokens, top_k), full_trace=full_trace)
        response = self._call(self._stub.Route, request, timeout or self._deadlines.call, request_id)
        return decision_from_proto(response.decision)

    def route_batch(
        self,
        tasks: Sequence[str | RouteRequest],
        *,
        full_trace: bool = False,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> list[RemoteDecision]:
        """Decide up to 256 tasks in one call; each decision equals what :meth:`route` gives for that task.

        Raises:
            ServiceError: the call failed (INVALID_ARGUMENT names the task, e.g. ``requests[3].text``).
        """
        request = batch_request(tasks, full_trace)
        response = self._call(self._stub.RouteBatch, request, timeout or self._deadlines.batch, request_id)
        return [decision_from_proto(decision) for decision in response.decisions]

    def list_routes(self, *, timeout: float | None = None) -> list[RouteInfo]:
        """The routes of the index in service, with their models and descriptions."""
        response = self._call(self._stub.ListRoutes, pb.ListRoutesRequest(), timeout or self._deadlines.call)
        return [route_info_from_proto(route) for route in response.routes]

    def index_info(self, *, timeout: float | None = None) -> IndexInfo:
        """The index in service: fingerprint, counts, model, build and load times, last reload error."""
        response = self._call(self._stub.GetIndexInfo, pb.GetIndexInfoRequest(), timeout or self._deadlines.call)
        return index_info_from_proto(response.index)

    def reload_index(self, *, timeout: float | None = None) -> ReloadResult:
        """Have the server load its artifact on disk now.

        Raises:
            ServiceError: FAILED_PRECONDITION when the artifact is refused (the old index keeps serving).
        """
        response = self._call(self._stub.ReloadIndex, pb.ReloadIndexRequest(), timeout or self._deadlines.reload)
        return reload_result_from_proto(response)

    def health(self, service: str = SERVICE_NAME, *, timeout: float | None = None) -> ServingStatus:
        """The server's health for ``service`` (``""``: the whole server)."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = self._call(self._health.Check, request, timeout or self._deadlines.health)
        return serving_status_from_proto(response)

    def close(self) -> None:
        """Close the channel; calls in progress are cancelled."""
        self._channel.close()

    def __enter__(self) -> RouterClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    @staticmethod
    def _call(
        method: grpc.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
        timeout: float,
        request_id: str | None = None,
    ) -> _Response:
        metadata = ((REQUEST_ID_KEY, request_id),) if request_id else None
        try:
            return method(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as error:
            raise ServiceError.from_rpc_error(error) from error
