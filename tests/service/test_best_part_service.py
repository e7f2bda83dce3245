"""A server on a ``best_part`` index answers as the in-process router does, through the real client on loopback:
every embedded part of a task is scored, cached and admitted, and the store keeps the whole text's vector."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from semroute.client import RouterClient
from semroute.embedding import FastEmbedEmbedder
from semroute.index import load_index
from semroute.router import Router
from semroute.store._records import decode_embedding
from semroute.task_part import EmbedPart
from semroute.types import RouteRequest
from tests.best_part_index import SUMMARIZE_AFTER, SUMMARIZE_COLON, build_index_with_part
from tests.service.conftest import GatedEmbedder, RunningServer, _start, wait_until

TASKS = [
    SUMMARIZE_COLON,
    SUMMARIZE_AFTER,
    "Fix the off-by-one in paginate(): it drops the last page.\n\n```python\ndef paginate(items, size):\n"
    "    return [items[i : i + size] for i in range(0, len(items) - size, size)]\n```",
    "write unit tests for the parser",
]


@pytest.fixture(scope="module")
def best_part_index(
    tmp_path_factory: pytest.TempPathFactory, default_index_path: Path, embedder: FastEmbedEmbedder
) -> Path:
    return build_index_with_part(
        tmp_path_factory.mktemp("best_part"), default_index_path, embedder, EmbedPart.BEST_PART
    )


@pytest.fixture(scope="module")
def local(best_part_index: Path, embedder: FastEmbedEmbedder) -> Router:
    return Router(load_index(best_part_index), embedder)


@pytest.fixture(scope="module")
def counting(embedder: FastEmbedEmbedder) -> GatedEmbedder:
    return GatedEmbedder(embedder)  # counts the server's embedding calls


@pytest.fixture(scope="module")
def server(
    best_part_index: Path, tmp_path_factory: pytest.TempPathFactory, embedder: FastEmbedEmbedder
) -> Iterator[RunningServer]:
    """Without a vector cache (the default): every call embeds its parts."""
    running = _start(best_part_index, tmp_path_factory.mktemp("served") / "index.zip", embedder)
    yield running
    running.server.stop(0.0, 1.0)


@pytest.fixture(scope="module")
def cached_server(
    best_part_index: Path, tmp_path_factory: pytest.TempPathFactory, counting: GatedEmbedder
) -> Iterator[RunningServer]:
    """With a vector cache, and the embedding calls counted."""
    running = _start(best_part_index, tmp_path_factory.mktemp("cached") / "index.zip", counting, cache_entries=1_000)
    yield running
    running.server.stop(0.0, 1.0)


def _comparable(decision: object) -> dict[str, object]:
    ids = {"request_id": None, "decision_id": None}  # issued per call by the service
    return {**decision.to_json(), **ids}  # type: ignore[attr-defined]


def test_a_server_decides_as_the_router_for_content_bearing_tasks(server: RunningServer, local: Router) -> None:
    assert [len(local.embedded_parts(text)) for text in TASKS] == [2, 3, 3, 1]
    with RouterClient(server.target) as client:
        one_by_one = [client.route(text, full_trace=True) for text in TASKS]
        batch = client.route_batch(TASKS, full_trace=True)

    expected = [_comparable(local.route(RouteRequest(text))) for text in TASKS]
    assert [_comparable(decision) for decision in one_by_one] == expected
    assert [_comparable(decision) for decision in batch] == expected
    assert [decision.route for decision in one_by_one[:2]] == ["summarization", "summarization"]


def test_every_part_is_cached_and_a_shared_part_is_embedded_once(
    cached_server: RunningServer, local: Router, counting: GatedEmbedder
) -> None:
    text = "Summarize this incident report into three bullets: the API returned 502s for nine minutes after deploy."
    sibling = text.replace("nine minutes", "four minutes")  # the same instruction part, other content
    with RouterClient(cached_server.target) as client:
        first = client.route(text, full_trace=True)
        calls = counting.calls
        again = client.route(text, full_trace=True)
        assert counting.calls == calls  # every part came from the cache
        batch_again = client.route_batch([text, text], full_trace=True)
        assert counting.calls == calls
        batch = client.route_batch(
            [sibling, text], full_trace=True
        )  # embeds the sibling's whole text only, in one pass
        assert counting.calls == calls + 1
        assert _comparable(client.route(sibling, full_trace=True)) == _comparable(batch[0])
        assert counting.calls == calls + 1

    assert _comparable(first) == _comparable(again) == _comparable(batch_again[0])
    assert _comparable(first) == _comparable(local.route(RouteRequest(text)))
    assert _comparable(batch[0]) == _comparable(local.route(RouteRequest(sibling)))


@pytest.mark.parametrize("cached", [False, True])
def test_the_store_keeps_the_whole_texts_vector(
    cached: bool, server: RunningServer, cached_server: RunningServer, embedder: FastEmbedEmbedder
) -> None:
    running = cached_server if cached else server
    with RouterClient(running.target) as client:
        decision = client.route(SUMMARIZE_AFTER)
        batched = client.route_batch([SUMMARIZE_COLON])[0]
    store = running.server.store
    assert store is not None
    wanted = {decision.decision_id: SUMMARIZE_AFTER, batched.decision_id: SUMMARIZE_COLON}
    wait_until(lambda: all(store.database.decision(key) for key in wanted), "both decisions recorded")
    for decision_id, text in wanted.items():
        row = store.database.decision(decision_id)
        assert row is not None
        np.testing.assert_allclose(decode_embedding(row["embedding"]), embedder.embed([text])[0], atol=2e-3)
