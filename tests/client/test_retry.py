"""The client's own retry: Route and RouteBatch are sent once more after UNAVAILABLE, within the caller's deadline.

The policy is tested on its own (plain inputs, a hand-driven clock), then through both clients against a proxy that
fails calls on command in front of the session server.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from semroute.client import SERVICE_CONFIG, AsyncRouterClient, RouterClient, ServiceError
from semroute.client._core import MIN_RETRY_SECONDS, RETRY_DELAY_SECONDS, Attempts, Call, may_retry
from semroute.v1 import router_pb2 as pb
from semroute.v1 import router_pb2_grpc
from semroute.wire import SERVICE_NAME

TASK = "write unit tests for the parser"
# What the channel's own retry policy spends before the client's retry gets a turn.
CHANNEL_ATTEMPTS: int = SERVICE_CONFIG["methodConfig"][0]["retryPolicy"]["maxAttempts"]  # type: ignore[index]
Code = grpc.StatusCode


class FakeRpcError(grpc.RpcError):
    """What a failed call raises, with the accessors ``ServiceError.from_rpc_error`` reads."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return f"{self._code.name} on purpose"

    def trailing_metadata(self) -> Any:
        return ()


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _call(method: str = "Route", timeout: float = 2.0, idempotent: bool = True) -> Call[Any]:
    return Call("router", method, pb.RouteRequest(text=TASK), timeout, None, lambda response: response, idempotent)


ENOUGH = RETRY_DELAY_SECONDS + MIN_RETRY_SECONDS  # the least time left for which a retry is sent


@pytest.mark.parametrize(
    ("idempotent", "code", "retries_left", "seconds_left", "expected"),
    [
        (True, Code.UNAVAILABLE, 1, 1.0, True),
        (True, Code.UNAVAILABLE, 1, ENOUGH, True),
        (True, Code.UNAVAILABLE, 0, 1.0, False),  # once only
        (True, Code.UNAVAILABLE, 1, ENOUGH - 0.01, False),  # not enough time left for the pause and the call
        (True, Code.UNAVAILABLE, 1, -0.1, False),
        (False, Code.UNAVAILABLE, 1, 1.0, False),  # ListRoutes, GetIndexInfo, ReloadIndex, health
        (True, Code.INVALID_ARGUMENT, 1, 1.0, False),
        (True, Code.RESOURCE_EXHAUSTED, 1, 1.0, False),
        (True, Code.DEADLINE_EXCEEDED, 1, 1.0, False),
        (True, Code.INTERNAL, 1, 1.0, False),
        (True, Code.FAILED_PRECONDITION, 1, 1.0, False),
        (True, Code.UNAUTHENTICATED, 1, 1.0, False),
        (True, Code.CANCELLED, 1, 1.0, False),
    ],
)
def test_may_retry(
    idempotent: bool, code: grpc.StatusCode, retries_left: int, seconds_left: float, expected: bool
) -> None:
    assert may_retry(idempotent, code, retries_left, seconds_left) is expected


def test_the_retry_waits_then_gets_what_is_left_of_the_deadline_and_comes_once() -> None:
    clock = Clock()
    attempts = Attempts(_call(timeout=2.0), clock)
    assert attempts.timeout == 2.0

    clock.now += 0.5
    assert attempts.failed(FakeRpcError(Code.UNAVAILABLE)) == RETRY_DELAY_SECONDS
    clock.now += RETRY_DELAY_SECONDS
    assert attempts.timeout == pytest.approx(1.5 - RETRY_DELAY_SECONDS)

    clock.now += 0.2
    with pytest.raises(ServiceError) as second:
        attempts.failed(FakeRpcError(Code.UNAVAILABLE))
    assert second.value.code is Code.UNAVAILABLE
    assert isinstance(second.value.__cause__, FakeRpcError)


def test_no_retry_once_the_deadline_is_nearly_spent() -> None:
    clock = Clock()
    attempts = Attempts(_call(timeout=1.0), clock)
    clock.now += 1.0 - ENOUGH + 0.01

    with pytest.raises(ServiceError) as failed:
        attempts.failed(FakeRpcError(Code.UNAVAILABLE))
    assert failed.value.code is Code.UNAVAILABLE


@pytest.mark.parametrize("code", [Code.INVALID_ARGUMENT, Code.RESOURCE_EXHAUSTED, Code.DEADLINE_EXCEEDED])
def test_answers_are_not_retried(code: grpc.StatusCode) -> None:
    with pytest.raises(ServiceError) as failed:
        Attempts(_call(), Clock()).failed(FakeRpcError(code))
    assert failed.value.code is code


def test_calls_that_are_not_idempotent_are_not_retried() -> None:
    with pytest.raises(ServiceError):
        Attempts(_call("ReloadIndex", idempotent=False), Clock()).failed(FakeRpcError(Code.UNAVAILABLE))


class FlakyProxy:
    """A RouterService that fails the next calls on command and passes the others to a real server.

    It reports SERVING, so that the health-checked client channel sends it calls.
    """

    def __init__(self, upstream: str) -> None:
        self._upstream = grpc.insecure_channel(upstream)
        self._stub = router_pb2_grpc.RouterServiceStub(self._upstream)
        self._lock = threading.Lock()
        self._failures: list[grpc.StatusCode] = []
        self.calls: Counter[str] = Counter()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((self._router_handler(),))
        health_servicer = health.HealthServicer()
        for name in ("", SERVICE_NAME):
            health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, self._server)
        self.target = f"127.0.0.1:{self._server.add_insecure_port('127.0.0.1:0')}"
        self._server.start()

    def fail(self, code: grpc.StatusCode, times: int) -> None:
        """Answer the next ``times`` routing calls with ``code``."""
        with self._lock:
            self._failures = [code] * times

    def close(self) -> None:
        """Stop serving and close the channel to the real server."""
        self._server.stop(0).wait()
        self._upstream.close()

    def _router_handler(self) -> grpc.GenericRpcHandler[Any, Any]:
        messages: dict[str, tuple[type[Message], type[Message]]] = {
            "Route": (pb.RouteRequest, pb.RouteResponse),
            "RouteBatch": (pb.RouteBatchRequest, pb.RouteBatchResponse),
            "ListRoutes": (pb.ListRoutesRequest, pb.ListRoutesResponse),
        }
        handlers = {
            method: grpc.unary_unary_rpc_method_handler(
                self._relay(method),
                request_deserializer=request.FromString,
                response_serializer=type_.SerializeToString,
            )
            for method, (request, type_) in messages.items()
        }
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)

    def _relay(self, method: str) -> Callable[[Any, grpc.ServicerContext], Any]:
        def relay(request: Any, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self.calls[method] += 1
                code = self._failures.pop() if self._failures else None
            if code is not None:
                context.abort(code, f"{code.name} from the flaky proxy")
            return getattr(self._stub, method)(request, timeout=context.time_remaining())

        return relay


@pytest.fixture
def proxy(target: str) -> Iterator[FlakyProxy]:
    """A flaky proxy in front of the session server."""
    flaky = FlakyProxy(target)
    yield flaky
    flaky.close()


def test_route_is_sent_again_after_the_channel_gives_up(proxy: FlakyProxy) -> None:
    proxy.fail(Code.UNAVAILABLE, CHANNEL_ATTEMPTS)

    with RouterClient(proxy.target) as client:
        decision = client.route(TASK)

    assert decision.route == "test_generation"
    assert proxy.calls["Route"] == CHANNEL_ATTEMPTS + 1


def test_route_batch_is_sent_again_after_the_channel_gives_up(proxy: FlakyProxy) -> None:
    proxy.fail(Code.UNAVAILABLE, CHANNEL_ATTEMPTS)

    with RouterClient(proxy.target) as client:
        decisions = client.route_batch([TASK, TASK])

    assert [decision.route for decision in decisions] == ["test_generation"] * 2
    assert proxy.calls["RouteBatch"] == CHANNEL_ATTEMPTS + 1


def test_list_routes_is_left_to_the_channel_retries(proxy: FlakyProxy) -> None:
    proxy.fail(Code.UNAVAILABLE, CHANNEL_ATTEMPTS)

    with RouterClient(proxy.target) as client, pytest.raises(ServiceError) as failed:
        client.list_routes()

    assert failed.value.code is Code.UNAVAILABLE
    assert proxy.calls["ListRoutes"] == CHANNEL_ATTEMPTS


def test_a_retry_that_fails_too_raises_unavailable(proxy: FlakyProxy) -> None:
    proxy.fail(Code.UNAVAILABLE, 100)

    with RouterClient(proxy.target) as client, pytest.raises(ServiceError) as failed:
        client.route(TASK)

    assert failed.value.code is Code.UNAVAILABLE
    assert proxy.calls["Route"] > CHANNEL_ATTEMPTS  # the client sent it again (the throttle may cut the channel's)


def test_invalid_argument_is_sent_once(proxy: FlakyProxy) -> None:
    proxy.fail(Code.INVALID_ARGUMENT, 1)

    with RouterClient(proxy.target) as client, pytest.raises(ServiceError) as failed:
        client.route(TASK)

    assert failed.value.code is Code.INVALID_ARGUMENT
    assert proxy.calls["Route"] == 1


def test_the_asyncio_client_retries_the_same_way(proxy: FlakyProxy) -> None:
    async def failing_first(call: Callable[[AsyncRouterClient], Awaitable[Any]]) -> Any:
        proxy.fail(Code.UNAVAILABLE, CHANNEL_ATTEMPTS)
        async with AsyncRouterClient(proxy.target) as client:  # a fresh channel: its retry throttle is full
            return await call(client)

    async def calls() -> tuple[str, list[str], ServiceError]:
        single = await failing_first(lambda client: client.route(TASK))
        batch = await failing_first(lambda client: client.route_batch([TASK]))
        with pytest.raises(ServiceError) as refused:
            await failing_first(lambda client: client.list_routes())
        return single.route, [decision.route for decision in batch], refused.value

    single, batch, refused = asyncio.run(calls())

    assert (single, batch) == ("test_generation", ["test_generation"])
    assert refused.code is Code.UNAVAILABLE
    assert proxy.calls == {
        "Route": CHANNEL_ATTEMPTS + 1,
        "RouteBatch": CHANNEL_ATTEMPTS + 1,
        "ListRoutes": CHANNEL_ATTEMPTS,
    }
