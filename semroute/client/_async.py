"""The asyncio client (``grpc.aio``): the same calls as :class:`~semroute.client.RouterClient`, awaitable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TypeVar

import grpc
from grpc import aio
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


class AsyncRouterClient:
    """An asyncio client of the routing service; create and use it inside one running event loop.

    Example::

        async with AsyncRouterClient("localhost:50051") as client:
            decision = await client.route("write unit tests for the parser")
    """

    def __init__(
        self,
        target: str | Sequence[str] = DEFAULT_TARGET,
        *,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        tls: ClientTls | None = None,
        token: str | None = None,
    ) -> None:
        """Open a channel; the arguments are those of :class:`~semroute.client.RouterClient`.

        Raises:
            ValueError: an unusable target, or a token without TLS.
        """
        credentials = channel_credentials(tls, token)
        address, options = channel_target(target), channel_options(tls)
        if credentials is None:
            self._channel = aio.insecure_channel(address, options=options)
        else:
            self._channel = aio.secure_channel(address, credentials, options=options)
        self._stub = router_pb2_grpc.RouterServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._deadlines = deadlines

    async def route(
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
        """Ask which model should handle ``text`` (see :meth:`RouterClient.route`).

        Raises:
            ServiceError: the call failed (INVALID_ARGUMENT names the field).
        """
        request = request_to_proto(RouteRequest(text, metadata or {}, input_tokens, top_k), full_trace=full_trace)
        response = await self._call(self._stub.Route, request, timeout or self._deadlines.call, request_id)
        return decision_from_proto(response.decision)

    async def route_batch(
        self,
        tasks: Sequence[str | RouteRequest],
        *,
        full_trace: bool = False,
        timeout: float | None = None,
        request_id: str | None = None,
    ) -> list[RemoteDecision]:
        """Decide up to 256 tasks in one call (see :meth:`RouterClient.route_batch`).

        Raises:
            ServiceError: the call failed (INVALID_ARGUMENT names the task, e.g. ``requests[3].text``).
        """
        request = batch_request(tasks, full_trace)
        response = await self._call(self._stub.RouteBatch, request, timeout or self._deadlines.batch, request_id)
        return [decision_from_proto(decision) for decision in response.decisions]

    async def list_routes(self, *, timeout: float | None = None) -> list[RouteInfo]:
        """The routes of the index in service, with their models and descriptions."""
        response = await self._call(self._stub.ListRoutes, pb.ListRoutesRequest(), timeout or self._deadlines.call)
        return [route_info_from_proto(route) for route in response.routes]

    async def index_info(self, *, timeout: float | None = None) -> IndexInfo:
        """The index in service: fingerprint, counts, model, build and load times, last reload error."""
        request = pb.GetIndexInfoRequest()
        response = await self._call(self._stub.GetIndexInfo, request, timeout or self._deadlines.call)
        return index_info_from_proto(response.index)

    async def reload_index(self, *, timeout: float | None = None) -> ReloadResult:
        """Have the server load its artifact on disk now.

        Raises:
            ServiceError: FAILED_PRECONDITION when the artifact is refused (the old index keeps serving).
        """
        request = pb.ReloadIndexRequest()
        response = await self._call(self._stub.ReloadIndex, request, timeout or self._deadlines.reload)
        return reload_result_from_proto(response)

    async def health(self, service: str = SERVICE_NAME, *, timeout: float | None = None) -> ServingStatus:
        """The server's health for ``service`` (``""``: the whole server)."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = await self._call(self._health.Check, request, timeout or self._deadlines.health)
        return serving_status_from_proto(response)

    async def close(self) -> None:
        """Close the channel; calls in progress are cancelled."""
        await self._channel.close(None)

    async def __aenter__(self) -> AsyncRouterClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.close()

    @staticmethod
    async def _call(
        method: aio.UnaryUnaryMultiCallable[_Request, _Response],
        request: _Request,
        timeout: float,
        request_id: str | None = None,
    ) -> _Response:
        metadata = aio.Metadata((REQUEST_ID_KEY, request_id)) if request_id else None
        try:
            return await method(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as error:
            raise ServiceError.from_rpc_error(error) from error
