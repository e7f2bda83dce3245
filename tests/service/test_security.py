"""TLS and bearer tokens, ready for deployment: certificates from trustme, loopback only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme

from semroute.client import ClientTls, RouterClient, ServiceError, ServingStatus
from semroute.errors import ConfigError
from semroute.service import TlsFiles

from .conftest import RunningServer

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[TlsFiles, ClientTls]:
    """A throwaway CA, a server certificate for 'semroute.test' and the matching client settings."""
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    certificate = authority.issue_cert("semroute.test")
    chain, key, ca = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
    certificate.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in certificate.cert_chain_pems))
    authority.cert_pem.write_to_path(str(ca))
    return TlsFiles(chain, key), ClientTls(root_certificates=ca, server_name="semroute.test")


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
