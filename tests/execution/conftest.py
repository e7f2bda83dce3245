"""Execution fixtures: a scripted OpenAI-compatible server that the real litellm calls over loopback HTTP, the
session's routing server of the bundled routes, and a routing server of routes with a cascade and validators."""

from __future__ import annotations

import gc
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from semroute.client import RouterClient
from semroute.embedding import FastEmbedEmbedder
from semroute.execution import Provider
from semroute.execution._litellm import import_litellm
from semroute.index import build_index
from semroute.route_files import RouteSet, load_route_set
from semroute.types import ResolvedModel, Tier
from tests.execution.llm_server import ScriptedLLMServer
from tests.helpers import write_routes

# Shared by name, as in tests/client: importing the fixtures is what makes them visible here.
from tests.service.conftest import RunningServer, _start, client, session_server, target  # noqa: F401

# The catalog of the cascade routes: cheapest first, each with its own prices (USD per million tokens).
CASCADE_MODELS = {
    "small": ResolvedModel("small", "openai/small", Tier.LIGHT, 0.25, 2.0, 64_000),
    "mid": ResolvedModel("mid", "anthropic/mid", Tier.MID, 1.0, 8.0, 128_000),
    "big": ResolvedModel("big", "anthropic/big", Tier.FRONTIER, 5.0, 25.0, 200_000),
    "backup": ResolvedModel("backup", "deepseek/backup", Tier.MID, 0.5, 1.5, 128_000),
}
CASCADE_ROUTES: dict[str, dict[str, Any]] = {
    "extraction": {
        "name": "extraction",
        "model": "mid",
        "fallbacks": ["backup"],
        "cascade": ["small", "mid", "big"],
        "validators": [{"kind": "json"}],
        "config": {"temperature": 0.0, "max_output_tokens": 500},
        "utterances": [
            "extract the names and dates from this email as JSON",
            "pull the invoice number, total and due date out of this text",
            "turn this paragraph into a JSON object with the fields name and age",
        ],
    },
    "general": {
        "name": "general",
        "model": "big",
        "fallbacks": ["mid"],
        "utterances": ["write a poem about the sea", "what is a good name for a cat", "tell me a joke"],
    },
}
EXTRACTION_TASK = "extract the names and dates from this email as JSON: Ann met Bob on 3 May"


@pytest.fixture(scope="session", autouse=True)
def litellm_imported() -> Iterator[None]:
    """litellm imported once, before any test times a call (its import takes seconds).

    Its sync calls' service logging leaves an event loop behind, never closed (litellm's, not ours): collected here
    with its ResourceWarning ignored, or the warning would surface at interpreter exit as an error.
    """
    import_litellm()
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(scope="session")
def llm_server() -> Iterator[ScriptedLLMServer]:
    """One scripted provider server for the session."""
    server = ScriptedLLMServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def llm(llm_server: ScriptedLLMServer) -> ScriptedLLMServer:
    """The provider server with no script and no requests recorded."""
    llm_server.reset()
    return llm_server


@pytest.fixture
def providers(llm_server: ScriptedLLMServer) -> dict[str, Provider]:
    """Every model sent, in OpenAI format, to the scripted server under its catalog name."""
    return {"*": Provider(model="openai/{name}", api_base=llm_server.api_base, api_key="test")}


@pytest.fixture(scope="session")
def cascade_index(tmp_path_factory: pytest.TempPathFactory, embedder: FastEmbedEmbedder) -> Path:
    """A real index of :data:`CASCADE_ROUTES`, built with the real model."""
    folder = tmp_path_factory.mktemp("cascade-routes")
    router = {"settings": {"default_route": "general", "score_threshold": 0.3}, "models": _catalog(), "rules": []}
    route_set: RouteSet = load_route_set(write_routes(folder / "routes", CASCADE_ROUTES, router))
    built = folder / "built.zip"
    build_index(route_set, built, embedder, resolve=lambda _: dict(CASCADE_MODELS), progress=False)
    return built


@pytest.fixture(scope="session")
def cascade_target(
    tmp_path_factory: pytest.TempPathFactory, cascade_index: Path, embedder: FastEmbedEmbedder
) -> Iterator[str]:
    """A routing server of :data:`CASCADE_ROUTES`."""
    running: RunningServer = _start(cascade_index, tmp_path_factory.mktemp("cascade") / "served.zip", embedder)
    yield running.target
    running.server.stop(0.0, 1.0)


@pytest.fixture(scope="session")
def cascade_client(cascade_target: str) -> Iterator[RouterClient]:
    """A blocking client of the cascade routes' server."""
    with RouterClient(cascade_target) as router_client:
        yield router_client


def _catalog() -> dict[str, dict[str, Any]]:
    return {
        model.name: {
            "litellm": model.litellm,
            "tier": model.tier.value,
            "input_cost_per_mtok": model.input_cost_per_mtok,
            "output_cost_per_mtok": model.output_cost_per_mtok,
            "context_window": model.context_window,
        }
        for model in CASCADE_MODELS.values()
    }
