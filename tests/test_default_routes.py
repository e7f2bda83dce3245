"""The bundled routes with the real model: held-out accuracy, off-topic requests, the shipped override rules."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from semroute.router import Router
from semroute.types import RouteRequest

DATA = Path(__file__).parent / "data"


def labelled(name: str) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]
    return [(row["text"], row["label"]) for row in rows]


def test_held_out_phrasings_route_at_least_90_percent_correct(default_router: Router) -> None:
    items = [(text, label) for text, label in labelled("default_routes_test.jsonl") if label != "oos"]
    per_route = Counter(label for _, label in items)
    assert len(per_route) >= 11 and min(per_route.values()) >= 5
    decisions = default_router.route_batch([RouteRequest(text) for text, _ in items])
    wrong = [(label, d.route, text) for (text, label), d in zip(items, decisions, strict=True) if d.route != label]
    accuracy = 1 - len(wrong) / len(items)
    assert accuracy >= 0.90, f"accuracy {accuracy:.3f}; misrouted: {wrong}"


def test_off_topic_requests_land_on_general(default_router: Router) -> None:
    items = [text for text, label in labelled("default_routes_test.jsonl") if label == "oos"]
    assert len(items) >= 10
    routes = [decision.route for decision in default_router.route_batch([RouteRequest(text) for text in items])]
    assert [(text, route) for text, route in zip(items, routes, strict=True) if route != "general"] == []


def test_test_and_validation_sets_do_not_leak_into_utterances(default_router: Router) -> None:
    utterances = {" ".join(text.split()).casefold() for text in default_router.artifact.utterances}
    for name in ("default_routes_test.jsonl", "default_routes_val.jsonl"):
        leaked = [text for text, _ in labelled(name) if " ".join(text.split()).casefold() in utterances]
        assert leaked == [], f"{name} items found among the utterances"


def test_summary_request_goes_to_summarization_with_a_fallback_chain(default_router: Router) -> None:
    decision = default_router.route(RouteRequest("Summarize this article in three bullet points"))
    assert decision.route == "summarization"
    assert decision.model.name == "gemini-3-flash"
    assert [model.name for model in decision.fallbacks] == ["deepseek-v3.2"]
    assert decision.model.input_cost_per_mtok > 0 and decision.model.context_window > 100_000


@pytest.mark.parametrize("sensitivity", ["restricted", "confidential"])
def test_sensitive_data_stays_self_hosted(default_router: Router, sensitivity: str) -> None:
    request = RouteRequest("Summarize this article in three bullet points", {"data_sensitivity": sensitivity})
    decision = default_router.route(request)
    assert decision.route == "self_hosted"
    assert decision.model.tier.value == "self_hosted"
    assert all(model.tier.value == "self_hosted" for model in decision.fallbacks)
    assert decision.rules[0] == "data_sovereignty"


def test_very_large_input_goes_long_context(default_router: Router) -> None:
    decision = default_router.route(RouteRequest("Fix the bug in parser.py", input_tokens=400_000))
    assert decision.route == "long_context"
    assert "very_large_input" in decision.rules
    assert decision.model.context_window >= 400_000


def test_input_beyond_a_models_window_falls_to_the_next_that_fits(default_router: Router) -> None:
    small = default_router.route(RouteRequest("Fix the off-by-one in paginate() in utils.py"))
    assert (small.route, small.model.name) == ("code_change", "claude-sonnet-4-6")
    # 180k estimated tokens: under the long-context rule's 200k, over deepseek's 163,840-token window
    big = default_router.route(RouteRequest("Fix the off-by-one in paginate() in utils.py", input_tokens=180_000))
    assert big.route == "code_change"
    assert "deepseek-v3.2" not in [model.name for model in (big.model, *big.fallbacks)]


def test_every_signal_shows_in_the_trace(default_router: Router) -> None:
    decision = default_router.route(RouteRequest("write unit tests for the parser"))
    assert decision.route == "test_generation"
    assert set(decision.candidates[0].signals) == {"neighbour", "classifier", "centroid"}
    assert "classifier" in decision.trace[0] and "neighbour" in decision.trace[0]


def test_batch_equals_one_by_one(default_router: Router) -> None:
    texts = ["write unit tests for the parser", "tl;dr of this thread please", "book me a flight to Rome"]
    batch = default_router.route_batch([RouteRequest(text) for text in texts])
    single = [default_router.route(RouteRequest(text)) for text in texts]
    assert [d.to_json() for d in batch] == [d.to_json() for d in single]
