"""Domain values <-> ``semroute.v1`` protobuf messages: the one translation both the service and the client use.

Each ``*_to_proto`` has a ``*_from_proto`` inverse, so what the server sends is what the client gets back.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from semroute.catalog import ResolvedModel
from semroute.decision import Candidate, RouteDecision
from semroute.router import RouteRequest
from semroute.schema import ModelConfig, Tier
from semroute.v1 import router_pb2 as pb

# The transport limit of server and client, each way: 4 MiB, so a request at the application's text limit
# (semroute.router.MAX_TEXT_CHARS, 1,000,000 characters) still fits.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["RouterService"].full_name
REQUEST_ID_KEY = "x-request-id"  # metadata key of the request id, both ways

_TIER_PREFIX = "MODEL_TIER_"
_EFFORT_PREFIX = "REASONING_EFFORT_"


def tier_to_proto(tier: Tier) -> pb.ModelTier.ValueType:
    """The proto enum value of a tier."""
    return pb.ModelTier.Value(_TIER_PREFIX + tier.name)


def tier_from_proto(value: pb.ModelTier.ValueType) -> Tier:
    """The tier of a proto enum value.

    Raises:
        ValueError: the value is UNSPECIFIED or unknown to this version.
    """
    name = pb.ModelTier.Name(value).removeprefix(_TIER_PREFIX)
    if name not in Tier.__members__:
        raise ValueError(f"model tier {name} has no semroute equivalent")
    return Tier[name]


def model_to_proto(model: ResolvedModel) -> pb.ModelInfo:
    """A catalog model as a ``ModelInfo`` message."""
    return pb.ModelInfo(
        name=model.name,
        litellm_model=model.litellm,
        tier=tier_to_proto(model.tier),
        input_usd_per_million_tokens=model.input_cost_per_mtok,
        output_usd_per_million_tokens=model.output_cost_per_mtok,
        context_window_tokens=model.context_window,
    )


def model_from_proto(message: pb.ModelInfo) -> ResolvedModel:
    """Inverse of :func:`model_to_proto`."""
    return ResolvedModel(
        name=message.name,
        litellm=message.litellm_model,
        tier=tier_from_proto(message.tier),
        input_cost_per_mtok=message.input_usd_per_million_tokens,
        output_cost_per_mtok=message.output_usd_per_million_tokens,
        context_window=message.context_window_tokens,
    )


def config_to_proto(config: ModelConfig) -> pb.ModelConfig:
    """A model config as a ``ModelConfig`` message; unset values stay unset."""
    effort = (
        pb.ReasoningEffort.Value(_EFFORT_PREFIX + config.reasoning_effort.upper())
        if config.reasoning_effort is not None
        else pb.ReasoningEffort.REASONING_EFFORT_UNSPECIFIED
    )
    return pb.ModelConfig(
        temperature=config.temperature,
        max_output_tokens=config.max_output_tokens,
        reasoning_effort=effort,
        top_p=config.top_p,
    )


def config_from_proto(message: pb.ModelConfig) -> ModelConfig:
    """Inverse of :func:`config_to_proto`."""
    values: dict[str, object] = {
        name: getattr(message, name) for name in ("temperature", "max_output_tokens", "top_p") if message.HasField(name)
    }
    if message.reasoning_effort != pb.ReasoningEffort.REASONING_EFFORT_UNSPECIFIED:
        name = pb.ReasoningEffort.Name(message.reasoning_effort)
        values["reasoning_effort"] = name.removeprefix(_EFFORT_PREFIX).lower()
    return ModelConfig.model_validate(values)


def candidate_to_proto(candidate: Candidate) -> pb.Candidate:
    """A scored route as a ``Candidate`` message."""
    return pb.Candidate(route=candidate.route, score=candidate.score, signals=dict(candidate.signals))


def candidate_from_proto(message: pb.Candidate) -> Candidate:
    """Inverse of :func:`candidate_to_proto`."""
    return Candidate(route=message.route, score=message.score, signals=dict(message.signals))


def decision_to_proto(decision: RouteDecision, request_id: str, *, full_trace: bool) -> pb.RouteDecision:
    """A decision as a ``RouteDecision`` message; the trace is sent only when ``full_trace`` is set."""
    return pb.RouteDecision(
        route=decision.route,
        model=model_to_proto(decision.model),
        config=config_to_proto(decision.config),
        fallbacks=[model_to_proto(model) for model in decision.fallbacks],
        ambiguous=decision.ambiguous,
        margin=decision.margin,
        candidates=[candidate_to_proto(candidate) for candidate in decision.candidates],
        rules=list(decision.rules),
        trace=list(decision.trace) if full_trace else [],
        estimated_input_tokens=decision.estimated_tokens,
        index_fingerprint=decision.index_fingerprint,
        request_id=request_id,
    )


def request_to_proto(request: RouteRequest, *, full_trace: bool = False) -> pb.RouteRequest:
    """A routing request as a ``RouteRequest`` message."""
    return pb.RouteRequest(
        text=request.text,
        metadata=dict(request.metadata),
        input_tokens=request.input_tokens,
        top_k=request.top_k,
        full_trace=full_trace,
    )


def request_from_proto(message: pb.RouteRequest) -> RouteRequest:
    """Inverse of :func:`request_to_proto` (without the trace flag, which is not part of the routing question)."""
    return RouteRequest(
        text=message.text,
        metadata=dict(message.metadata),
        input_tokens=message.input_tokens if message.HasField("input_tokens") else None,
        top_k=message.top_k if message.HasField("top_k") else None,
    )


def timestamp(moment: datetime) -> Timestamp:
    """A timezone-aware datetime as a ``Timestamp``."""
    message = Timestamp()
    message.FromDatetime(moment)
    return message


def datetime_from_proto(message: Timestamp) -> datetime:
    """Inverse of :func:`timestamp`, in UTC."""
    return message.ToDatetime(tzinfo=UTC)
