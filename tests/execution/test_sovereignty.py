"""Sovereign data never leaves: a rule's `allow` holds end to end, through a real routing server, the real clients
and the real litellm calling the scripted provider over loopback HTTP (whose request log is the evidence).

The route set is the one that leaked before `allow` existed: a `contract_review` route on an external model with an
external fallback, a rule that puts the self-hosted model first for confidential text, and a metadata rule for
restricted data. The self-hosted model answers HTTP 500: the external models must still get nothing.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from semroute.client import AsyncRouterClient, RouterClient, chat_turns
from semroute.embedding import FastEmbedEmbedder
from semroute.errors import ConfigError
from semroute.execution import CompletionError, ConstraintViolationError, Provider
from semroute.index import build_index
from semroute.route_files import load_route_set
from tests.execution.llm_server import Fail, Reply, ScriptedLLMServer
from tests.helpers import write_routes
from tests.service.conftest import RunningServer, _start

pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")  # litellm's pydantic models, on first use

SOVEREIGN = "qwen3.5-397b-self-hosted"
EXTERNAL = ("claude-sonnet-4-6", "gpt-5.2", "gpt-5-mini")
NDA = (
    "Review this NDA and list the clauses that favour the disclosing party: 'ACME-GLOBEX CONFIDENTIAL. The "
    "Recipient shall hold the Disclosing Party's information in strict confidence for five years.'"
)
MODELS: dict[str, dict[str, Any]] = {
    "claude-sonnet-4-6": {"litellm": "anthropic/claude-sonnet-4-6", "tier": "mid"},
    "gpt-5.2": {"litellm": "openai/gpt-5.2", "tier": "frontier"},
    "gpt-5-mini": {"litellm": "openai/gpt-5-mini", "tier": "light"},
    SOVEREIGN: {"litellm": "hosted_vllm/Qwen/Qwen3.5-397B-A17B", "tier": "self_hosted"},
}
for _spec in MODELS.values():
    _spec.update(input_cost_per_mtok=1.0, output_cost_per_mtok=2.0, context_window=200_000)
ROUTES: dict[str, dict[str, Any]] = {
    "contract_review": {
        "name": "contract_review",
        "model": "claude-sonnet-4-6",
        "fallbacks": ["gpt-5.2"],
        "utterances": [
            "review this contract and flag risky clauses",
            "check this NDA for unusual terms",
            "which clauses of this agreement favour the supplier",
        ],
    },
    "general": {
        "name": "general",
        "model": "gpt-5-mini",
        "fallbacks": ["gpt-5.2"],
        "utterances": ["translate this into German", "write a short poem about autumn", "tell me a joke"],
    },
}
ALLOW_SELF_HOSTED = {"tiers": ["self_hosted"]}
RULES: list[dict[str, Any]] = [
    {
        "name": "restricted_data",
        "when": {"metadata": {"data_sensitivity": {"in": ["restricted"]}}},
        "then": {"model": SOVEREIGN, "allow": ALLOW_SELF_HOSTED},
        "final": True,
    },
    {
        "name": "confidential_text",
        "when": {"text_matches": r"\bconfidential\b"},
        "then": {"model": SOVEREIGN, "allow": ALLOW_SELF_HOSTED},
        "final": True,
    },
]


def _router(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"settings": {"default_route": "general", "score_threshold": 0.3}, "models": MODELS, "rules": rules}


@pytest.fixture(scope="module")
def sovereign_index(tmp_path_factory: pytest.TempPathFactory, embedder: FastEmbedEmbedder) -> Path:
    folder = tmp_path_factory.mktemp("sovereign")
    route_set = load_route_set(write_routes(folder / "routes", ROUTES, _router(RULES)))
    built = folder / "built.zip"
    build_index(route_set, built, embedder, progress=False)
    return built


@pytest.fixture
def server(tmp_path: Path, sovereign_index: Path, embedder: FastEmbedEmbedder) -> Iterator[RunningServer]:
    running: RunningServer = _start(sovereign_index, tmp_path / "served.zip", embedder)
    yield running
    running.server.stop(0.0, 1.0)


@pytest.fixture
def where(llm: ScriptedLLMServer) -> dict[str, Provider]:
    """Each model named where it lives (the scripted server): what a constrained decision takes."""
    llm.script(SOVEREIGN, Fail(500))
    for name in EXTERNAL:
        llm.script(name, Reply("an answer from outside"))
    return {name: Provider(model="openai/{name}", api_base=llm.api_base, api_key="test") for name in MODELS}


def _outcomes(running: RunningServer) -> list[tuple[bool, dict[str, str], list[str]]]:
    """Every committed outcome: accepted, labels, the models of its attempts."""
    with sqlite3.connect(running.index_path.with_suffix(".outcomes.db")) as db:
        rows = db.execute("SELECT decision_id, accepted, labels FROM outcomes").fetchall()
        return [
            (
                bool(accepted),
                json.loads(labels or "{}"),
                [m for (m,) in db.execute("SELECT model FROM attempts WHERE decision_id = ?", (decision_id,))],
            )
            for decision_id, accepted, labels in rows
        ]


CONVERSATION = [
    {"role": "user", "content": NDA},
    {"role": "assistant", "content": "Clause 2 favours the disclosing party."},
    {"role": "user", "content": "Now translate your answer into German"},
]
TASKS: dict[str, tuple[Any, dict[str, str]]] = {
    "restricted medical claim": (
        "Summarise this claim: patient 4711, diagnosis F32.1, treated since March",
        {"data_sensitivity": "restricted"},
    ),
    "confidential NDA": (NDA, {}),
    "conversation with the NDA two turns back": (CONVERSATION, {}),
}


@pytest.mark.parametrize("name", list(TASKS))
def test_a_constrained_task_reaches_no_other_model_when_the_sovereign_one_fails(
    name: str, server: RunningServer, llm: ScriptedLLMServer, where: dict[str, Provider]
) -> None:
    task, metadata = TASKS[name]
    with RouterClient(server.target) as client:
        with pytest.raises(CompletionError) as raised:
            client.complete(task, metadata=metadata, providers=where)
    assert llm.models_called() == [SOVEREIGN]
    assert raised.value.decision.allowed_models == (SOVEREIGN,)
    assert f"allows only {SOVEREIGN}: no other model was called" in str(raised.value)
    assert [(accepted, models) for accepted, _, models in _outcomes(server)] == [(False, [SOVEREIGN])]


def test_the_same_holds_for_the_asyncio_client_and_for_streams(
    server: RunningServer, llm: ScriptedLLMServer, where: dict[str, Provider]
) -> None:
    async def both() -> None:
        async with AsyncRouterClient(server.target) as client:
            with pytest.raises(CompletionError):
                await client.complete(CONVERSATION, providers=where)
            stream = await client.complete(NDA, stream=True, providers=where)
            with pytest.raises(CompletionError):
                async for _ in stream:
                    pass

    asyncio.run(both())
    with RouterClient(server.target) as client:
        stream = client.complete(CONVERSATION, stream=True, providers=where)
        with pytest.raises(CompletionError):
            for _ in stream:
                pass
    assert llm.models_called() == [SOVEREIGN] * 3
    assert [models for _, _, models in _outcomes(server)] == [[SOVEREIGN]] * 3


def test_a_rule_sees_a_secret_that_appears_only_in_an_earlier_turn(server: RunningServer) -> None:
    with RouterClient(server.target) as client:
        last_turn_only = client.route("Now translate your answer into German")
        whole = client.route("", messages=chat_turns(CONVERSATION))
    assert (last_turn_only.route, last_turn_only.rules, last_turn_only.allowed_models) == ("general", (), ())
    assert whole.route == "general"  # scored on the last user turn, as before
    assert whole.rules == ("confidential_text",)
    assert (whole.model.name, whole.fallbacks, whole.allowed_models) == (SOVEREIGN, (), (SOVEREIGN,))


@pytest.mark.parametrize(
    ("options", "refused"),
    [
        ({"providers_star": True}, "providers['*']"),
        ({"litellm_options": {"fallbacks": ["openai/gpt-5.2"]}}, "litellm_options fallbacks"),
        ({"litellm_options": {"api_base": "http://127.0.0.1:9/v1"}}, "litellm_options api_base"),
    ],
)
def test_options_that_could_send_a_constrained_task_elsewhere_are_refused_before_any_call(
    options: dict[str, Any], refused: str, server: RunningServer, llm: ScriptedLLMServer, where: dict[str, Provider]
) -> None:
    if options.pop("providers_star", False):
        options["providers"] = {"*": Provider(model="openai/gpt-5.2", api_base=llm.api_base, api_key="test")}
    else:
        options["providers"] = where
    with RouterClient(server.target) as client:
        with pytest.raises(ConstraintViolationError) as raised:
            client.complete(NDA, **options)
        allowed = client.complete("tell me a joke about autumn", **options)  # unconstrained: the options apply
    assert refused in str(raised.value) and "no model was called" in str(raised.value)
    assert SOVEREIGN not in llm.models_called() and len(llm.models_called()) == 1
    assert allowed.decision.allowed_models == ()
    refusals = [labels for accepted, labels, models in _outcomes(server) if not models]
    assert refusals == [{"semroute.refused": "constraint"}]


def test_the_natural_model_rule_without_allow_is_refused_naming_the_fix(tmp_path: Path) -> None:
    natural = [
        {
            "name": "contract_sovereignty",
            "when": {"text_matches": "confidential"},
            "then": {"model": SOVEREIGN},
            "final": True,
        }
    ]
    with pytest.raises(ConfigError) as raised:
        load_route_set(write_routes(tmp_path / "routes", ROUTES, _router(natural)))
    message = str(raised.value)
    assert "rules[0].then" in message and "allow: {tiers: [self_hosted]}" in message
