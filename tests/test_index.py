"""Index builds with the real model: artifact contents, atomic and incremental builds, model refusal."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from semroute.embedding import FastEmbedEmbedder, ModelIdentity, Vectors
from semroute.errors import IndexArtifactError, IndexModelMismatchError
from semroute.index import build_index, is_up_to_date, load_index, read_manifest
from semroute.route_files import load_route_set
from semroute.router import Router
from tests.helpers import simple_routes, write_routes


class CountingEmbedder:
    """The real embedder, counting the texts it embeds and failing on demand."""

    def __init__(self, inner: FastEmbedEmbedder, fail: bool = False, identity: ModelIdentity | None = None) -> None:
        self.inner = inner
        self.fail = fail
        self.embedded: list[str] = []
        self._identity = identity or inner.identity

    @property
    def identity(self) -> ModelIdentity:
        return self._identity

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Vectors:
        if self.fail:
            raise RuntimeError("embedding failed half-way")
        self.embedded.extend(texts)
        return self.inner.embed(texts, batch_size)


@pytest.fixture
def routes_dir(tmp_path: Path) -> Path:
    return write_routes(tmp_path / "routes", simple_routes())


def test_build_writes_a_complete_artifact(routes_dir: Path, tmp_path: Path, embedder: FastEmbedEmbedder) -> None:
    path = tmp_path / "out" / "index.zip"
    report = build_index(load_route_set(routes_dir), path, embedder, progress=False)
    assert (report.routes, report.utterances, report.embedded, report.reused) == (2, 4, 4, 0)
    with zipfile.ZipFile(path) as archive:
        members = {"manifest.json", "utterances.json", "index.faiss", "classifier.npz", "centroids.npy"}
        assert set(archive.namelist()) == members
    manifest = read_manifest(path)
    assert manifest is not None
    assert manifest.model == embedder.identity
    assert manifest.model.model_id == "sentence-transformers/all-MiniLM-L6-v2" and manifest.model.dim == 384
    assert (manifest.counts.routes, manifest.counts.utterances) == (2, 4)
    assert manifest.catalog["small"].context_window == 64000
    with zipfile.ZipFile(path) as archive:
        raw = json.loads(archive.read("manifest.json"))
    expected_keys = {"format", "fingerprint", "routes_fingerprint", "model", "counts", "built_at", "settings"}
    assert expected_keys | {"catalog", "routes", "rules", "index", "classifier"} == raw.keys()
    assert raw["index"] == {"type": "exact"} and raw["classifier"]["training"] == "cold"
    artifact = load_index(path)
    assert artifact.index.ntotal == 4
    assert artifact.route_names == ("general", "summary")
    assert artifact.fingerprint == report.fingerprint


def test_unchanged_routes_are_up_to_date_and_edits_are_not(
    routes_dir: Path, tmp_path: Path, embedder: FastEmbedEmbedder
) -> None:
    path = tmp_path / "index.zip"
    route_set = load_route_set(routes_dir)
    assert not is_up_to_date(route_set, path, embedder.identity.sha256)
    build_index(route_set, path, embedder, progress=False)
    assert is_up_to_date(load_route_set(routes_dir), path, embedder.identity.sha256)
    assert not is_up_to_date(route_set, path, "another-model-hash")
    (routes_dir / "summary.yaml").write_text((routes_dir / "summary.yaml").read_text().replace("please", "now"))
    assert not is_up_to_date(load_route_set(routes_dir), path, embedder.identity.sha256)


def test_incremental_build_embeds_only_new_utterances(
    routes_dir: Path, tmp_path: Path, embedder: FastEmbedEmbedder
) -> None:
    path = tmp_path / "index.zip"
    build_index(load_route_set(routes_dir), path, embedder, progress=False)
    first = load_index(path).index.reconstruct_n(0, 4)

    counting = CountingEmbedder(embedder)
    report = build_index(load_route_set(routes_dir), path, counting, progress=False)
    assert (report.embedded, report.reused, counting.embedded) == (0, 4, [])

    routes = simple_routes()
    routes["summary"]["utterances"].append("give me the gist of this thread")
    write_routes(routes_dir, routes)
    report = build_index(load_route_set(routes_dir), path, counting, progress=False)
    assert counting.embedded == ["give me the gist of this thread"]
    assert (report.embedded, report.reused) == (1, 4)
    np.testing.assert_allclose(load_index(path).index.reconstruct_n(0, 4), first, atol=1e-6)


def test_failed_build_keeps_the_previous_index(routes_dir: Path, tmp_path: Path, embedder: FastEmbedEmbedder) -> None:
    path = tmp_path / "index.zip"
    good = build_index(load_route_set(routes_dir), path, embedder, progress=False)
    routes = simple_routes()
    routes["summary"]["utterances"].append("a brand new utterance to embed")
    write_routes(routes_dir, routes)
    with pytest.raises(RuntimeError, match="half-way"):
        build_index(load_route_set(routes_dir), path, CountingEmbedder(embedder, fail=True), progress=False)
    assert load_index(path).fingerprint == good.fingerprint
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_index_built_with_another_model_is_refused(
    routes_dir: Path, tmp_path: Path, embedder: FastEmbedEmbedder
) -> None:
    path = tmp_path / "index.zip"
    other = dataclasses.replace(embedder.identity, model_id="BAAI/bge-small-en-v1.5", sha256="0" * 64)
    build_index(load_route_set(routes_dir), path, CountingEmbedder(embedder, identity=other), progress=False)
    with pytest.raises(IndexModelMismatchError, match="index was built with 'BAAI/bge-small-en-v1.5'.*make index"):
        Router(load_index(path), embedder)


def test_missing_and_corrupt_artifacts_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(IndexArtifactError, match="not found; build it with `make index`"):
        load_index(tmp_path / "absent.zip")
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"this is not a zip file")
    with pytest.raises(IndexArtifactError, match="unreadable"):
        load_index(corrupt)
    assert read_manifest(corrupt) is None


def test_index_built_with_another_prefix_length_is_refused(
    routes_dir: Path, tmp_path: Path, embedder: FastEmbedEmbedder
) -> None:
    path = tmp_path / "index.zip"
    shorter = dataclasses.replace(embedder.identity, max_tokens=128)
    build_index(load_route_set(routes_dir), path, CountingEmbedder(embedder, identity=shorter), progress=False)
    with pytest.raises(IndexModelMismatchError, match="128 tokens"):
        Router(load_index(path), embedder)


def test_artifact_is_readable_by_other_users(routes_dir: Path, tmp_path: Path, embedder: FastEmbedEmbedder) -> None:
    path = tmp_path / "index.zip"
    build_index(load_route_set(routes_dir), path, embedder, progress=False)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_manifest_that_is_not_an_object_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", "[]")
        archive.writestr("utterances.json", "{}")
        archive.writestr("index.faiss", b"")
        archive.writestr("classifier.npz", b"")
    with pytest.raises(IndexArtifactError):
        load_index(path)
