"""Server settings: one frozen, validated object with named defaults, and the gRPC options it implies."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from semroute.environment import default_index_path
from semroute.errors import ConfigError
from semroute.service._admission import BATCH_TEXTS, AdmissionLimits
from semroute.service._background import DEFAULT_LONG_LANE_NICE
from semroute.store import StoreSettings
from semroute.wire import MAX_MESSAGE_BYTES

DEFAULT_HOST = "0.0.0.0"  # all interfaces: Kubernetes probes dial the pod IP
DEFAULT_PORT = 50051
# Embedding passes at once (a call alone, or a micro-batch of Route calls), each on DEFAULT_EMBEDDING_THREADS ONNX
# threads: one per core in each lane. Short tasks alone keep every core embedding; long tasks alone too, since their
# passes run at a lower CPU priority (semroute/service/_background.py) and yield the cores to short ones at once.
DEFAULT_COMPUTE_SLOTS = 2 * (os.cpu_count() or 2)
# ONNX intra-op threads of each embedding pass. One: on 2 cores one short text embeds about as fast on one thread as
# on two, two passes side by side get twice the work done, and no spinning ONNX pool thread takes a core from gRPC or
# from the other calls' scoring.
DEFAULT_EMBEDDING_THREADS = 1
# Routing calls admitted at once, running or waiting: 64 single-text callers are ordinary load and are all served.
DEFAULT_MAX_CONCURRENT_RPCS = 96
# Embedding work admitted at once, in tokens: one full batch of 256 long texts (256 x 258) plus room for short
# traffic. Measured on 2 cores: 256 long texts embed in 11 s on two ONNX threads, and in about 18 s on the one thread
# a pass gets now (a busy machine), so whatever was admitted ends within the grace.
DEFAULT_MAX_ADMITTED_TOKENS = 256 * 258 + 8_192
DEFAULT_DRAIN_SECONDS = 2.0  # NOT_SERVING but still answering, so balancers notice before the port closes
DEFAULT_GRACE_SECONDS = 25.0  # admitted work finishes in it; drain + grace + 1 s stays under Kubernetes' 30 s
DEFAULT_WATCH_SECONDS = 1.0
DEFAULT_RELOAD_SECONDS = 60.0  # how long a ReloadIndex call waits for its reload
# Threads beyond the admitted calls: health checks, ListRoutes and refusals always find one free.
SPARE_THREADS = 16
# ReportOutcome and ReportQuality calls waiting for their commit at once; more get RESOURCE_EXHAUSTED. They bypass
# routing admission (they embed nothing) and have threads of their own, so they can never starve routing or health.
DEFAULT_MAX_WAITING_REPORTS = 32
# Of those, the reports of one caller (a connection: a client process, as gRPC shares one connection among a process's
# channels to the same target): a quarter, so that a caller flooding the server with reports gets RESOURCE_EXHAUSTED
# on its own calls while the others find slots free, and a process with 8 threads that each report in turn never does.
DEFAULT_MAX_REPORTS_PER_CALLER = 8
DEFAULT_MAX_BATCH_TEXTS = BATCH_TEXTS  # Route calls embedded together at most

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


def read_token_file(path: Path, what: str = "token") -> str:
    """The token in ``path``: one line, in a file only its owner can read.

    Raises:
        ConfigError: the file is readable by its group or by others, empty, or holds more than one line.
    """
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{what} file {path}: cannot read it ({error})") from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what} file {path} is readable by its group or others (mode {stat.filemode(mode)}); "
            f"make it private with: chmod 600 {path}"
        )
    lines = text.strip().splitlines()
    if len(lines) != 1 or not lines[0].strip():
        found = "is empty" if not lines else f"holds {len(lines)} lines"
        raise ConfigError(f"{what} file {path} {found}; it must hold the token alone, on one line")
    return lines[0].strip()


@dataclass(frozen=True)
class ServerConfig:
    """How to serve: address, index, limits, shutdown timing and optional security.

    Attributes:
        host: Interface to bind; ``0.0.0.0`` for all, ``127.0.0.1`` for loopback only.
        port: TCP port; 0 picks a free one (see ``create_server``'s returned port).
        index_path: The index artifact to serve and watch.
        compute_slots: Embedding passes at once (a routing call alone, or a micro-batch of Route calls), shared by a
            short-task and a long-task lane.
        max_concurrent_rpcs: Routing calls admitted at once (running or waiting their turn); more get
            RESOURCE_EXHAUSTED at once. Health checks and the other methods are never counted.
        max_admitted_tokens: Embedding work (tokens) admitted at once; more gets RESOURCE_EXHAUSTED at once.
        reflection: Serve gRPC reflection (off by default: it advertises the API to anyone who can connect).
        drain_seconds: On shutdown, how long to keep answering while health says NOT_SERVING.
        grace_seconds: After the drain, how long in-flight RPCs get to finish; new ones get UNAVAILABLE.
        watch_seconds: How often to check the artifact file for a new version; 0 turns the file watch off.
        tls: Serve over TLS with these files instead of plaintext.
        token: Require ``authorization: Bearer <token>`` on every RPC except health checks.
        admin_token: The token that may also call ReloadIndex. With ``token`` set and no admin token, ReloadIndex
            is refused to everyone (reloads come from the file watch and SIGHUP); with no token at all, it is open.
        health_port: Also serve health checks, in plaintext, on this port (for probes that cannot do TLS).
        store: The outcome store (default: SQLite at ``$SEMROUTE_HOME/outcomes.db``); None runs without one.
        max_waiting_reports: Outcome reports waiting for their commit at once; more get RESOURCE_EXHAUSTED.
        max_reports_per_caller: Of those, the reports of one caller (a connection, gRPC's peer); more get
            RESOURCE_EXHAUSTED, so that one caller's flood of reports is refused and not the others' reports.
        embedding_threads: ONNX threads of each embedding pass, for the model the server loads itself.
        max_batch_texts: Route calls embedded together at most; 1 embeds each call alone.
        long_lane_nice: Nice value of the threads that run the long lane's embedding passes (0-19; 0: as the others),
            so that they take the CPU short passes leave idle (Linux).
        cache_entries: Query vectors kept for texts seen before (least recently used out first). 0, the default of
            servers built in code, keeps none, so that every call embeds; ``semroute serve`` keeps
            ``DEFAULT_CACHE_ENTRIES`` unless told otherwise.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    index_path: Path = field(default_factory=default_index_path)
    compute_slots: int = DEFAULT_COMPUTE_SLOTS
    max_concurrent_rpcs: int = DEFAULT_MAX_CONCURRENT_RPCS
    max_admitted_tokens: int = DEFAULT_MAX_ADMITTED_TOKENS
    reflection: bool = False
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    watch_seconds: float = DEFAULT_WATCH_SECONDS
    tls: TlsFiles | None = None
    token: str | None = field(default=None, repr=False)
    admin_token: str | None = field(default=None, repr=False)
    health_port: int | None = None
    reload_seconds: float = DEFAULT_RELOAD_SECONDS
    store: StoreSettings | None = field(default_factory=StoreSettings)
    max_waiting_reports: int = DEFAULT_MAX_WAITING_REPORTS
    max_reports_per_caller: int = DEFAULT_MAX_REPORTS_PER_CALLER
    embedding_threads: int = DEFAULT_EMBEDDING_THREADS
    max_batch_texts: int = DEFAULT_MAX_BATCH_TEXTS
    cache_entries: int = 0
    long_lane_nice: int = DEFAULT_LONG_LANE_NICE

    def __post_init__(self) -> None:
        problems = [
            f"port must be between 0 and 65535, got {self.port}" if not 0 <= self.port <= 65535 else "",
            "compute_slots, max_concurrent_rpcs, max_admitted_tokens, max_waiting_reports, max_reports_per_caller, "
            "embedding_threads and max_batch_texts must be at least 1"
            if min(
                self.compute_slots,
                self.max_concurrent_rpcs,
                self.max_admitted_tokens,
                self.max_waiting_reports,
                self.max_reports_per_caller,
                self.embedding_threads,
                self.max_batch_texts,
            )
            < 1
            else "",
            f"cache_entries must not be negative, got {self.cache_entries}" if self.cache_entries < 0 else "",
            f"long_lane_nice must be between 0 and 19, got {self.long_lane_nice}"
            if not 0 <= self.long_lane_nice <= 19
            else "",
            "health_port must be between 1 and 65535"
            if self.health_port is not None and not 1 <= self.health_port <= 65535
            else "",
            "drain_seconds, grace_seconds and watch_seconds must not be negative"
            if min(self.drain_seconds, self.grace_seconds, self.watch_seconds) < 0
            else "",
            "token must not be empty" if self.token == "" or self.admin_token == "" else "",
            "token and admin_token must differ" if self.token is not None and self.token == self.admin_token else "",
        ]
        if any(problems):
            raise ConfigError("invalid server settings: " + "; ".join(problem for problem in problems if problem))

    @property
    def admission(self) -> AdmissionLimits:
        """The admission limits these settings give."""
        return AdmissionLimits(
            self.compute_slots, self.max_concurrent_rpcs, self.max_admitted_tokens, batch_texts=self.max_batch_texts
        )

    @property
    def threads(self) -> int:
        """Threads answering RPCs: every admitted routing call and waiting report may hold one, plus spares."""
        return self.max_concurrent_rpcs + self.max_waiting_reports + SPARE_THREADS

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
