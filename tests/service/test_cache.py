"""The vector cache: bounded, keyed by hashes, and on a real server a repeated text skips the model and nothing else
(its own decision id, its record in the store, the index in service, even across a hot reload)."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semroute.client import RouterClient
from semroute.embedding import FastEmbedEmbedder, ModelIdentity
from semroute.index import IndexArtifact, build_index, load_index
from semroute.route_files import RouteSet
from semroute.router import Router
from semroute.service import JsonFormatter, ServerConfig
from semroute.service._cache import VectorCache, cache_key
from semroute.types import RouteRequest

from .conftest import RunningServer, replace_atomically, wait_until

IDENTITY = ModelIdentity("some/model", 4, "ab" * 32, 256)
SECRET_TASK = "write unit tests for the ledger of project kestrel-9"


def vector(*values: float) -> Any:
    return np.array([values], dtype=np.float32)


def test_the_least_recently_used_vector_goes_first_beyond_the_entries() -> None:
    cache = VectorCache(max_entries=2)
    first, second, third = (cache_key(IDENTITY, text) for text in ("one", "two", "three"))
    cache.put(first, vector(1, 0, 0, 0))
    cache.put(second, vector(0, 1, 0, 0))

    assert cache.get(first) is not None  # now the most recently used
    cache.put(third, vector(0, 0, 1, 0))

    assert cache.get(second) is None
    assert cache.get(first) is not None and cache.get(third) is not None
    assert len(cache) == 2


def test_the_bytes_bound_holds_whatever_the_entries() -> None:
    cache = VectorCache(max_entries=1_000, max_bytes=3 * 1_000)
    for number in range(20):
        cache.put(cache_key(IDENTITY, str(number)), np.ones((1, 200), dtype=np.float32))  # 800 bytes and the key

    assert len(cache) == 2
    assert cache.size_bytes <= 3 * 1_000
    assert cache.get(cache_key(IDENTITY, "19")) is not None and cache.get(cache_key(IDENTITY, "0")) is None


def test_a_stored_vector_is_a_read_only_copy() -> None:
    cache = VectorCache()
    batch = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], dtype=np.float32)
    key = cache_key(IDENTITY, "one")
    cache.put(key, batch[1:2])
    batch[1] = 0

    stored = cache.get(key)
    assert stored is not None and stored.tolist() == [[5, 6, 7, 8]]
    with pytest.raises(ValueError):
        stored[0, 0] = 1


def test_keys_are_hashes_of_the_text_and_the_model() -> None:
    key = cache_key(IDENTITY, SECRET_TASK)

    assert len(key) == 32 and b"kestrel" not in key
    assert key == cache_key(IDENTITY, SECRET_TASK)
    assert key != cache_key(IDENTITY, SECRET_TASK + " ")
    assert key != cache_key(dataclasses.replace(IDENTITY, sha256="cd" * 32), SECRET_TASK)


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        VectorCache(max_entries=0)


class CountingEmbedder:
    """The real model, counting the texts it embeds."""

    def __init__(self, inner: FastEmbedEmbedder) -> None:
        self._inner = inner
        self.texts: list[str] = []

    @property
    def identity(self) -> ModelIdentity:
        return self._inner.identity

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        self.texts.extend(texts)
        return self._inner.embed(texts, batch_size)


def test_a_repeated_text_skips_the_model_and_nothing_else(
    start_server: Any, embedder: FastEmbedEmbedder, caplog: pytest.LogCaptureFixture
) -> None:
    counting = CountingEmbedder(embedder)
    running: RunningServer = start_server(embedder_override=counting, cache_entries=100)
    caplog.set_level(logging.INFO, logger="semroute.service.requests")

    with RouterClient(running.target) as client:
        first = client.route(SECRET_TASK, request_id="first", full_trace=True)
        second = client.route(SECRET_TASK, request_id="second", full_trace=True)
        batch = client.route_batch([SECRET_TASK, "summarize this article"], request_id="batch", full_trace=True)

    assert counting.texts.count(SECRET_TASK) == 1
    assert counting.texts.count("summarize this article") == 1
    ids = {"request_id": None, "decision_id": None}
    assert {**second.to_json(), **ids} == {**first.to_json(), **ids} == {**batch[0].to_json(), **ids}
    assert len({first.decision_id, second.decision_id, batch[0].decision_id}) == 3
    store = running.server.store
    assert store is not None
    wait_until(lambda: store.database.decision(batch[0].decision_id) is not None, "the decisions to be recorded")
    rows = [store.database.decision(decision.decision_id) for decision in (first, second, batch[0])]
    assert all(row is not None for row in rows)
    assert len({row["embedding"] for row in rows if row is not None}) == 1  # the same vector, from the cache
    lines = {record.fields["request_id"]: record for record in caplog.records if record.getMessage() == "rpc"}  # type: ignore[attr-defined]
    assert (lines["first"].fields["cache_hit"], lines["second"].fields["cache_hit"]) == (False, True)  # type: ignore[attr-defined]
    assert lines["batch"].fields["cache_hits"] == 1  # type: ignore[attr-defined]
    assert not any("kestrel" in JsonFormatter().format(record) for record in caplog.records)


@pytest.fixture(scope="module")
def other_model_route_path(
    tmp_path_factory: pytest.TempPathFactory,
    default_index_path: Path,
    default_route_set: RouteSet,
    default_artifact: IndexArtifact,
    embedder: FastEmbedEmbedder,
) -> Path:
    """An index of the same utterances in which test generation goes to another model: same vectors, other answers."""
    path = tmp_path_factory.mktemp("other-route-model") / "index.zip"
    shutil.copyfile(default_index_path, path)  # build_index reuses every vector
    routes = tuple(
        route.model_copy(update={"model": "gpt-5-mini"}) if route.name == "test_generation" else route
        for route in default_route_set.routes
    )
    variant = dataclasses.replace(default_route_set, routes=routes)
    build_index(variant, path, embedder, resolve=lambda _: dict(default_artifact.policy.models), progress=False)
    return path


def test_after_a_hot_reload_a_cached_text_is_decided_on_the_new_index(
    start_server: Any, embedder: FastEmbedEmbedder, other_model_route_path: Path
) -> None:
    counting = CountingEmbedder(embedder)
    running: RunningServer = start_server(embedder_override=counting, cache_entries=100)
    new_router = Router(load_index(other_model_route_path), embedder)

    with RouterClient(running.target) as client:
        before = client.route(SECRET_TASK)
        replace_atomically(running.index_path, other_model_route_path)
        assert client.reload_index().changed
        after = client.route(SECRET_TASK, full_trace=True)

    assert counting.texts.count(SECRET_TASK) == 1  # the second call reused the vector
    assert (before.route, before.model.name) == ("test_generation", "claude-sonnet-4-6")
    assert (after.route, after.model.name) == ("test_generation", "gpt-5-mini")
    assert after.index_fingerprint == new_router.artifact.fingerprint != before.index_fingerprint
    ids = {"request_id": None, "decision_id": None}
    assert {**after.to_json(), **ids} == {**new_router.route(RouteRequest(SECRET_TASK)).to_json(), **ids}


def test_servers_built_in_code_keep_no_cache_unless_asked(start_server: Any, embedder: FastEmbedEmbedder) -> None:
    counting = CountingEmbedder(embedder)
    running: RunningServer = start_server(embedder_override=counting)

    with RouterClient(running.target) as client:
        client.route(SECRET_TASK)
        client.route(SECRET_TASK)

    assert counting.texts.count(SECRET_TASK) == 2
    assert ServerConfig().cache_entries == 0
