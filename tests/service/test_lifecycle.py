"""Start-up, health, load shedding and graceful shutdown, in-process and as a real process receiving signals."""

from __future__ import annotations

import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from semroute.client import RouterClient, ServiceError, ServingStatus
from semroute.errors import ConfigError
from semroute.service import ServerConfig, create_server

from .conftest import LOOPBACK, GatedEmbedder, RunningServer, ServerProcess, replace_atomically, wait_until

REPO = Path(__file__).resolve().parents[2]
TASK = "write unit tests for the parser"


def _health(client: RouterClient) -> tuple[ServingStatus, ServingStatus]:
    return client.health(), client.health("")


def test_health_moves_not_serving_serving_not_serving(start_server: Any) -> None:
    running: RunningServer = start_server(load=False)

    with RouterClient(running.target) as client:
        assert _health(client) == (ServingStatus.NOT_SERVING, ServingStatus.NOT_SERVING)

        running.server.load()
        assert _health(client) == (ServingStatus.SERVING, ServingStatus.SERVING)

        running.server.begin_shutdown()
        assert _health(client) == (ServingStatus.NOT_SERVING, ServingStatus.NOT_SERVING)
        assert client.route(TASK).route == "test_generation"  # the drain still answers

        running.server.finish_shutdown(1.0)


def test_graceful_stop_finishes_the_call_in_flight_and_refuses_new_ones(
    start_server: Any, gated_embedder: GatedEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="semroute.service")
    running: RunningServer = start_server(embedder_override=gated_embedder, grace_seconds=60.0)
    gated_embedder.hold()

    with RouterClient(running.target) as client, ThreadPoolExecutor(max_workers=2) as pool:
        in_flight = pool.submit(client.route, TASK, timeout=60)
        assert gated_embedder.entered.wait(30)
        stopping = pool.submit(running.server.stop)
        wait_until(lambda: any(r.getMessage() == "refusing new calls" for r in caplog.records), "the stop")

        with RouterClient(running.target) as late_client, pytest.raises(ServiceError) as refused:
            late_client.route(TASK)
        gated_embedder.release()

        assert refused.value.code is grpc.StatusCode.UNAVAILABLE
        assert in_flight.result().route == "test_generation"
        stopping.result()


def test_calls_over_the_concurrency_limit_are_shed(start_server: Any, gated_embedder: GatedEmbedder) -> None:
    running: RunningServer = start_server(embedder_override=gated_embedder, max_concurrent_rpcs=1)
    gated_embedder.hold()

    with RouterClient(running.target) as client, ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(client.route, TASK, timeout=60)
        assert gated_embedder.entered.wait(30)
        with pytest.raises(ServiceError) as shed:
            client.route(TASK)
        gated_embedder.release()

        assert shed.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert held.result().route == "test_generation"


def test_a_second_server_cannot_take_the_same_port(session_server: RunningServer) -> None:
    port = int(session_server.target.rsplit(":", 1)[1])

    with pytest.raises(ConfigError, match="cannot listen"):
        create_server(ServerConfig(host=LOOPBACK, port=port, index_path=session_server.index_path))


def test_real_process_reloads_on_sighup_and_drains_on_sigterm(
    tmp_path: Path, default_index_path: Path, variant_index_path: Path, long_task: str
) -> None:
    index_path = tmp_path / "index.zip"
    replace_atomically(index_path, default_index_path)
    server = ServerProcess(index_path)
    try:
        target = f"{LOOPBACK}:{server.record('serving')['port']}"
        with RouterClient(target) as client, ThreadPoolExecutor(max_workers=1) as pool:
            first = client.index_info().fingerprint
            replace_atomically(index_path, variant_index_path)
            server.process.send_signal(signal.SIGHUP)
            wait_until(lambda: client.index_info().fingerprint != first, "the SIGHUP reload")

            in_flight = pool.submit(client.route_batch, [long_task] * 16, timeout=120, request_id="in-flight")
            server.record("rpc started", request_id="in-flight")
            server.process.send_signal(signal.SIGTERM)
            server.record("refusing new calls")
            with RouterClient(target) as late_client, pytest.raises(ServiceError) as refused:
                late_client.route(TASK)

            assert refused.value.code is grpc.StatusCode.UNAVAILABLE
            assert len(in_flight.result()) == 16
        assert server.process.wait(timeout=60) == 0
        finished = server.record("rpc", request_id="in-flight")
        assert finished["code"] == "OK"
        assert server.position(finished) > server.position(server.record("refusing new calls"))
        server.record("stopped")
    finally:
        server.close()


def _reflected_services(target: str) -> set[str]:
    with grpc.insecure_channel(target) as channel:
        return set(ProtoReflectionDescriptorDatabase(channel).get_services())


def test_reflection_is_off_by_default_and_on_with_the_flag(session_server: RunningServer, start_server: Any) -> None:
    with pytest.raises(grpc.RpcError) as off:
        _reflected_services(session_server.target)
    assert off.value.code() is grpc.StatusCode.UNIMPLEMENTED

    reflecting: RunningServer = start_server(reflection=True)
    assert "semroute.v1.RouterService" in _reflected_services(reflecting.target)
