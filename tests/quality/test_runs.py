"""What differs between an index and a routes folder, and where an index of the folder may go instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from semroute.embedding import FastEmbedEmbedder
from semroute.index import IndexArtifact, build_index, load_index
from semroute.quality.runs import built_differences, index_path_for
from semroute.route_files import RouteSet, load_route_set
from tests.helpers import ROUTER_YAML, simple_routes, write_routes


def _route_set(folder: Path, model_dir: Path, routes: dict[str, dict[str, Any]], **settings: Any) -> RouteSet:
    router = {**ROUTER_YAML, "settings": {**ROUTER_YAML["settings"], "embedding": {"path": str(model_dir)}, **settings}}
    return load_route_set(write_routes(folder, routes, router))


@pytest.fixture
def built(tmp_path: Path, model_dir: Path, embedder: FastEmbedEmbedder) -> IndexArtifact:
    route_set = _route_set(tmp_path / "built", model_dir, simple_routes())
    build_index(route_set, tmp_path / "index.zip", embedder, progress=False)
    return load_index(tmp_path / "index.zip")


def test_nothing_differs_but_fitted_settings(built: IndexArtifact, tmp_path: Path, model_dir: Path) -> None:
    same = _route_set(tmp_path / "same", model_dir, simple_routes(), score_threshold=0.45, margin=0.05)
    assert built_differences(built, same) == []


def test_route_names_are_summarised(built: IndexArtifact, tmp_path: Path, model_dir: Path) -> None:
    routes = {"general": simple_routes()["general"]}
    routes |= {f"extra{n}": {"name": f"extra{n}", "model": "small", "utterances": [f"thing {n}"]} for n in range(5)}
    other = _route_set(tmp_path / "other", model_dir, routes)
    assert built_differences(built, other) == [
        "route names differ (only in the index: summary; only in the routes: extra0, extra1, extra2 (+2 more))"
    ]


def test_utterances_and_settings_are_named(built: IndexArtifact, tmp_path: Path, model_dir: Path) -> None:
    routes = simple_routes()
    routes["summary"]["utterances"] = ["summarize this article", "give me the gist"]
    edited = _route_set(tmp_path / "edited", model_dir, routes, top_k=3)
    assert built_differences(built, edited) == ["utterances differ on 1 route (summary)", "settings differ (top_k)"]


def test_the_suggested_index_path_is_next_to_the_folder_and_never_the_avoided_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = tmp_path / "banking77"
    routes.mkdir()
    assert index_path_for(routes, avoid=tmp_path / "clinc.zip") == tmp_path / "banking77-index.zip"
    assert index_path_for(routes, avoid=tmp_path / "banking77-index.zip") == tmp_path / "banking77-fit-index.zip"
    monkeypatch.chdir(routes)
    assert index_path_for(Path("."), avoid=tmp_path / "clinc.zip") == tmp_path / "banking77-index.zip"
