"""Shared fixtures: the real embedding model and a real index of the bundled routes, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from semroute.embedding import FastEmbedEmbedder
from semroute.environment import default_model_dir
from semroute.index import IndexArtifact, build_index, load_index
from semroute.model_store import verify_default_model
from semroute.route_files import RouteSet, load_route_set
from semroute.router import Router
from semroute.schema import EmbeddingSettings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_ROUTES = REPO / "routes"
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The provisioned default model (``make test`` runs ``make model`` first)."""
    directory = REPO / default_model_dir()
    verify_default_model(directory)
    return directory


@pytest.fixture(scope="session")
def embedder(model_dir: Path) -> FastEmbedEmbedder:
    """The real default embedding model, loaded once."""
    return FastEmbedEmbedder(EmbeddingSettings(path=model_dir))


@pytest.fixture(scope="session")
def default_route_set() -> RouteSet:
    """The bundled routes folder, validated."""
    return load_route_set(DEFAULT_ROUTES)


@pytest.fixture(scope="session")
def default_index_path(
    tmp_path_factory: pytest.TempPathFactory, default_route_set: RouteSet, embedder: FastEmbedEmbedder
) -> Path:
    """A real index artifact of the bundled routes, built once per session."""
    path = tmp_path_factory.mktemp("index") / "semroute-index.zip"
    build_index(default_route_set, path, embedder, progress=False)
    return path


@pytest.fixture(scope="session")
def default_artifact(default_index_path: Path) -> IndexArtifact:
    """The loaded index of the bundled routes."""
    return load_index(default_index_path)


@pytest.fixture(scope="session")
def default_router(default_artifact: IndexArtifact, embedder: FastEmbedEmbedder) -> Router:
    """A router over the bundled routes with the real model."""
    return Router(default_artifact, embedder)
