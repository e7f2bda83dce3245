"""The contract and the public surface: generated code current, buf lint clean, exports deliberate."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import semroute.client
import semroute.service
from semroute import _protogen

REPO = Path(__file__).resolve().parents[2]


def test_generated_code_matches_the_proto() -> None:
    assert _protogen.stale_files() == []


def test_buf_lint_passes() -> None:
    buf = shutil.which("buf", path=str(Path(sys.executable).parent)) or shutil.which("buf")
    assert buf is not None, "buf is missing: `make install` installs it (PyPI buf-bin)"

    result = subprocess.run([buf, "lint"], cwd=REPO, capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_modules_import_without_path_tricks() -> None:
    from semroute.v1 import router_pb2, router_pb2_grpc

    assert router_pb2.DESCRIPTOR.package == "semroute.v1"
    assert hasattr(router_pb2_grpc, "RouterServiceStub")


def test_client_exports() -> None:
    assert sorted(semroute.client.__all__) == [
        "AsyncRouterClient",
        "Attempt",
        "AttemptOutcome",
        "BatchOptions",
        "CallOptions",
        "Candidate",
        "ChatMessage",
        "ClientTls",
        "DEFAULT_DEADLINES",
        "DEFAULT_TARGET",
        "Deadlines",
        "IndexInfo",
        "ModelConfig",
        "OutcomeOptions",
        "ReloadResult",
        "RemoteDecision",
        "ReportOptions",
        "ResolvedModel",
        "RouteInfo",
        "RouteOptions",
        "RouteRequest",
        "RouterClient",
        "SERVICE_CONFIG",
        "ServiceError",
        "ServingStatus",
        "StoreStats",
        "Tier",
        "chat_turns",
    ]


def test_service_exports() -> None:
    assert sorted(semroute.service.__all__) == [
        "DEFAULT_COMPUTE_SLOTS",
        "DEFAULT_DRAIN_SECONDS",
        "DEFAULT_GRACE_SECONDS",
        "DEFAULT_HOST",
        "DEFAULT_MAX_ADMITTED_TOKENS",
        "DEFAULT_MAX_CONCURRENT_RPCS",
        "DEFAULT_MAX_WAITING_REPORTS",
        "DEFAULT_PORT",
        "DEFAULT_WATCH_SECONDS",
        "HEALTH_NAMES",
        "JsonFormatter",
        "MAX_BATCH_REQUESTS",
        "MAX_MESSAGE_BYTES",
        "RouterServer",
        "SERVICE_NAME",
        "ServerConfig",
        "TlsFiles",
        "configure_logging",
        "create_server",
        "read_token_file",
        "serve",
        "status_for",
    ]
