"""The gRPC service: ``RouterService`` over the core router, with health, hot reload and graceful shutdown.

``create_server`` builds and binds a server; ``serve`` runs one with signal handling, for the ``semroute serve``
command. See ``proto/semroute/v1/router.proto`` for the contract.
"""

from semroute.service._config import (
    DEFAULT_COMPUTE_SLOTS,
    DEFAULT_DRAIN_SECONDS,
    DEFAULT_GRACE_SECONDS,
    DEFAULT_HOST,
    DEFAULT_MAX_ADMITTED_TOKENS,
    DEFAULT_MAX_CONCURRENT_RPCS,
    DEFAULT_MAX_WAITING_REPORTS,
    DEFAULT_PORT,
    DEFAULT_WATCH_SECONDS,
    ServerConfig,
    TlsFiles,
    read_token_file,
)
from semroute.service._errors import status_for
from semroute.service._logs import JsonFormatter, configure_logging
from semroute.service._server import HEALTH_NAMES, RouterServer, create_server, serve
from semroute.service._servicer import MAX_BATCH_REQUESTS
from semroute.wire import MAX_MESSAGE_BYTES, SERVICE_NAME

__all__ = [
    "DEFAULT_DRAIN_SECONDS",
    "DEFAULT_GRACE_SECONDS",
    "DEFAULT_HOST",
    "DEFAULT_COMPUTE_SLOTS",
    "DEFAULT_MAX_ADMITTED_TOKENS",
    "DEFAULT_MAX_CONCURRENT_RPCS",
    "DEFAULT_MAX_WAITING_REPORTS",
    "DEFAULT_PORT",
    "DEFAULT_WATCH_SECONDS",
    "HEALTH_NAMES",
    "MAX_BATCH_REQUESTS",
    "MAX_MESSAGE_BYTES",
    "SERVICE_NAME",
    "JsonFormatter",
    "RouterServer",
    "ServerConfig",
    "TlsFiles",
    "read_token_file",
    "configure_logging",
    "create_server",
    "serve",
    "status_for",
]
