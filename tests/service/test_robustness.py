"""The promises of the gRPC section under faults and load: malformed bytes, saturation, queue deadlines, crafted
artifacts, admin-only reloads, token files, and a shutdown that keeps its word, all on real servers."""

from __future__ import annotations

import logging
import signal
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from semroute.client import RouterClient, ServiceError, ServingStatus
from semroute.errors import ConfigError
from semroute.service import read_token_file
from semroute.v1 import router_pb2 as pb
from semroute.wire import REQUEST_ID_KEY, SERVICE_NAME
from tests.test_manifest import rewrite

from .conftest import LOOPBACK, GatedEmbedder, RunningServer, ServerProcess, replace_atomically, wait_until

TASK = "write unit tests for the parser"
ROUTE = f"/{SERVICE_NAME}/Route"


def raw_route(target: str, payload: bytes) -> tuple[grpc.StatusCode, str, str]:
    """Send ``payload`` as a Route request's bytes; the status code, details and the request id trailer."""
    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(ROUTE, request_serializer=None, response_deserializer=None)
        try:
            _, outcome = call.with_call(payload, timeout=10)
        except grpc.RpcError as error:
            outcome = error
        request_id = next((v for k, v in outcome.trailing_metadata() or () if k == REQUEST_ID_KEY), "")
        return outcome.code(), outcome.details() or "", str(request_id)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x0a\x03\xff\xfe\xfd", "bad UTF-8"),  # text field holding invalid UTF-8
        (pb.RouteRequest(text=TASK).SerializeToString()[:-5], "corrupt"),  # truncated
        (b"\xff\xff\xff\xff\xff", "corrupt"),  # random bytes
    ],
)
def test_malformed_bytes_are_invalid_argument_with_a_request_id_and_no_traceback(
    target: str, payload: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="semroute.service"):
        code, details, request_id = raw_route(target, payload)

    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("request: not a valid RouteRequest message") and reason in details
    assert request_id
    assert not [record for record in caplog.records if record.exc_info]
    logged = [record for record in caplog.records if record.getMessage() == "rpc"]
    assert [record.fields["code"] for record in logged] == ["INVALID_ARGUMENT"]  # type: ignore[attr-defined]


def test_a_metadata_key_with_a_trailing_newline_is_refused(client: RouterClient) -> None:
    with pytest.raises(ServiceError) as refused:
        client.route(TASK, metadata={"k" * 64 + "\n": "v"})

    assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details.startswith("metadata: key")


def test_health_answers_within_100_ms_while_routing_is_saturated(
    start_server: Any, gated_embedder: GatedEmbedder
) -> None:
    running: RunningServer = start_server(embedder_override=gated_embedder, max_concurrent_rpcs=4)
    gated_embedder.hold()

    with RouterClient(running.target) as client, ThreadPoolExecutor(max_workers=12) as pool:
        calls = [pool.submit(client.route, TASK, timeout=60) for _ in range(12)]
        wait_until(lambda: sum(call.done() for call in calls) >= 8, "the calls beyond the limit to be shed")
        # a deadline of 100 ms: an answer at all proves health is neither queued nor shed with the routing calls
        assert client.health(timeout=0.1) is ServingStatus.SERVING
        running.server.begin_shutdown()
        assert client.health(timeout=0.1) is ServingStatus.NOT_SERVING
        gated_embedder.release()
        outcomes = [_code_of(call.exception(timeout=60)) for call in calls]

    assert outcomes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) == 8
    assert outcomes.count(grpc.StatusCode.OK) == 4


def _code_of(error: BaseException | None) -> grpc.StatusCode:
    return grpc.StatusCode.OK if error is None else error.code  # type: ignore[attr-defined,no-any-return]


def test_a_call_whose_deadline_passes_while_queued_is_dropped_and_logged(
    start_server: Any, gated_embedder: GatedEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    running: RunningServer = start_server(embedder_override=gated_embedder, compute_slots=2)
    gated_embedder.hold()

    with caplog.at_level(logging.INFO, logger="semroute.service"), RouterClient(running.target) as client:
        with ThreadPoolExecutor(max_workers=1) as pool:
            running_call = pool.submit(client.route, TASK, timeout=60)
            assert gated_embedder.entered.wait(30)  # the short lane's slot is taken
            calls_before = gated_embedder.calls
            with pytest.raises(ServiceError) as late:
                client.route(TASK, timeout=0.3, request_id="queued-too-long")
            gated_embedder.release()
            running_call.result()

    assert late.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert gated_embedder.calls == calls_before + 0  # the dropped call never reached the model
    wait_until(lambda: _logged(caplog, "queued-too-long") is not None, "the dropped call's log line")
    line = _logged(caplog, "queued-too-long")
    assert line is not None and line["code"] == "DEADLINE_EXCEEDED" and line["latency_ms"] >= 250


def _logged(caplog: pytest.LogCaptureFixture, request_id: str) -> dict[str, Any] | None:
    for record in caplog.records:
        fields = getattr(record, "fields", {})
        if record.getMessage() == "rpc" and fields.get("request_id") == request_id:
            return dict(fields)
    return None


@pytest.mark.parametrize(
    ("manifest_edit", "rows", "reason"),
    [
        (lambda m: None, lambda r: [*r[:-1], 10_000], "route numbers outside"),
        (lambda m: m.pop("counts"), None, "counts"),
        (lambda m: m.update(built_at="yesterday"), None, "built_at"),
        (lambda m: m["counts"].update(utterances=1), None, "counts"),
    ],
)
def test_a_crafted_artifact_is_refused_on_reload_with_its_reason(
    start_server: Any, tmp_path: Path, manifest_edit: Any, rows: Any, reason: str
) -> None:
    running: RunningServer = start_server()
    crafted = rewrite(running.index_path, tmp_path / "crafted.zip", manifest_edit, rows=rows)

    with RouterClient(running.target) as client:
        before = client.index_info().fingerprint
        replace_atomically(running.index_path, crafted)
        with pytest.raises(ServiceError) as refused:
            client.reload_index()

        assert refused.value.code is grpc.StatusCode.FAILED_PRECONDITION
        assert reason in refused.value.details
        info = client.index_info()
        assert reason in info.last_reload_error and info.fingerprint == before
        assert client.route(TASK).route == "test_generation"


def test_concurrent_reloads_of_an_unchanged_file_coalesce_and_stay_cheap(client: RouterClient) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: client.reload_index(), range(64)))

    assert {result.changed for result in results} == {False}
    assert len({result.index.fingerprint for result in results}) == 1


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        ("s3cret\n", 0o644, "readable by its group or others"),
        ("s3cret\nsecond line\n", 0o600, "holds 2 lines"),
        ("\n", 0o600, "is empty"),
    ],
)
def test_unsafe_token_files_are_refused(tmp_path: Path, content: str, mode: int, message: str) -> None:
    path = tmp_path / "token"
    path.write_text(content)
    path.chmod(mode)

    with pytest.raises(ConfigError, match=message):
        read_token_file(path)


def test_a_private_one_line_token_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("  s3cret  \n")
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)

    assert read_token_file(path) == "s3cret"


def _serve_process(tmp_path: Path, default_index_path: Path, grace: float) -> tuple[ServerProcess, str]:
    """``semroute serve`` in a child process with this grace period, once SERVING, and where to dial it."""
    index_path = tmp_path / "index.zip"
    replace_atomically(index_path, default_index_path)
    server = ServerProcess(index_path, "--grace-seconds", str(grace))
    try:
        return server, f"{LOOPBACK}:{server.record('serving')['port']}"
    except BaseException:
        server.close()
        raise


LONG_BATCH = 8  # long texts per batch: well under a second each on 2 cores, even on a busy machine


def test_sigterm_completes_every_admitted_call_and_exits_within_grace(
    tmp_path: Path, default_index_path: Path, long_task: str
) -> None:
    grace = 20.0
    server, target = _serve_process(tmp_path, default_index_path, grace)
    try:
        with RouterClient(target) as client, ThreadPoolExecutor(max_workers=4) as pool:
            batches = [
                pool.submit(client.route_batch, [long_task] * LONG_BATCH, timeout=120, request_id=f"batch-{n}")
                for n in range(4)
            ]
            for n in range(4):
                server.record("rpc started", request_id=f"batch-{n}")
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            answered = [len(batch.result()) for batch in batches]
        assert server.process.wait(timeout=grace + 5) == 0
        exited = time.monotonic() - signalled
    finally:
        server.close()

    assert answered == [LONG_BATCH] * 4
    assert exited <= grace + 1.0
    assert [server.record("rpc", request_id=f"batch-{n}")["code"] for n in range(4)] == ["OK"] * 4


def test_sigterm_exits_by_grace_plus_one_second_whatever_the_handlers_do(
    tmp_path: Path, default_index_path: Path, long_task: str
) -> None:
    grace = 1.0
    server, target = _serve_process(tmp_path, default_index_path, grace)
    try:
        with RouterClient(target) as client, ThreadPoolExecutor(max_workers=1) as pool:
            too_long = pool.submit(client.route_batch, [long_task] * 256, timeout=120, request_id="too-long")
            server.record("rpc started", request_id="too-long")
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            returncode = server.process.wait(timeout=30)
            exited = time.monotonic() - signalled
            with pytest.raises(ServiceError):
                too_long.result()
    finally:
        server.close()

    assert returncode == 0
    assert exited <= grace + 1.5  # the process's own bound is grace + 1 s; the rest is this test's polling
    server.record("exiting with calls still running after the grace period")
