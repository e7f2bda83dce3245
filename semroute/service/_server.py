"""Build the gRPC server (``create_server``) apart from running it (``serve``, with signals and shutdown).

Lifecycle: bind -> start (health NOT_SERVING, calls get UNAVAILABLE) -> load model and index, check them against
each other, warm up (health SERVING) -> serve, reloading on artifact change, ReloadIndex or SIGHUP -> on SIGTERM or
SIGINT: health NOT_SERVING, drain while still answering, then stop accepting (new calls get UNAVAILABLE) and give
in-flight calls the grace period to finish.
"""

from __future__ import annotations

import logging
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
from semroute.service._config import ServerConfig, TlsFiles, server_options
from semroute.service._interceptors import BearerTokenInterceptor, RequestInterceptor
from semroute.service._live_router import LiveRouter, LoadOutcome
from semroute.service._servicer import RouterServicer
from semroute.service._watcher import ArtifactWatcher
from semroute.v1 import router_pb2_grpc
from semroute.wire import SERVICE_NAME

logger = logging.getLogger("semroute.service")

# Health answers for the whole server ("") and for the routing service by name; both move together.
HEALTH_NAMES = ("", SERVICE_NAME)


class RouterServer:
    """A bound RouterService server: start it, load the index, serve, stop gracefully."""

    def __init__(
        self,
        server: grpc.Server,
        executor: futures.ThreadPoolExecutor,
        live: LiveRouter,
        health_servicer: health.HealthServicer,
        config: ServerConfig,
    ) -> None:
        """Use :func:`create_server` rather than this constructor."""
        self._server = server
        self._executor = executor
        self._live = live
        self._health = health_servicer
        self._config = config
        self._watcher = ArtifactWatcher(live, config.watch_seconds)

    @property
    def live(self) -> LiveRouter:
        """The router in service."""
        return self._live

    def start(self) -> None:
        """Accept calls: health answers NOT_SERVING and routing calls UNAVAILABLE until :meth:`load`."""
        self._server.start()

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
        """Refuse new calls (UNAVAILABLE), let in-flight ones finish within ``grace_seconds``, and stop."""
        self._watcher.stop()
        stopped = self._server.stop(grace_seconds)
        logger.info("refusing new calls", extra={"fields": {"grace_seconds": grace_seconds}})
        stopped.wait()
        self._executor.shutdown(wait=False)

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
    """
    live = LiveRouter(config.index_path, embedder)
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True, experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=1)
    )
    for name in HEALTH_NAMES:
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    executor = futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="semroute-rpc")
    interceptors = [BearerTokenInterceptor(config.token)] if config.token else []
    server = grpc.server(
        executor,
        interceptors=[*interceptors, RequestInterceptor()],
        options=server_options(),
        maximum_concurrent_rpcs=config.max_concurrent_rpcs,
    )
    router_pb2_grpc.add_RouterServiceServicer_to_server(RouterServicer(live), server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if config.reflection:
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable_server_reflection((SERVICE_NAME, health_name, reflection.SERVICE_NAME), server)
    port = _bind(server, config)
    return RouterServer(server, executor, live, health_servicer, config), port


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
