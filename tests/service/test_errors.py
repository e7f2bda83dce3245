"""Each bad input gets its documented status code and a message naming the field; failures map in one place."""

from __future__ import annotations

import logging
from typing import Any

import grpc
import pytest

from semroute.client import RouterClient, ServiceError
from semroute.errors import IndexModelMismatchError, NotReadyError, RequestError
from semroute.router import MAX_TEXT_CHARS
from semroute.service import MAX_BATCH_REQUESTS, MAX_MESSAGE_BYTES, ServerConfig, status_for
from semroute.service._admission import Admission
from semroute.service._errors import INTERNAL_MESSAGE, DeadlineExpiredError
from semroute.service._live_router import LiveRouter
from semroute.service._servicer import RouterServicer
from semroute.service._watcher import ArtifactWatcher
from semroute.types import RouteRequest
from semroute.v1 import router_pb2 as pb
from semroute.v1 import router_pb2_grpc
from semroute.wire import request_to_proto

from .conftest import GatedEmbedder, RunningServer

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": " \n\t "}, "text"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "text"),
        ({"text": "fix it", "top_k": 0}, "top_k"),
        ({"text": "fix it", "top_k": 201}, "top_k"),
        ({"text": "fix it", "input_tokens": -1}, "input_tokens"),
        ({"text": "fix it", "metadata": {"bad key!": "x"}}, "metadata"),
        ({"text": "fix it", "metadata": {f"key{n}": "x" for n in range(33)}}, "metadata"),
        ({"text": "fix it", "metadata": {"team": "x" * 257}}, "metadata[team]"),
    ],
    ids=[
        "empty",
        "whitespace",
        "over-limit",
        "top_k-0",
        "top_k-201",
        "negative-input_tokens",
        "metadata-key",
        "metadata-entries",
        "metadata-value",
    ],
)
def test_bad_route_input_is_invalid_argument_naming_the_field(
    client: RouterClient, arguments: dict[str, Any], field: str
) -> None:
    text = arguments.pop("text")
    with pytest.raises(ServiceError) as raised:
        client.route(text, **arguments)

    assert raised.value.code is INVALID
    assert raised.value.details.startswith(f"{field}: ")
    assert raised.value.request_id  # the trailer carries it, errors included


def test_text_at_the_limit_is_routed(client: RouterClient) -> None:
    assert client.route("x" * MAX_TEXT_CHARS).route


@pytest.mark.parametrize(
    ("tasks", "field"),
    [
        ([], "requests"),
        (["fine"] * (MAX_BATCH_REQUESTS + 1), "requests"),
        (["fine", "  "], "requests[1].text"),
        (["fine", RouteRequest("fine", top_k=500)], "requests[1].top_k"),
    ],
    ids=["empty", "too-many", "item-text", "item-top_k"],
)
def test_bad_batch_is_invalid_argument_naming_the_item(
    client: RouterClient, tasks: list[str | RouteRequest], field: str
) -> None:
    with pytest.raises(ServiceError) as raised:
        client.route_batch(tasks)

    assert raised.value.code is INVALID
    assert raised.value.details.startswith(f"{field}: ")


def test_message_over_the_transport_limit_is_resource_exhausted(target: str) -> None:
    # A bare channel without the client's own send limit, so that the server is the one refusing.
    with grpc.insecure_channel(target) as channel:
        stub = router_pb2_grpc.RouterServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Route(pb.RouteRequest(text="x" * (MAX_MESSAGE_BYTES + 1)), timeout=10)

    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_not_loaded_yet_is_unavailable(start_server: Any) -> None:
    running: RunningServer = start_server(load=False)

    with RouterClient(running.target) as client, pytest.raises(ServiceError) as raised:
        client.route("write unit tests for the parser")

    assert raised.value.code is grpc.StatusCode.UNAVAILABLE


def test_a_bug_is_internal_with_a_fixed_message_and_a_logged_traceback(
    start_server: Any, gated_embedder: GatedEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    running: RunningServer = start_server(embedder_override=gated_embedder)
    gated_embedder.failure = RuntimeError("secret internal detail")

    with caplog.at_level(logging.ERROR), RouterClient(running.target) as client:
        with pytest.raises(ServiceError) as raised:
            client.route("write unit tests for the parser")

    assert raised.value.code is grpc.StatusCode.INTERNAL
    assert raised.value.details == INTERNAL_MESSAGE
    logged = [record for record in caplog.records if record.exc_info]
    assert "secret internal detail" in str(logged[0].exc_info[1])


def test_expired_deadline_gives_up_before_embedding(start_server: Any, gated_embedder: GatedEmbedder) -> None:
    running: RunningServer = start_server(embedder_override=gated_embedder)
    live = running.server.live
    servicer = RouterServicer(live, Admission(ServerConfig().admission), ArtifactWatcher(live, 0), reload_seconds=1)
    calls_before = gated_embedder.calls

    with pytest.raises(DeadlineExpiredError) as raised:
        servicer.Route(request_to_proto(RouteRequest("write unit tests")), _ExpiredContext())

    assert status_for(raised.value)[0] is grpc.StatusCode.DEADLINE_EXCEEDED
    assert gated_embedder.calls == calls_before


class _ExpiredContext:
    def time_remaining(self) -> float:
        return 0.0

    def is_active(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (RequestError("text", "must not be empty"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotReadyError("starting"), grpc.StatusCode.UNAVAILABLE),
        (IndexModelMismatchError("other model"), grpc.StatusCode.FAILED_PRECONDITION),
        (DeadlineExpiredError("late"), grpc.StatusCode.DEADLINE_EXCEEDED),
        (KeyError("secret"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_table(error: Exception, code: grpc.StatusCode) -> None:
    mapped, message = status_for(error)

    assert mapped is code
    assert message == (INTERNAL_MESSAGE if code is grpc.StatusCode.INTERNAL else str(error))


def test_live_router_before_load_is_not_ready(default_index_path: Any) -> None:
    with pytest.raises(NotReadyError):
        LiveRouter(default_index_path).snapshot()
