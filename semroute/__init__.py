"""semroute: a semantic router that picks the right LLM for each task.

The flow: route files (:func:`load_route_set`) -> index artifact (:func:`build_index`, :func:`load_index`) ->
decision (:class:`Router`) -> gRPC service (:mod:`semroute.service`) -> client (:mod:`semroute.client`).
"""

from importlib.metadata import PackageNotFoundError, version

from semroute.decision import Candidate, RouteDecision
from semroute.embedding import FastEmbedEmbedder, ModelIdentity
from semroute.errors import (
    ConfigError,
    IndexArtifactError,
    IndexModelMismatchError,
    ModelError,
    NotReadyError,
    RequestError,
    RouteFileError,
    SemrouteError,
)
from semroute.index import IndexArtifact, build_index, load_index
from semroute.route_files import RouteSet, load_route_set
from semroute.router import Router, RouteRequest

try:
    __version__ = version("semroute")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "Candidate",
    "ConfigError",
    "FastEmbedEmbedder",
    "IndexArtifact",
    "IndexArtifactError",
    "IndexModelMismatchError",
    "ModelError",
    "ModelIdentity",
    "NotReadyError",
    "RequestError",
    "RouteDecision",
    "RouteFileError",
    "RouteRequest",
    "RouteSet",
    "Router",
    "SemrouteError",
    "__version__",
    "build_index",
    "load_index",
    "load_route_set",
]
