"""Index types with the real model and real FAISS: the type chosen by size, HNSW answering with the exact scan's
neighbours and similarities, the index read in place from the artifact, older artifacts still loading, and rebuilds
that reuse or warm-start the classifier."""

from __future__ import annotations

import dataclasses
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
import yaml

from semroute.classifier import PreviousFit, _objective, _parameters, warm_train_classifier
from semroute.embedding import FastEmbedEmbedder
from semroute.errors import ConfigError, IndexArtifactError
from semroute.index import IndexArtifact, build_index, load_index, read_manifest
from semroute.route_files import RouteSet, load_route_set
from semroute.router import Router
from semroute.schema import IndexSettings, IndexType
from semroute.types import RouteRequest
from semroute.vector_index import PAGE, chosen_kind, measure_recall
from tests.helpers import ROUTER_YAML, simple_routes, write_routes
from tests.test_default_routes import labelled
from tests.test_index import CountingEmbedder


def with_index(route_set: RouteSet, **index: Any) -> RouteSet:
    """``route_set`` with other ``settings.index``."""
    settings = route_set.settings.model_copy(update={"index": IndexSettings(**index)})
    return dataclasses.replace(route_set, settings=settings)


@pytest.fixture(scope="module")
def hnsw_path(
    tmp_path_factory: pytest.TempPathFactory, default_index_path: Path, default_route_set: RouteSet, embedder: Any
) -> Path:
    """The bundled routes on a forced HNSW index, built from the exact artifact's vectors (nothing embedded)."""
    path = tmp_path_factory.mktemp("hnsw") / "index.zip"
    shutil.copyfile(default_index_path, path)
    report = build_index(with_index(default_route_set, type="hnsw"), path, embedder, progress=False)
    assert report.embedded == 0
    return path


@pytest.fixture(scope="module")
def test_texts() -> list[str]:
    return [text for text, _ in labelled("default_routes_test.jsonl")]


def test_auto_scans_exactly_up_to_the_threshold_and_builds_hnsw_above() -> None:
    assert chosen_kind(IndexSettings(), 50_000) == "exact" and chosen_kind(IndexSettings(), 50_001) == "hnsw"
    assert chosen_kind(IndexSettings(exact_up_to=100), 101) == "hnsw"
    assert chosen_kind(IndexSettings(type=IndexType.EXACT, exact_up_to=0), 10**6) == "exact"
    assert chosen_kind(IndexSettings(type=IndexType.HNSW), 1) == "hnsw"


def test_a_small_threshold_gives_a_small_route_set_an_hnsw_index(tmp_path: Path, embedder: FastEmbedEmbedder) -> None:
    router = {**ROUTER_YAML, "settings": {**ROUTER_YAML["settings"], "index": {"exact_up_to": 3}}}
    route_set = load_route_set(write_routes(tmp_path / "routes", simple_routes(), router))
    build_index(route_set, tmp_path / "index.zip", embedder, progress=False)
    artifact = load_index(tmp_path / "index.zip")
    assert isinstance(artifact.index, faiss.IndexHNSWFlat) and artifact.index.ntotal == 4
    assert artifact.index_summary.recall == 1.0  # 3 neighbours of each of 4 utterances: the graph holds them all
    decision = Router(artifact, embedder).route(RouteRequest("give me the tl;dr of this article"))
    assert decision.route == "summary"


def test_an_hnsw_build_records_its_parameters_and_measured_recall(
    hnsw_path: Path, default_artifact: IndexArtifact
) -> None:
    artifact = load_index(hnsw_path)
    summary = artifact.index_summary
    assert isinstance(artifact.index, faiss.IndexHNSWFlat) and artifact.index.hnsw.efSearch == 128
    assert (summary.type, summary.hnsw_m, summary.ef_construction, summary.ef_search) == ("hnsw", 16, 100, 128)
    assert summary.recall_k == 10 and summary.recall_sample == 200
    assert summary.recall is not None and summary.recall >= 0.99
    assert default_artifact.index_summary.type == "exact" and default_artifact.manifest.index is not None


def test_hnsw_neighbours_carry_the_exact_scans_similarities(
    hnsw_path: Path, default_artifact: IndexArtifact, embedder: FastEmbedEmbedder, test_texts: list[str]
) -> None:
    hnsw = load_index(hnsw_path)
    found = 0
    for query in embedder.embed(test_texts):
        query = query[None]
        every, rows = default_artifact.index.search(query, default_artifact.index.ntotal)  # one query: exact kernel
        exact = dict(zip(rows[0].tolist(), every[0].tolist(), strict=True))
        similarities, neighbours = hnsw.nearest(query, 10)
        assert [exact[row] for row in neighbours.tolist()] == similarities.tolist()  # bitwise, not approximately
        assert similarities.tolist() == sorted(similarities.tolist(), reverse=True)
        found += len(set(neighbours.tolist()) & set(default_artifact.nearest(query, 10)[1].tolist()))
    assert found / (10 * len(test_texts)) >= 0.99


def test_decisions_on_hnsw_equal_the_exact_index_decisions(
    hnsw_path: Path, default_router: Router, embedder: FastEmbedEmbedder, test_texts: list[str]
) -> None:
    hnsw = Router(load_index(hnsw_path), embedder)
    requests = [RouteRequest(text) for text in test_texts]
    exact = [(d.route, d.model.name, d.ambiguous) for d in default_router.route_batch(requests)]
    approximate = [(d.route, d.model.name, d.ambiguous) for d in hnsw.route_batch(requests)]
    agreeing = sum(a == b for a, b in zip(exact, approximate, strict=True))
    assert agreeing / len(requests) >= 0.99, (agreeing, len(requests))


def test_the_index_is_stored_uncompressed_and_read_in_place(hnsw_path: Path, default_index_path: Path) -> None:
    for path in (default_index_path, hnsw_path):
        with zipfile.ZipFile(path) as archive:
            assert archive.getinfo("index.faiss").compress_type == zipfile.ZIP_STORED
        index = load_index(path).index
        mapped = index.referenced_objects[0]
        assert isinstance(mapped, np.memmap) and Path(mapped.filename or "") == path.resolve()
        assert mapped.offset % PAGE == 0  # the member's data starts on a page of the file
        assert index.ntotal == read_manifest(path).counts.utterances  # type: ignore[union-attr]


def test_the_index_outlives_the_artifact_that_loaded_it(default_index_path: Path) -> None:
    vectors = load_index(default_index_path).index.reconstruct_n(0, 3)  # the artifact is gone, its map is not
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def old_layout(source: Path, target: Path) -> Path:
    """``source`` rewritten as semroute wrote artifacts before index types: every member compressed, no
    ``centroids.npy``, no ``index`` or ``classifier`` in the manifest."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        manifest = json.loads(old.read("manifest.json"))
        del manifest["index"], manifest["classifier"]
        new.writestr("manifest.json", json.dumps(manifest))
        for name in ("utterances.json", "index.faiss", "classifier.npz"):
            new.writestr(name, old.read(name))
    return target


def test_an_artifact_from_before_index_types_loads_and_decides_the_same(
    tmp_path: Path, default_index_path: Path, default_router: Router, embedder: FastEmbedEmbedder
) -> None:
    old = load_index(old_layout(default_index_path, tmp_path / "old.zip"))
    assert old.manifest.index is None and old.index_summary.type == "exact"
    np.testing.assert_array_equal(old.centroids, default_router.artifact.centroids)
    vectors = embedder.embed(["write unit tests for the parser", "what's a good recipe for banana bread?"])
    requests = [RouteRequest("a"), RouteRequest("b")]
    assert Router(old, embedder).candidates(vectors, requests) == default_router.candidates(vectors, requests)


def test_an_index_member_that_contradicts_the_manifest_is_refused(
    tmp_path: Path, hnsw_path: Path, default_index_path: Path
) -> None:
    mixed = tmp_path / "mixed.zip"
    with zipfile.ZipFile(hnsw_path) as hnsw, zipfile.ZipFile(default_index_path) as exact:
        with zipfile.ZipFile(mixed, "w") as target:
            for name in hnsw.namelist():
                target.writestr(name, (exact if name == "index.faiss" else hnsw).read(name))
    with pytest.raises(IndexArtifactError, match=r"inconsistent .*says hnsw but index.faiss holds IndexFlat.*rebuild"):
        load_index(mixed)


@pytest.mark.parametrize(
    ("index", "field"),
    [({"type": "ivf"}, "type"), ({"ef_search": 0}, "ef_search"), ({"hnsw": 16}, "hnsw")],
)
def test_router_yaml_index_settings_are_validated(tmp_path: Path, index: dict[str, Any], field: str) -> None:
    router = {**ROUTER_YAML, "settings": {**ROUTER_YAML["settings"], "index": index}}
    with pytest.raises(ConfigError) as caught:
        load_route_set(write_routes(tmp_path / "routes", simple_routes(), router))
    assert "router.yaml" in str(caught.value) and f"index.{field}" in str(caught.value)


def test_new_utterances_are_embedded_shortest_first(tmp_path: Path, embedder: FastEmbedEmbedder) -> None:
    counting = CountingEmbedder(embedder)
    build_index(load_route_set(write_routes(tmp_path / "r", simple_routes())), tmp_path / "i.zip", counting)
    assert counting.embedded == sorted(counting.embedded, key=lambda text: (len(text), text))


def three_routes(tmp_path: Path, extra: list[str], **index: Any) -> RouteSet:
    routes = simple_routes()
    routes["code"] = {"name": "code", "model": "big", "utterances": ["fix this bug in my function", *extra]}
    settings = {**ROUTER_YAML["settings"], "index": index}
    return load_route_set(write_routes(tmp_path / "routes", routes, {**ROUTER_YAML, "settings": settings}))


def test_a_rebuild_with_unchanged_utterances_reuses_the_classifier(tmp_path: Path, embedder: FastEmbedEmbedder) -> None:
    path = tmp_path / "index.zip"
    build_index(three_routes(tmp_path, []), path, embedder, progress=False)
    first = load_index(path)
    route_set = dataclasses.replace(three_routes(tmp_path, []), rules=())
    changed = route_set.settings.model_copy(update={"margin": 0.1})  # a decision setting, not the training data
    build_index(dataclasses.replace(route_set, settings=changed), path, embedder, progress=False)
    second = load_index(path)
    assert second.manifest.classifier is not None and second.manifest.classifier.training == "reused"
    assert first.manifest.classifier is not None and first.manifest.classifier.training == "cold"
    np.testing.assert_array_equal(second.classifier.weights, first.classifier.weights)
    np.testing.assert_array_equal(second.classifier.bias, first.classifier.bias)


def test_a_warm_start_continues_from_the_previous_coefficients(
    tmp_path: Path,
    default_index_path: Path,
    default_route_set: RouteSet,
    default_router: Router,
    embedder: FastEmbedEmbedder,
    test_texts: list[str],
) -> None:
    first = default_route_set.routes[0]
    shorter = first.model_copy(update={"utterances": first.utterances[:-5]})  # one route changed
    changed = dataclasses.replace(default_route_set, routes=(shorter, *default_route_set.routes[1:]))
    built = {}
    for name, warm in (("warm", True), ("cold", False)):
        path = tmp_path / f"{name}.zip"
        shutil.copyfile(default_index_path, path)  # the previous artifact: its vectors are reused either way
        build_index(with_index(changed, warm_start=warm), path, embedder, progress=False)
        built[name] = load_index(path)
    warm_summary, cold_summary = built["warm"].manifest.classifier, built["cold"].manifest.classifier
    assert warm_summary is not None and cold_summary is not None
    assert (warm_summary.training, cold_summary.training) == ("warm", "cold")
    assert warm_summary.iterations < cold_summary.iterations
    requests = [RouteRequest(text) for text in test_texts]
    routes = {name: [d.route for d in Router(a, embedder).route_batch(requests)] for name, a in built.items()}
    agreeing = sum(w == c for w, c in zip(routes["warm"], routes["cold"], strict=True))
    assert agreeing / len(requests) >= 0.98, (agreeing, len(requests))


def test_a_route_added_trains_from_zero_even_with_warm_start(tmp_path: Path, embedder: FastEmbedEmbedder) -> None:
    path = tmp_path / "index.zip"
    build_index(three_routes(tmp_path / "three", [], warm_start=True), path, embedder, progress=False)
    four = three_routes(tmp_path / "four", [], warm_start=True)
    poems = four.routes[0].model_copy(update={"name": "poems", "utterances": ["write a haiku about autumn"]})
    build_index(dataclasses.replace(four, routes=(*four.routes, poems)), path, embedder, progress=False)
    summary = load_index(path).manifest.classifier
    assert summary is not None and summary.training == "cold"


def test_recall_leaves_each_query_out_of_its_own_neighbours() -> None:
    vectors = np.random.default_rng(3).standard_normal((300, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = faiss.IndexFlatIP(16)
    exact.add(vectors)
    assert measure_recall(exact, vectors, 10, 50) == (1.0, 50)
    graph = faiss.IndexHNSWFlat(16, 4, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction, graph.hnsw.efSearch = 8, 10
    graph.add(vectors)
    recall, sample = measure_recall(graph, vectors, 10, 300)
    assert sample == 300 and recall is not None and 0.3 < recall < 1.0  # a poor graph is measured as poor
    assert measure_recall(exact, vectors[:1], 10, 50) == (None, 0)


def test_an_old_manifest_parses_without_the_new_fields(tmp_path: Path, default_index_path: Path) -> None:
    manifest = read_manifest(old_layout(default_index_path, tmp_path / "old.zip"))
    assert manifest is not None and manifest.index is None and manifest.classifier is None
    assert manifest.settings.index == IndexSettings()


def test_index_settings_in_yaml_round_trip(tmp_path: Path) -> None:
    text = "settings:\n  index: {type: hnsw, hnsw_m: 16, ef_search: 128, warm_start: true}\n"
    router = {**ROUTER_YAML, "settings": {**ROUTER_YAML["settings"], **yaml.safe_load(text)["settings"]}}
    settings = load_route_set(write_routes(tmp_path / "routes", simple_routes(), router)).settings.index
    assert (settings.type, settings.hnsw_m, settings.ef_search, settings.warm_start) == ("hnsw", 16, 128, True)


def test_the_warm_objective_is_the_one_scikit_learn_stops_on(default_artifact: IndexArtifact) -> None:
    vectors = default_artifact.index.reconstruct_n(0, default_artifact.index.ntotal)
    labels = default_artifact.row_routes
    present = np.unique(labels)
    names = [default_artifact.route_names[number] for number in present]
    objective = _objective(vectors, labels, present, default_artifact.policy.settings.classifier_regularisation)
    _, gradient = objective(_parameters(default_artifact.classifier, default_artifact.route_names, names))
    assert 0 < np.abs(gradient).max() <= 1e-4  # scikit-learn's cold fit stopped on this gradient (its tol), not at 0


def test_a_warm_start_on_unchanged_data_stays_where_the_cold_fit_stopped(default_artifact: IndexArtifact) -> None:
    vectors = default_artifact.index.reconstruct_n(0, default_artifact.index.ntotal)
    names, labels = default_artifact.route_names, default_artifact.row_routes
    regularisation = default_artifact.policy.settings.classifier_regularisation
    previous = PreviousFit(default_artifact.classifier, names, vectors, labels, regularisation)
    trained = warm_train_classifier(vectors, labels, names, regularisation, previous)
    assert trained.warm and trained.iterations == 0
    np.testing.assert_allclose(trained.classifier.weights, default_artifact.classifier.weights, atol=1e-6)
    np.testing.assert_array_equal(trained.classifier.bias, default_artifact.classifier.bias)
