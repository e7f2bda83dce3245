"""TLS and bearer tokens, ready for deployment: certificates from trustme, loopback only."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import grpc
import pytest

from semroute.client import ClientTls, RouterClient, ServiceError, ServingStatus
from semroute.errors import ConfigError
from semroute.service import TlsFiles

from .conftest import RunningServer

TOKEN = "s3cret-token"


def test_tls_with_a_token_round_trip(start_server: Any, certificates: tuple[TlsFiles, ClientTls]) -> None:
    server_tls, client_tls = certificates
    running: RunningServer = start_server(tls=server_tls, token=TOKEN)

    with RouterClient(running.target, tls=client_tls, token=TOKEN) as client:
        assert client.route("write unit tests for the parser").route == "test_generation"

    with RouterClient(running.target, tls=client_tls) as anonymous:
        assert anonymous.health() is ServingStatus.SERVING  # probes carry no token
        with pytest.raises(ServiceError) as refused:
            anonymous.route("write unit tests for the parser")
    assert refused.value.code is grpc.StatusCode.UNAUTHENTICATED

    with RouterClient(running.target, tls=client_tls, token="wrong") as wrong, pytest.raises(ServiceError) as denied:
        wrong.index_info()
    assert denied.value.code is grpc.StatusCode.UNAUTHENTICATED


def test_plaintext_client_cannot_talk_to_a_tls_server(
    start_server: Any, certificates: tuple[TlsFiles, ClientTls]
) -> None:
    running: RunningServer = start_server(tls=certificates[0])

    with RouterClient(running.target) as plaintext, pytest.raises(ServiceError) as failed:
        plaintext.route("write unit tests for the parser")

    assert failed.value.code is grpc.StatusCode.UNAVAILABLE


def test_a_token_needs_tls() -> None:
    with pytest.raises(ValueError, match="needs TLS"):
        RouterClient("127.0.0.1:1", token=TOKEN)


def test_unreadable_tls_files_are_a_config_error(start_server: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TLS"):
        start_server(tls=TlsFiles(tmp_path / "missing.pem", tmp_path / "missing.key"))


ADMIN_TOKEN = "adm1n-token"


def test_reload_needs_the_admin_token(start_server: Any, certificates: tuple[TlsFiles, ClientTls]) -> None:
    server_tls, client_tls = certificates
    running: RunningServer = start_server(tls=server_tls, token=TOKEN, admin_token=ADMIN_TOKEN)

    with RouterClient(running.target, tls=client_tls, token=TOKEN) as ordinary:
        assert ordinary.route("write unit tests for the parser").route == "test_generation"
        with pytest.raises(ServiceError) as denied:
            ordinary.reload_index()
    with RouterClient(running.target, tls=client_tls, token=ADMIN_TOKEN) as admin:
        assert admin.reload_index().changed is False
        assert admin.route("write unit tests for the parser").route == "test_generation"

    assert denied.value.code is grpc.StatusCode.PERMISSION_DENIED
    assert "admin token" in denied.value.details


def test_with_a_token_and_no_admin_token_nobody_may_reload(
    start_server: Any, certificates: tuple[TlsFiles, ClientTls]
) -> None:
    server_tls, client_tls = certificates
    running: RunningServer = start_server(tls=server_tls, token=TOKEN)

    with RouterClient(running.target, tls=client_tls, token=TOKEN) as client, pytest.raises(ServiceError) as denied:
        client.reload_index()

    assert denied.value.code is grpc.StatusCode.PERMISSION_DENIED


def test_health_port_answers_plaintext_probes_beside_a_tls_server(
    start_server: Any, certificates: tuple[TlsFiles, ClientTls]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        health_port = probe.getsockname()[1]
    running: RunningServer = start_server(tls=certificates[0], token=TOKEN, health_port=health_port)

    with RouterClient(f"127.0.0.1:{health_port}") as plaintext:
        assert plaintext.health() is ServingStatus.SERVING
        running.server.begin_shutdown()
        assert plaintext.health() is ServingStatus.NOT_SERVING


def test_the_cli_routes_through_tls_with_a_token(
    start_server: Any, certificates: tuple[TlsFiles, ClientTls], tmp_path: Path
) -> None:
    """`semroute route --target` had no TLS or token options: it could not reach any secured server."""
    from click.testing import CliRunner

    from semroute.cli import main

    running: RunningServer = start_server(tls=certificates[0], token=TOKEN)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    tls = ["--tls-ca", str(certificates[1].root_certificates), "--tls-server-name", "semroute.test"]
    command = ["route", "--json", "--target", running.target, *tls]

    routed = CliRunner().invoke(main, [*command, "--token-file", str(token_file), "write unit tests for the parser"])
    assert routed.exit_code == 0, routed.output
    assert '"route": "test_generation"' in routed.output

    anonymous = CliRunner().invoke(main, [*command, "write unit tests for the parser"])
    assert anonymous.exit_code != 0 and "UNAUTHENTICATED" in anonymous.output
    plaintext = CliRunner().invoke(main, ["route", "--target", running.target, "--token-file", str(token_file), "x"])
    assert plaintext.exit_code == 2 and "--token-file needs TLS" in plaintext.output
