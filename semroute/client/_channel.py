"""Channel settings shared by the blocking and asyncio clients: target, retries, balancing, limits, security."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from semroute.wire import MAX_MESSAGE_BYTES, SERVICE_NAME

if TYPE_CHECKING:
    from os import PathLike

# json, ipaddress and pathlib are imported where they are used: a client's import is meant to cost what grpc's does,
# and those three alone added a tenth to it.

DEFAULT_TARGET = "localhost:50051"
_RETRIED_METHODS = ("Route", "RouteBatch", "ListRoutes", "GetIndexInfo")

# gRPC's service config: UNAVAILABLE (starting, draining, a backend gone) is the only code worth retrying, with
# backoff and a throttle so that retries cannot pile onto a struggling server. round_robin spreads calls over every
# address the target resolves to (the default, pick_first, sends everything to one). healthCheckConfig has the channel
# watch each backend's grpc.health.v1 status and count one that is not SERVING (starting, draining) as not ready, so
# round_robin stops sending it calls before it closes its port.
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "healthCheckConfig": {"serviceName": SERVICE_NAME},
    "methodConfig": [
        {
            "name": [{"service": SERVICE_NAME, "method": method} for method in _RETRIED_METHODS],
            "retryPolicy": {
                "maxAttempts": 4,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
    "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1},
}


@dataclass(frozen=True)
class Deadlines:
    """Default deadline of each kind of call, in seconds (gRPC itself sets none: a call could wait forever)."""

    call: float = 2.0  # Route, ListRoutes, GetIndexInfo
    batch: float = 10.0  # RouteBatch: up to 256 tasks
    reload: float = 30.0  # ReloadIndex: reads, checks and warms up a whole index
    health: float = 1.0


DEFAULT_DEADLINES = Deadlines()


@dataclass(frozen=True)
class ClientTls:
    """TLS for the channel.

    Attributes:
        root_certificates: PEM file of the CAs to trust; None trusts the system's roots.
        certificate_chain: PEM client certificate, for servers that require mutual TLS.
        private_key: PEM key of ``certificate_chain``.
        server_name: The name to expect on the server's certificate when it differs from the target's host.
    """

    root_certificates: str | PathLike[str] | None = None
    certificate_chain: str | PathLike[str] | None = None
    private_key: str | PathLike[str] | None = None
    server_name: str | None = None


def channel_target(target: str | Sequence[str]) -> str:
    """The gRPC target for one address or several.

    One string is used as given (``host:port``, ``dns:///host:port``, ``ipv4:a:p,b:p``...). Several ``ip:port``
    addresses become one ``ipv4:``/``ipv6:`` target, which round_robin balances.

    Raises:
        ValueError: no address, or several that are not all IPv4 or all IPv6 literals.
    """
    if isinstance(target, str):
        return target
    addresses = list(target)
    if len(addresses) == 1:
        return addresses[0]
    families = {_family(address) for address in addresses}
    if not addresses or len(families) != 1 or None in families:
        raise ValueError(
            "several targets must all be IPv4 (1.2.3.4:50051) or all IPv6 ([::1]:50051) addresses; "
            "for host names give one dns:/// target that resolves to every backend"
        )
    return f"{families.pop()}:{','.join(addresses)}"


def _family(address: str) -> str | None:
    from ipaddress import ip_address

    host = address.rsplit(":", 1)[0].strip("[]")
    try:
        return f"ipv{ip_address(host).version}"
    except ValueError:
        return None


def channel_options(tls: ClientTls | None, *, health_checked: bool = True) -> list[tuple[str, str | int]]:
    """Channel arguments: service config, retries, keepalive and the transport limit both ways.

    Args:
        tls: The TLS settings, for the name to expect on the server's certificate.
        health_checked: Send calls only to backends whose health is SERVING. False for the channel of health checks
            themselves, which must reach a backend that is starting or draining to hear it say NOT_SERVING.
    """
    options: list[tuple[str, str | int]] = [
        ("grpc.service_config", _service_config_json()),
        ("grpc.enable_retries", 1),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ]
    if not health_checked:
        options.append(("grpc.inhibit_health_checking", 1))
    if tls is not None and tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return options


def channel_credentials(tls: ClientTls | None, token: str | None) -> grpc.ChannelCredentials | None:
    """Credentials for a secure channel, or None for plaintext.

    Raises:
        ValueError: a token without TLS (gRPC refuses to send call credentials in plaintext), or one gRPC cannot
            send (see :func:`bearer_token`).
    """
    if tls is None:
        if token is not None:
            raise ValueError("a bearer token needs TLS: pass tls=ClientTls(...) as well")
        return None
    token = None if token is None else bearer_token(token)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read(tls.root_certificates),
        private_key=_read(tls.private_key),
        certificate_chain=_read(tls.certificate_chain),
    )
    if token is None:
        return credentials
    return grpc.composite_channel_credentials(credentials, grpc.access_token_call_credentials(token))


def bearer_token(token: str) -> str:
    """``token`` without the whitespace around it (a token read from a file ends with a newline).

    Raises:
        TypeError: not a string.
        ValueError: empty, or with a character gRPC cannot send in a header inside it (whitespace, a line break, a
            control or non-ASCII character); gRPC would fail every call with UNAVAILABLE "Illegal metadata". The
            message does not repeat the token.
    """
    if not isinstance(token, str):
        raise TypeError(f"token: must be a string, not {type(token).__name__}")
    stripped = token.strip()
    if not stripped:
        raise ValueError("token: empty (or only whitespace)")
    if not all("!" <= character <= "~" for character in stripped):
        raise ValueError(
            "token: has whitespace, a line break, or a control or non-ASCII character inside it, which gRPC cannot "
            "send in a header; a bearer token is one word of printable ASCII (was more than one line read?)"
        )
    return stripped


def _service_config_json() -> str:
    import json

    return json.dumps(SERVICE_CONFIG)


def _read(path: str | PathLike[str] | None) -> bytes | None:
    if path is None:
        return None
    with open(path, "rb") as file:
        return file.read()
