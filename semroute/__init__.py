"""semroute: a semantic router that picks the right LLM for each task.

The flow: route files (:func:`load_route_set`) -> index artifact (:func:`build_index`, :func:`load_index`) ->
decision (:class:`Router`) -> gRPC service (:mod:`semroute.service`) -> client (:mod:`semroute.client`).

The names below are imported on first use (PEP 562), so ``import semroute.client`` on the base install loads none
of the server's modules (numpy, faiss, fastembed, pydantic); the server's names need ``pip install 'semroute[server]'``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from semroute.router import Router
    from semroute.types import Candidate, RouteDecision, RouteRequest

    __version__: str

_EXPORTS: dict[str, str] = {
    "Candidate": "semroute.types",
    "RouteDecision": "semroute.types",
    "RouteRequest": "semroute.types",
    "ConfigError": "semroute.errors",
    "IndexArtifactError": "semroute.errors",
    "IndexModelMismatchError": "semroute.errors",
    "ModelError": "semroute.errors",
    "NotReadyError": "semroute.errors",
    "RequestError": "semroute.errors",
    "RouteFileError": "semroute.errors",
    "SemrouteError": "semroute.errors",
    "FastEmbedEmbedder": "semroute.embedding",
    "ModelIdentity": "semroute.embedding",
    "IndexArtifact": "semroute.index",
    "build_index": "semroute.index",
    "load_index": "semroute.index",
    "RouteSet": "semroute.route_files",
    "load_route_set": "semroute.route_files",
    "Router": "semroute.router",
}

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


def __getattr__(name: str) -> Any:
    if name == "__version__":
        return _version()
    if name not in _EXPORTS:
        raise AttributeError(f"module 'semroute' has no attribute {name!r}")
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("semroute")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"
