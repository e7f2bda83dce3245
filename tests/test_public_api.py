"""The curated public surface: adding a public name is a decision, so the list is pinned here."""

from __future__ import annotations

import semroute


def test_public_names_are_pinned() -> None:
    assert sorted(semroute.__all__) == [
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
    assert all(hasattr(semroute, name) for name in semroute.__all__)


def test_errors_subclass_the_builtins_they_resemble() -> None:
    assert issubclass(semroute.RouteFileError, ValueError)
    assert issubclass(semroute.RequestError, ValueError)
    assert issubclass(semroute.ModelError, RuntimeError)
    assert issubclass(semroute.IndexModelMismatchError, semroute.IndexArtifactError)
