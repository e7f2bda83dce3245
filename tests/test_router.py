"""The request path: request validation, top_k, candidates, with the real model on a small index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semroute.embedding import FastEmbedEmbedder
from semroute.errors import RequestError
from semroute.index import build_index, load_index
from semroute.route_files import load_route_set
from semroute.router import MAX_TEXT_CHARS, MAX_TOP_K, Router, validate_request
from semroute.types import RouteRequest
from tests.helpers import simple_routes, write_routes


@pytest.mark.parametrize(
    ("request_", "field", "message"),
    [
        (RouteRequest(""), "text", "must not be empty or whitespace"),
        (RouteRequest(" \n\t "), "text", "must not be empty or whitespace"),
        (RouteRequest("x" * (MAX_TEXT_CHARS + 1)), "text", "over the limit of 1,000,000"),
        (RouteRequest("hi", top_k=0), "top_k", f"must be between 1 and {MAX_TOP_K}"),
        (RouteRequest("hi", top_k=MAX_TOP_K + 1), "top_k", f"must be between 1 and {MAX_TOP_K}"),
        (RouteRequest("hi", input_tokens=-1), "input_tokens", "must not be negative"),
        (RouteRequest("hi", {"bad key!": "v"}), "metadata", "key 'bad key!' must be 1-64 characters"),
        (RouteRequest("hi", {"k": "v" * 300}), "metadata[k]", "over 256 characters"),
        (RouteRequest("hi", {f"k{i}": "v" for i in range(33)}), "metadata", "over the limit of 32"),
    ],
)
def test_invalid_requests_name_the_field(request_: RouteRequest, field: str, message: str) -> None:
    with pytest.raises(RequestError) as caught:
        validate_request(request_)
    assert caught.value.field == field
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")


@pytest.fixture(scope="module")
def small_router(tmp_path_factory: pytest.TempPathFactory, embedder: FastEmbedEmbedder) -> Router:
    folder = tmp_path_factory.mktemp("router")
    routes = simple_routes()
    routes["private"] = {"name": "private", "model": "small", "override_only": True}
    route_set = load_route_set(write_routes(folder / "routes", routes))
    build_index(route_set, folder / "index.zip", embedder, progress=False)
    return Router(load_index(folder / "index.zip"), embedder)


def test_override_only_routes_are_never_candidates(small_router: Router) -> None:
    decision = small_router.route(RouteRequest("summarize this article"))
    assert {candidate.route for candidate in decision.candidates} == {"general", "summary"}
    assert decision.route == "summary"


def test_top_k_limits_the_neighbours_looked_at(small_router: Router) -> None:
    one = small_router.route(RouteRequest("summarize this article", top_k=1))
    signals = {candidate.route: candidate.signals["neighbour"] for candidate in one.candidates}
    assert signals["general"] == 0.0  # only the single nearest utterance (a summary one) counted
    assert signals["summary"] > 0.5
    four = small_router.route(RouteRequest("summarize this article", top_k=4))
    assert {c.route: c.signals["neighbour"] for c in four.candidates}["general"] != 0.0


def test_an_invalid_item_fails_the_whole_batch_before_any_work(small_router: Router) -> None:
    with pytest.raises(RequestError, match="text"):
        small_router.route_batch([RouteRequest("fine"), RouteRequest("  ")])
    assert small_router.route_batch([]) == []


def test_the_shortlist_decides_exactly_as_every_route_would(default_router: Router) -> None:
    texts = [line for line in (Path(__file__).parent / "data" / "default_routes_val.jsonl").read_text().splitlines()]
    requests = [RouteRequest(json.loads(line)["text"]) for line in texts]
    vectors = default_router.embedder.embed([request.text for request in requests])
    short = default_router.candidates(vectors, requests)
    complete = default_router.candidates(vectors, requests, complete=True)
    assert sum(map(len, short)) < sum(map(len, complete))
    for request, few, every in zip(requests, short, complete, strict=True):
        assert {c.route for c in few} <= {c.route for c in every}
        assert default_router.decide(request, few).to_json() == default_router.decide(request, every).to_json()
