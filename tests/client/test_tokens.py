"""A bearer token read from a file: the surrounding whitespace (the file's last newline) is stripped, and a token gRPC
could not send (whitespace or a line break inside it) is a ValueError at once, not an UNAVAILABLE retried on every
call ("Illegal metadata")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from semroute.client import AsyncRouterClient, ClientTls, RouterClient
from semroute.service import TlsFiles
from tests.service.conftest import RunningServer

TOKEN = "user-token"
TASK = "write unit tests for the parser"


def test_a_token_read_from_a_file_with_its_newline_is_accepted(
    start_server: Any, certificates: tuple[TlsFiles, ClientTls], tmp_path: Path
) -> None:
    server_tls, client_tls = certificates
    running: RunningServer = start_server(tls=server_tls, token=TOKEN)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")

    with RouterClient(running.target, tls=client_tls, token=token_file.read_text()) as client:
        assert client.route(TASK, timeout=5.0).route == "test_generation"
    with RouterClient(running.target, tls=client_tls, token=f"  {TOKEN}\r\n") as client:
        assert client.index_info().route_count > 0


@pytest.mark.parametrize("token", ["user token", "user-token\nsecond-line", "user\ttoken", "", " \n", "tökén"])
def test_a_token_grpc_cannot_send_is_a_value_error_that_does_not_show_it(
    certificates: tuple[TlsFiles, ClientTls], token: str
) -> None:
    for face in (RouterClient, AsyncRouterClient):
        with pytest.raises(ValueError, match="token: ") as refused:
            face("127.0.0.1:1", tls=certificates[1], token=token)
        assert token.strip() == "" or token.strip() not in str(refused.value)  # a secret is not echoed
