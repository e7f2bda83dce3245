"""Round trips through both clients against the session server (real model, real index)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

import grpc
import pytest

from semroute.client import AsyncRouterClient, RemoteDecision, RouterClient, ServiceError, ServingStatus
from semroute.index import IndexArtifact
from semroute.router import Router
from semroute.types import RouteRequest

TASKS = [
    "write unit tests for the parser",
    "Summarize this article in three bullet points",
    "Review this pull request for security problems",
    "Classify these support tickets by urgency",
    "Rename the helper and update every call site across the repository",
]


def _without_request_id(decision: RemoteDecision) -> RemoteDecision:  # and the decision id: issued per call
    return dataclasses.replace(decision, request_id="", decision_id="")


def test_route_answers_test_generation(client: RouterClient) -> None:
    decision = client.route("write unit tests for the parser")

    assert decision.route == "test_generation"
    assert decision.candidates[0].route == "test_generation"
    assert decision.trace == ()  # only sent when asked for


def test_remote_decision_equals_the_local_one(client: RouterClient, default_router: Router) -> None:
    for text in TASKS:
        request = RouteRequest(text, {"team": "payments"}, input_tokens=1200, top_k=7)
        remote = client.route(
            text, metadata=request.metadata, input_tokens=request.input_tokens, top_k=request.top_k, full_trace=True
        )
        local = default_router.route(request)

        ids = {"request_id": None, "decision_id": None}  # issued per call by the service
        assert {**remote.to_json(), **ids} == {**local.to_json(), **ids}
        assert remote.config == local.config
        assert remote.fallbacks == local.fallbacks


def test_route_batch_equals_route_item_by_item(client: RouterClient) -> None:
    tasks: list[str | RouteRequest] = [*TASKS, RouteRequest("summarize this", {"data_classification": "restricted"})]
    batch = client.route_batch(tasks, full_trace=True)
    one_by_one = [
        client.route(task, full_trace=True)
        if isinstance(task, str)
        else client.route(task.text, metadata=task.metadata, full_trace=True)
        for task in tasks
    ]

    assert [_without_request_id(decision) for decision in batch] == [
        _without_request_id(decision) for decision in one_by_one
    ]


def test_request_id_is_echoed_or_generated(client: RouterClient) -> None:
    chosen = client.route("write unit tests for the parser", request_id="caller-42")
    generated = client.route("write unit tests for the parser")
    batch = client.route_batch(TASKS[:2], request_id="batch-7")

    assert chosen.request_id == "caller-42"
    assert uuid.UUID(generated.request_id)
    assert [decision.request_id for decision in batch] == ["batch-7", "batch-7"]


def test_every_decision_gets_a_decision_id_of_its_own(client: RouterClient) -> None:
    single = client.route("write unit tests for the parser")
    batch = client.route_batch(TASKS[:3])
    ids = [single.decision_id, *(decision.decision_id for decision in batch)]

    assert len(set(ids)) == 4
    assert all(uuid.UUID(hex=decision_id) for decision_id in ids)


def test_list_routes_matches_the_index(client: RouterClient, default_artifact: IndexArtifact) -> None:
    routes = {route.name: route for route in client.list_routes()}
    policy = default_artifact.policy

    assert list(routes) == list(policy.routes)
    for name, target in policy.routes.items():
        assert routes[name].description == target.description
        assert routes[name].model == policy.models[target.model]
        assert routes[name].fallbacks == tuple(policy.models[fallback] for fallback in target.fallbacks)
        assert routes[name].config == target.config
        assert routes[name].score_threshold == target.threshold


def test_index_info_describes_the_index(client: RouterClient, default_artifact: IndexArtifact) -> None:
    info = client.index_info()
    manifest = default_artifact.manifest

    assert info.fingerprint == default_artifact.fingerprint
    assert info.embedding_model_id == default_artifact.model.model_id
    assert info.embedding_dimension == default_artifact.model.dim
    assert info.embedding_model_sha256 == default_artifact.model.sha256
    assert (info.route_count, info.utterance_count) == (manifest.counts.routes, manifest.counts.utterances)
    assert info.built_at == manifest.built_at
    assert info.loaded_at >= info.built_at
    assert info.last_reload_error == ""


def test_reload_of_the_same_artifact_changes_nothing(client: RouterClient) -> None:
    before = client.index_info()
    result = client.reload_index()

    assert not result.changed
    assert result.previous_fingerprint == result.index.fingerprint == before.fingerprint
    assert result.index.loaded_at == before.loaded_at


def test_health_reports_serving_for_the_server_and_the_service(client: RouterClient) -> None:
    assert client.health() is ServingStatus.SERVING
    assert client.health("") is ServingStatus.SERVING


def test_async_client_round_trip(target: str, client: RouterClient) -> None:
    async def ask() -> tuple[RemoteDecision, list[RemoteDecision], ServingStatus, str]:
        async with AsyncRouterClient(target) as async_client:
            single = await async_client.route("write unit tests for the parser", full_trace=True)
            batch = await async_client.route_batch(TASKS, full_trace=True)
            health = await async_client.health()
            info = await async_client.index_info()
            routes = await async_client.list_routes()
            assert routes == client.list_routes()
            with pytest.raises(ServiceError) as refused:
                await async_client.route("  ")
            assert refused.value.code is grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details.startswith("text: ")
            assert not (await async_client.reload_index()).changed
            return single, batch, health, info.fingerprint

    single, batch, health, fingerprint = asyncio.run(ask())

    assert single.route == "test_generation"
    assert _without_request_id(single) == _without_request_id(client.route(TASKS[0], full_trace=True))
    assert [_without_request_id(d) for d in batch] == [
        _without_request_id(client.route(task, full_trace=True)) for task in TASKS
    ]
    assert health is ServingStatus.SERVING
    assert fingerprint == client.index_info().fingerprint
