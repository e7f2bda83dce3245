"""Build the gRPC server (``create_server``) apart from running it (``serve``, with signals and shutdown).

Lifecycle: bind -> start (health NOT_SERVING, calls get UNAVAILABLE) -> load model and index, check them against
each other, warm up (health SERVING) -> serve, reloading on artifact change, ReloadIndex or SIGHUP -> on SIGTERM or
SIGINT: health NOT_SERVING at once, drain while still answering, then stop accepting (new calls get UNAVAILABLE) and
give admitted calls the grace period to finish; the process exits by grace + 1 s whatever its handlers are doing.

Threads: every admitted routing call may hold a thread while it waits its turn or its batch (admission control bounds
them), and spare threads beyond those keep health checks answering within milliseconds however busy the router is.
The embedding itself runs on the threads of the calls that lead a batch, ``compute_slots`` passes at once, each on
``embedding_threads`` ONNX threads.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from semroute.embedding import Embedder
from semroute.errors import ConfigError
from semroute.service._admission import Admission
from semroute.service._background import BackgroundPasses
from semroute.service._cache import VectorCache
from semroute.service._config import ServerConfig, TlsFiles, server_options
from semroute.service._interceptors import BearerTokenInterceptor, RequestInterceptor
from semroute.service._live_router import LiveRouter, LoadOutcome
from semroute.service._servicer import RouterServicer, router_service_handler
from semroute.service._watcher import ArtifactWatcher
from semroute.store import OutcomeStore
from semroute.wire import SERVICE_NAME

logger = logging.getLogger("semroute.service")

# Health answers for the whole server ("") and for the routing service by name; both move together.
HEALTH_NAMES = ("", SERVICE_NAME)


class RouterServer:
    """A bound RouterService server: start it, load the index, serve, stop gracefully."""

    def __init__(
        self,
        server: grpc.Server,
        live: LiveRouter,
        health_servicer: health.HealthServicer,
        config: ServerConfig,
        *,
        watcher: ArtifactWatcher,
        admission: Admission,
        health_server: grpc.Server | None = None,
        store: OutcomeStore | None = None,
        background: BackgroundPasses | None = None,
    ) -> None:
        """Use :func:`create_server` rather than this constructor."""
        self._background = background
        self._server = server
        self._live = live
        self._health = health_servicer
        self._config = config
        self._watcher = watcher
        self._admission = admission
        self._health_server = health_server
        self._store = store

    @property
    def store(self) -> OutcomeStore | None:
        """The outcome store, if the server records decisions."""
        return self._store

    @property
    def admitted_calls(self) -> int:
        """Routing calls admitted now, running or waiting."""
        return self._admission.admitted_calls

    @property
    def live(self) -> LiveRouter:
        """The router in service."""
        return self._live

    def start(self) -> None:
        """Accept calls: health answers NOT_SERVING and routing calls UNAVAILABLE until :meth:`load`."""
        self._server.start()
        if self._health_server is not None:
            self._health_server.start()

    def load(self) -> LoadOutcome:
        """Load the embedding model and the index, check and warm them up, then report SERVING and start watching.

        Raises:
            IndexArtifactError: the index is missing, corrupt, or built with another model.
            ModelError: the embedding model cannot be loaded.
        """
        outcome = self._live.load()
        for name in HEALTH_NAMES:
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._watcher.start()
        return outcome

    def request_reload(self) -> None:
        """Reload the artifact on the watcher's thread (what SIGHUP does); returns at once."""
        self._watcher.request_reload()

    def begin_shutdown(self) -> None:
        """Report NOT_SERVING on every health name, for good; calls are still answered."""
        self._health.enter_graceful_shutdown()

    def finish_shutdown(self, grace_seconds: float) -> None:
        """Refuse new calls (UNAVAILABLE), let admitted ones finish within ``grace_seconds``, and stop.

        Calls still running after the grace period are cancelled; their threads are abandoned, not waited for.
        """
        self._watcher.stop()
        stopped = self._server.stop(grace_seconds)
        logger.info("refusing new calls", extra={"fields": {"grace_seconds": grace_seconds}})
        stopped.wait(grace_seconds + 1.0)
        if self._health_server is not None:
            self._health_server.stop(0)
        if self._background is not None:
            self._background.close()
        if self._store is not None:
            self._store.close()  # commits what the calls above queued

    def stop(self, drain_seconds: float | None = None, grace_seconds: float | None = None) -> None:
        """Shut down gracefully: NOT_SERVING, drain, then stop with a grace period (defaults from the config)."""
        drain = self._config.drain_seconds if drain_seconds is None else drain_seconds
        grace = self._config.grace_seconds if grace_seconds is None else grace_seconds
        self.begin_shutdown()
        logger.info("shutting down", extra={"fields": {"drain_seconds": drain, "grace_seconds": grace}})
        time.sleep(drain)  # keep answering while balancers notice NOT_SERVING
        self.finish_shutdown(grace)
        logger.info("stopped")


def create_server(config: ServerConfig, *, embedder: Embedder | None = None) -> tuple[RouterServer, int]:
    """Build and bind a server; it neither starts nor loads anything yet.

    Args:
        config: Address, index, limits and security.
        embedder: An embedding model to reuse (tests); None loads the model the index names.

    Returns:
        The server and the port it bound (the chosen one when ``config.port`` is 0).

    Raises:
        ConfigError: the address cannot be bound, or a TLS file cannot be read.
        StoreVersionError: the outcome store was written by a newer semroute.
    """
    live = LiveRouter(config.index_path, embedder, embedding_threads=config.embedding_threads)
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True, experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=2)
    )
    for name in HEALTH_NAMES:
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    # no maximum_concurrent_rpcs: admission control sheds routing work itself, and health must never be shed
    executor = futures.ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="semroute-rpc")
    tokens = config.token is not None or config.admin_token is not None
    interceptors = [BearerTokenInterceptor(config.token, config.admin_token)] if tokens else []
    server = grpc.server(executor, interceptors=[*interceptors, RequestInterceptor()], options=server_options())
    watcher = ArtifactWatcher(live, config.watch_seconds)
    admission = Admission(config.admission)
    background = BackgroundPasses(config.admission.lane_slots["long"], config.long_lane_nice)
    port = _bind(server, config)
    health_server = _health_server(health_servicer, config) if config.health_port is not None else None
    # opened once the ports are ours: a server that cannot bind touches no store
    store = OutcomeStore.open(config.store) if config.store is not None else None
    servicer = RouterServicer(
        live,
        admission,
        watcher,
        config.reload_seconds,
        store=store,
        max_waiting_reports=config.max_waiting_reports,
        max_reports_per_caller=config.max_reports_per_caller,
        cache=VectorCache(config.cache_entries) if config.cache_entries else None,
        background=background,
    )
    server.add_generic_rpc_handlers((router_service_handler(servicer),))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if config.reflection:
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable_server_reflection((SERVICE_NAME, health_name, reflection.SERVICE_NAME), server)
    running = RouterServer(
        server,
        live,
        health_servicer,
        config,
        watcher=watcher,
        admission=admission,
        health_server=health_server,
        store=store,
        background=background,
    )
    return running, port


def _health_server(health_servicer: health.HealthServicer, config: ServerConfig) -> grpc.Server:
    """A plaintext server of health checks alone, for probes that cannot present certificates."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="semroute-health"))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    host = f"[{config.host}]" if ":" in config.host else config.host
    try:
        bound = server.add_insecure_port(f"{host}:{config.health_port}")
    except RuntimeError as error:
        raise ConfigError(f"cannot listen for health checks on port {config.health_port}: {error}") from error
    if bound == 0:
        raise ConfigError(f"cannot listen for health checks on port {config.health_port}")
    return server


def _bind(server: grpc.Server, config: ServerConfig) -> int:
    try:
        if config.tls is None:
            port = server.add_insecure_port(config.address)
        else:
            port = server.add_secure_port(config.address, _server_credentials(config.tls))
    except RuntimeError as error:  # grpcio raises RuntimeError("Failed to bind ...") on recent versions
        raise ConfigError(f"cannot listen on {config.address}: {error}") from error
    if port == 0:  # older grpcio reports a failed bind as port 0
        raise ConfigError(f"cannot listen on {config.address}: address in use or not allowed")
    return port


def _server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    try:
        key, chain = tls.private_key.read_bytes(), tls.certificate_chain.read_bytes()
        client_ca = tls.client_ca.read_bytes() if tls.client_ca else None
    except OSError as error:
        raise ConfigError(f"cannot read TLS file: {error}") from error
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def serve(config: ServerConfig) -> None:
    """Run a server until SIGTERM or SIGINT, then shut down gracefully; SIGHUP reloads the index.

    Call from the main thread of an entry point that has configured logging.

    Raises:
        IndexArtifactError: the index cannot be served at start-up.
        ModelError: the embedding model cannot be loaded.
        ConfigError: the address cannot be bound.
    """
    _warn_about_settings(config)
    server, port = create_server(config)
    stopping = threading.Event()

    def on_stop_signal(number: int, frame: FrameType | None) -> None:
        stopping.set()

    def on_reload_signal(number: int, frame: FrameType | None) -> None:
        server.request_reload()

    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, on_stop_signal),
        signal.SIGINT: signal.signal(signal.SIGINT, on_stop_signal),
        signal.SIGHUP: signal.signal(signal.SIGHUP, on_reload_signal),
    }
    try:
        server.start()
        logger.info("listening", extra={"fields": {"address": config.address, "port": port, "tls": bool(config.tls)}})
        try:
            server.load()
        except BaseException:
            server.finish_shutdown(0)
            raise
        logger.info("serving", extra={"fields": {"port": port, "index": str(config.index_path)}})
        while not stopping.wait(timeout=1.0):  # a timed wait keeps the main thread responsive to signals
            pass
        server.stop()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    _exit_if_abandoned(server)


def _warn_about_settings(config: ServerConfig) -> None:
    if (config.token is not None or config.admin_token is not None) and config.tls is None:
        logger.warning("bearer tokens travel in plaintext: serve with --tls-cert and --tls-key (or behind TLS)")
    if config.token is None and config.admin_token is None:
        logger.info("no tokens: every caller that reaches the port may route and call ReloadIndex")


def _exit_if_abandoned(server: RouterServer) -> None:
    """Exit now if calls outlived the grace period: the interpreter would otherwise wait for their threads."""
    if server.admitted_calls:
        logger.warning(
            "exiting with calls still running after the grace period",
            extra={"fields": {"abandoned_calls": server.admitted_calls}},
        )
        logging.shutdown()
        os._exit(0)
