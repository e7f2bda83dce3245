"""What the blocking and the asyncio client share: settings, the channel's configuration, and every call built as a
plain :class:`Call` (method, request message, deadline, metadata, how to read the answer).

The two faces (:mod:`._sync`, :mod:`._async`) differ only where I/O differs: how the channel is opened, how a call
is sent and how the channel is closed (the shape of httpx's ``BaseClient``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypedDict, TypeVar

from google.protobuf.message import Message

from semroute import wire
from semroute.client._channel import (
    DEFAULT_DEADLINES,
    DEFAULT_TARGET,
    ClientTls,
    Deadlines,
    channel_credentials,
    channel_options,
    channel_target,
)
from semroute.types import IndexInfo, ReloadResult, RemoteDecision, RouteInfo, RouteRequest, ServingStatus
from semroute.v1 import router_pb2 as pb
from semroute.v1 import router_pb2_grpc

Result = TypeVar("Result")


class CallOptions(TypedDict, total=False):
    """Options every call takes.

    Attributes:
        timeout: Deadline in seconds; None for the client's default for this kind of call (:class:`Deadlines`).
        request_id: Sent as ``x-request-id`` to tie the server's log line to your own; None lets the server pick
            one (a decision carries it in ``request_id``; a failed call in :attr:`ServiceError.request_id`).
    """

    timeout: float | None
    request_id: str | None


class BatchOptions(CallOptions, total=False):
    """Options of a batch of routing calls.

    Attributes:
        full_trace: Also return each decision's reasoning in ``trace``.
    """

    full_trace: bool


class RouteOptions(BatchOptions, total=False):
    """Options of one routing call.

    Attributes:
        metadata: Facts the override rules may test, e.g. ``{"data_sensitivity": "restricted"}``.
        input_tokens: Your own count of the task's input tokens (replaces the server's estimate).
        top_k: Nearest utterances to consider (1-200); None for the index's setting.
    """

    metadata: Mapping[str, str] | None
    input_tokens: int | None
    top_k: int | None


@dataclass(frozen=True)
class Call(Generic[Result]):
    """One unary call, ready to send on either face."""

    stub: Literal["router", "health"]
    method: str  # the stub's attribute, e.g. "Route"
    request: Message
    timeout: float
    metadata: tuple[tuple[str, str], ...] | None
    read: Callable[[Any], Result]  # the response message -> the value the caller gets


class ClientCore:
    """Settings and call building shared by :class:`~semroute.client.RouterClient` and
    :class:`~semroute.client.AsyncRouterClient`."""

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
        self._credentials = channel_credentials(tls, token)
        self._address = channel_target(target)
        self._options = channel_options(tls)
        self._deadlines = deadlines
        self._channel = self._open_channel()
        self._stubs: dict[str, Any] = {"router": router_pb2_grpc.RouterServiceStub(self._channel)}

    def _open_channel(self) -> Any:
        raise NotImplementedError  # each face opens its own kind of channel

    def _stub(self, name: Literal["router", "health"]) -> Any:
        if name not in self._stubs:
            # the health stub is made on the first health check: its modules are an eighth of the client's import
            from grpc_health.v1 import health_pb2_grpc

            self._stubs[name] = health_pb2_grpc.HealthStub(self._channel)
        return self._stubs[name]

    def _route_call(self, text: str, options: RouteOptions) -> Call[RemoteDecision]:
        request = RouteRequest(text, options.get("metadata") or {}, options.get("input_tokens"), options.get("top_k"))
        message = wire.request_to_proto(request, full_trace=options.get("full_trace", False))
        return self._call("Route", message, self._deadlines.call, options, _read_decision)

    def _batch_call(self, tasks: Sequence[str | RouteRequest], options: BatchOptions) -> Call[list[RemoteDecision]]:
        message = wire.batch_request_to_proto(tasks, full_trace=options.get("full_trace", False))
        return self._call("RouteBatch", message, self._deadlines.batch, options, _read_decisions)

    def _list_routes_call(self, options: CallOptions) -> Call[list[RouteInfo]]:
        return self._call("ListRoutes", pb.ListRoutesRequest(), self._deadlines.call, options, _read_routes)

    def _index_info_call(self, options: CallOptions) -> Call[IndexInfo]:
        return self._call("GetIndexInfo", pb.GetIndexInfoRequest(), self._deadlines.call, options, _read_index)

    def _reload_call(self, options: CallOptions) -> Call[ReloadResult]:
        request = pb.ReloadIndexRequest()
        return self._call("ReloadIndex", request, self._deadlines.reload, options, wire.reload_result_from_proto)

    def _health_call(self, service: str, options: CallOptions) -> Call[ServingStatus]:
        from grpc_health.v1 import health_pb2

        request = health_pb2.HealthCheckRequest(service=service)
        return self._call("Check", request, self._deadlines.health, options, wire.serving_status_from_proto, "health")

    @staticmethod
    def _call(
        method: str,
        request: Message,
        deadline: float,
        options: CallOptions,
        read: Callable[[Any], Result],
        stub: Literal["router", "health"] = "router",
    ) -> Call[Result]:
        request_id = options.get("request_id")
        metadata = ((wire.REQUEST_ID_KEY, request_id),) if request_id else None
        return Call(stub, method, request, options.get("timeout") or deadline, metadata, read)


def _read_decision(response: pb.RouteResponse) -> RemoteDecision:
    return wire.decision_from_proto(response.decision)


def _read_decisions(response: pb.RouteBatchResponse) -> list[RemoteDecision]:
    return [wire.decision_from_proto(decision) for decision in response.decisions]


def _read_routes(response: pb.ListRoutesResponse) -> list[RouteInfo]:
    return [wire.route_info_from_proto(route) for route in response.routes]


def _read_index(response: pb.GetIndexInfoResponse) -> IndexInfo:
    return wire.index_info_from_proto(response.index)
