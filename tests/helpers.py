"""Builders for hand-made policies and route folders used by the fast unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from semroute.decision import Policy, RouteTarget
from semroute.schema import OverrideRule, Settings
from semroute.types import ModelConfig, ResolvedModel, Tier

MODELS = {
    "big": ResolvedModel("big", "anthropic/big", Tier.FRONTIER, 5.0, 25.0, 200_000),
    "huge": ResolvedModel("huge", "gemini/huge", Tier.FRONTIER, 2.0, 12.0, 1_000_000),
    "mid": ResolvedModel("mid", "openai/mid", Tier.MID, 1.0, 8.0, 128_000),
    "small": ResolvedModel("small", "openai/small", Tier.LIGHT, 0.25, 2.0, 64_000),
    "local": ResolvedModel("local", "hosted_vllm/local", Tier.SELF_HOSTED, 0.0, 0.0, 32_000),
    "local_big": ResolvedModel("local_big", "hosted_vllm/local-big", Tier.SELF_HOSTED, 0.0, 0.0, 128_000),
}


def target(name: str, model: str, *fallbacks: str, threshold: float = 0.5, **config: Any) -> RouteTarget:
    """A route target for hand-made policies."""
    return RouteTarget(name, model, tuple(fallbacks), ModelConfig(**config), threshold)


def make_policy(rules: list[dict[str, Any]] | None = None, **settings: Any) -> Policy:
    """A policy over six routes: refactor (big), edit (mid), summary (small), long (huge), general, private."""
    routes = [
        target("refactor", "big", "mid", "huge", temperature=0.2),
        target("edit", "mid", "small", threshold=0.6),
        target("summary", "small", "mid"),
        target("long", "huge", "big"),
        target("general", "mid", "small"),
        target("private", "local", "local_big"),
    ]
    return Policy(
        settings=Settings(**{"default_route": "general", **settings}),
        routes={route.name: route for route in routes},
        models=MODELS,
        rules=tuple(OverrideRule.model_validate(rule) for rule in rules or []),
        fingerprint="test-fingerprint",
    )


ROUTER_YAML: dict[str, Any] = {
    "settings": {"default_route": "general", "score_threshold": 0.3},
    "models": {
        "big": {
            "litellm": "anthropic/big",
            "tier": "frontier",
            "input_cost_per_mtok": 5,
            "output_cost_per_mtok": 25,
            "context_window": 200000,
        },
        "small": {
            "litellm": "openai/small",
            "tier": "light",
            "input_cost_per_mtok": 0.25,
            "output_cost_per_mtok": 2,
            "context_window": 64000,
        },
    },
    "rules": [],
}


def write_routes(folder: Path, routes: dict[str, dict[str, Any]], router: dict[str, Any] | None = None) -> Path:
    """Write a routes folder: ``router.yaml`` plus one file per route (file stem = key)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "router.yaml").write_text(yaml.safe_dump(router or ROUTER_YAML, sort_keys=False))
    for stem, route in routes.items():
        (folder / f"{stem}.yaml").write_text(yaml.safe_dump(route, sort_keys=False))
    return folder


def simple_routes() -> dict[str, dict[str, Any]]:
    """Two small valid routes."""
    return {
        "general": {
            "name": "general",
            "model": "big",
            "fallbacks": ["small"],
            "utterances": ["write an email to my landlord", "what is a good name for a cat"],
        },
        "summary": {"name": "summary", "model": "small", "utterances": ["summarize this article", "tl;dr please"]},
    }
