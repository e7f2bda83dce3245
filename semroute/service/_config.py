"""Server settings: one frozen, validated object with named defaults, and the gRPC options it implies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from semroute.environment import default_index_path
from semroute.errors import ConfigError
from semroute.wire import MAX_MESSAGE_BYTES

DEFAULT_HOST = "0.0.0.0"  # all interfaces: Kubernetes probes dial the pod IP
DEFAULT_PORT = 50051
DEFAULT_MAX_WORKERS = 8
DEFAULT_MAX_CONCURRENT_RPCS = 32  # beyond this the library sheds load with RESOURCE_EXHAUSTED
DEFAULT_DRAIN_SECONDS = 2.0  # NOT_SERVING but still answering, so balancers notice before the port closes
DEFAULT_GRACE_SECONDS = 10.0  # drain + grace stays well under Kubernetes' default 30 s termination grace
DEFAULT_WATCH_SECONDS = 1.0

# Keepalive from grpc's keepalive guide: ping idle connections every minute, accept client pings every 30 s, and
# recycle connections after 10 minutes so that an L4 balancer gets to spread them.
_KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
    ("grpc.max_connection_idle_ms", 300_000),
    ("grpc.max_connection_age_ms", 600_000),
    ("grpc.max_connection_age_grace_ms", 15_000),
)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for serving over TLS; with ``client_ca`` set, clients must present a certificate it signed."""

    certificate_chain: Path
    private_key: Path
    client_ca: Path | None = None


@dataclass(frozen=True)
class ServerConfig:
    """How to serve: address, index, limits, shutdown timing and optional security.

    Attributes:
        host: Interface to bind; ``0.0.0.0`` for all, ``127.0.0.1`` for loopback only.
        port: TCP port; 0 picks a free one (see ``create_server``'s returned port).
        index_path: The index artifact to serve and watch.
        max_workers: Threads answering RPCs.
        max_concurrent_rpcs: RPCs accepted at once (running or queued); more get RESOURCE_EXHAUSTED. None: no limit.
        reflection: Serve gRPC reflection (off by default: it advertises the API to anyone who can connect).
        drain_seconds: On shutdown, how long to keep answering while health says NOT_SERVING.
        grace_seconds: After the drain, how long in-flight RPCs get to finish; new ones get UNAVAILABLE.
        watch_seconds: How often to check the artifact file for a new version; 0 turns the file watch off.
        tls: Serve over TLS with these files instead of plaintext.
        token: Require ``authorization: Bearer <token>`` on every RPC except health checks.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    index_path: Path = field(default_factory=default_index_path)
    max_workers: int = DEFAULT_MAX_WORKERS
    max_concurrent_rpcs: int | None = DEFAULT_MAX_CONCURRENT_RPCS
    reflection: bool = False
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    watch_seconds: float = DEFAULT_WATCH_SECONDS
    tls: TlsFiles | None = None
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        problems = [
            f"port must be between 0 and 65535, got {self.port}" if not 0 <= self.port <= 65535 else "",
            f"max_workers must be at least 1, got {self.max_workers}" if self.max_workers < 1 else "",
            "max_concurrent_rpcs must be at least 1"
            if self.max_concurrent_rpcs is not None and self.max_concurrent_rpcs < 1
            else "",
            "drain_seconds, grace_seconds and watch_seconds must not be negative"
            if min(self.drain_seconds, self.grace_seconds, self.watch_seconds) < 0
            else "",
            "token must not be empty" if self.token == "" else "",
        ]
        if any(problems):
            raise ConfigError("invalid server settings: " + "; ".join(problem for problem in problems if problem))

    @property
    def address(self) -> str:
        """``host:port`` in the form gRPC binds (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def server_options() -> list[tuple[str, int]]:
    """Channel arguments of the server: message limits, keepalive, and no silent port sharing."""
    return [
        # gRPC turns SO_REUSEPORT on by default, which lets a second server bind the same port without an error.
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        *_KEEPALIVE_OPTIONS,
    ]
