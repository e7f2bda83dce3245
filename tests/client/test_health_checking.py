"""Client-side health checking: the channel sends calls only to backends whose grpc.health.v1 status is SERVING."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from semroute.client import RouterClient, ServiceError, ServingStatus
from semroute.embedding import FastEmbedEmbedder
from tests.service.conftest import GatedEmbedder, RunningServer, wait_until

TASK = "write unit tests for the parser"
SAMPLE_CALLS = 12  # enough for round_robin over two backends to reach both several times


def _route_many(client: RouterClient, count: int) -> None:
    for _ in range(count):
        assert client.route(TASK).route == "test_generation"


def _reaches(client: RouterClient, embedder: GatedEmbedder) -> bool:
    """Whether any of a sample of calls reached the backend that embeds with ``embedder``."""
    before = embedder.calls
    _route_many(client, SAMPLE_CALLS)
    return embedder.calls > before


def test_calls_reach_a_backend_only_while_it_reports_serving(start_server: Any, embedder: FastEmbedEmbedder) -> None:
    steady, changing = GatedEmbedder(embedder), GatedEmbedder(embedder)
    servers: list[RunningServer] = [
        start_server(embedder_override=steady),
        start_server(embedder_override=changing, load=False),  # NOT_SERVING until loaded
    ]

    with RouterClient([running.target for running in servers]) as client:
        assert not _reaches(client, changing)

        servers[1].server.load()
        wait_until(lambda: _reaches(client, changing), "calls to reach the backend once it is SERVING")

        servers[1].server.begin_shutdown()  # NOT_SERVING, though it would still answer
        wait_until(lambda: not _reaches(client, changing), "calls to leave the draining backend")
        assert not _reaches(client, changing)
        assert _reaches(client, steady)


def test_a_lone_backend_is_not_health_checked_so_its_drain_still_answers(start_server: Any) -> None:
    running: RunningServer = start_server()

    with RouterClient(running.target) as client:
        assert client.route(TASK).route == "test_generation"
        running.server.begin_shutdown()

        # health checks go through a channel of their own, which does dial a backend that is not SERVING
        wait_until(lambda: client.health() is ServingStatus.NOT_SERVING, "health to report the drain")
        assert client.health("") is ServingStatus.NOT_SERVING
        assert client.route(TASK).route == "test_generation"  # one address: whatever balances behind it decides


def test_a_lone_backend_health_checked_on_request_gets_no_calls_while_draining(start_server: Any) -> None:
    running: RunningServer = start_server()

    with RouterClient(running.target, health_checked=True) as client:
        assert client.route(TASK).route == "test_generation"
        running.server.begin_shutdown()
        wait_until(lambda: client.health() is ServingStatus.NOT_SERVING, "health to report the drain")
        with pytest.raises(ServiceError) as refused:
            client.route(TASK)

    assert refused.value.code is grpc.StatusCode.UNAVAILABLE
