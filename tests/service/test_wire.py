"""Domain values <-> protobuf: every conversion round-trips, and channel targets are built as documented."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from semroute.client import SERVICE_CONFIG
from semroute.client._channel import channel_target
from semroute.router import Router
from semroute.types import ModelConfig, ResolvedModel, RouteRequest, Tier
from semroute.v1 import router_pb2 as pb
from semroute.wire import (
    config_from_proto,
    config_to_proto,
    datetime_from_proto,
    decision_from_proto,
    decision_to_proto,
    model_from_proto,
    model_to_proto,
    request_from_proto,
    request_to_proto,
    tier_from_proto,
    timestamp,
)


@pytest.mark.parametrize("tier", list(Tier))
def test_every_tier_round_trips(tier: Tier) -> None:
    model = ResolvedModel("m", "provider/m", tier, 1.25, 10.0, 128_000)

    assert model_from_proto(model_to_proto(model)) == model


def test_unspecified_tier_is_refused() -> None:
    with pytest.raises(ValueError, match="UNSPECIFIED"):
        tier_from_proto(pb.ModelTier.MODEL_TIER_UNSPECIFIED)


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(),
        ModelConfig(temperature=0.0, max_output_tokens=1, reasoning_effort="minimal", top_p=1.0),
        ModelConfig(temperature=0.7, reasoning_effort="high"),
        ModelConfig(max_output_tokens=8000, reasoning_effort="medium"),
        ModelConfig(top_p=0.9, reasoning_effort="low"),
    ],
)
def test_config_round_trips_with_unset_fields_kept_unset(config: ModelConfig) -> None:
    message = config_to_proto(config)

    assert config_from_proto(message) == config
    assert message.HasField("temperature") == (config.temperature is not None)  # 0.0 is set, not unset


def test_request_round_trips() -> None:
    request = RouteRequest("fix the bug", {"team": "payments"}, input_tokens=0, top_k=3)

    assert request_from_proto(request_to_proto(request, full_trace=True)) == request
    assert request_from_proto(request_to_proto(RouteRequest("fix"))) == RouteRequest("fix")


def test_decision_round_trips(default_router: Router) -> None:
    decision = default_router.route(RouteRequest("write unit tests for the parser", {"team": "qa"}))

    remote = decision_from_proto(decision_to_proto(decision, "id-1", full_trace=True))
    without_trace = decision_from_proto(decision_to_proto(decision, "id-1", full_trace=False))

    assert {**remote.to_json(), "request_id": None} == {**decision.to_json(), "request_id": None}
    assert remote.cascade == decision.cascade and remote.validators == decision.validators
    assert remote.request_id == "id-1"
    assert without_trace.trace == () and decision.trace != ()


def test_timestamps_round_trip() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

    assert datetime_from_proto(timestamp(moment)) == moment


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost:50051", "localhost:50051"),
        ("dns:///router.internal:50051", "dns:///router.internal:50051"),
        (["10.0.0.1:50051"], "10.0.0.1:50051"),
        (["10.0.0.1:50051", "10.0.0.2:50051"], "ipv4:10.0.0.1:50051,10.0.0.2:50051"),
        (["[::1]:50051", "[::1]:50052"], "ipv6:[::1]:50051,[::1]:50052"),
    ],
)
def test_channel_target(given: str | list[str], expected: str) -> None:
    assert channel_target(given) == expected


@pytest.mark.parametrize("given", [[], ["a.internal:1", "b.internal:1"], ["10.0.0.1:1", "[::1]:1"]])
def test_channel_target_refuses_what_grpc_cannot_balance(given: list[str]) -> None:
    with pytest.raises(ValueError, match="several targets"):
        channel_target(given)


def test_service_config_retries_only_unavailable_and_balances_round_robin() -> None:
    config = json.loads(json.dumps(SERVICE_CONFIG))
    (method_config,) = config["methodConfig"]

    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert {name["method"] for name in method_config["name"]} == {"Route", "RouteBatch", "ListRoutes", "GetIndexInfo"}
