"""Domain values <-> ``semroute.v1`` protobuf messages: the one translation the service and the client both use.

Every ``*_to_proto`` has a ``*_from_proto`` inverse, so what the server sends is what the client gets back. The
values are those of :mod:`semroute.types`; this module imports nothing heavier than protobuf, so the lean client can
use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from google.protobuf.timestamp_pb2 import Timestamp

from semroute.types import (
    REASONING_EFFORTS,
    Attempt,
    AttemptOutcome,
    Candidate,
    ChatMessage,
    IndexInfo,
    ModelConfig,
    OutcomeReport,
    QualityReport,
    ReloadResult,
    RemoteDecision,
    ResolvedModel,
    RouteDecision,
    RouteInfo,
    RouteRequest,
    ServingStatus,
    StoreStats,
    Tier,
    ValidatorSpec,
)
from semroute.v1 import router_pb2 as pb

if TYPE_CHECKING:
    from grpc_health.v1 import health_pb2

# The transport limit of server and client, each way: 4 MiB, so a request at the application's text limit
# (semroute.router.MAX_TEXT_CHARS, 1,000,000 characters) still fits.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["RouterService"].full_name
REQUEST_ID_KEY = "x-request-id"  # metadata key of the request id, both ways

_TIER_PREFIX = "MODEL_TIER_"
_EFFORT_PREFIX = "REASONING_EFFORT_"
_OUTCOME_PREFIX = "ATTEMPT_OUTCOME_"


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
    effort = pb.ReasoningEffort.Name(message.reasoning_effort).removeprefix(_EFFORT_PREFIX).lower()
    return ModelConfig(
        temperature=message.temperature if message.HasField("temperature") else None,
        max_output_tokens=message.max_output_tokens if message.HasField("max_output_tokens") else None,
        reasoning_effort=next((known for known in REASONING_EFFORTS if known == effort), None),
        top_p=message.top_p if message.HasField("top_p") else None,
    )


def validator_to_proto(validator: ValidatorSpec) -> pb.Validator:
    """A validator as a ``Validator`` message (its parameters as a ``Struct``)."""
    message = pb.Validator(kind=validator.kind)
    message.params.update(dict(validator.params))
    return message


def validator_from_proto(message: pb.Validator) -> ValidatorSpec:
    """Inverse of :func:`validator_to_proto` (whole numbers come back as ints: a Struct holds only doubles)."""
    from google.protobuf.json_format import MessageToDict  # here: a third of the client's import time, rarely needed

    return ValidatorSpec(message.kind, _plain(MessageToDict(message.params)))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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
        cascade=[model_to_proto(model) for model in decision.cascade],
        validators=[validator_to_proto(validator) for validator in decision.validators],
        decision_id=decision.decision_id,
        choice_policy=decision.choice_policy,
        choice_probability=decision.choice_probability,
        allowed_models=list(decision.allowed_models),
        constraint_rules=list(decision.constraint_rules),
    )


def decision_from_proto(message: pb.RouteDecision) -> RemoteDecision:
    """A ``RouteDecision`` message as a :class:`~semroute.types.RemoteDecision` (inverse of
    :func:`decision_to_proto`, with the request id)."""
    return RemoteDecision(
        route=message.route,
        model=model_from_proto(message.model),
        fallbacks=tuple(model_from_proto(model) for model in message.fallbacks),
        config=config_from_proto(message.config),
        candidates=tuple(candidate_from_proto(candidate) for candidate in message.candidates),
        margin=message.margin,
        ambiguous=message.ambiguous,
        rules=tuple(message.rules),
        trace=tuple(message.trace),
        estimated_tokens=message.estimated_input_tokens,
        index_fingerprint=message.index_fingerprint,
        request_id=message.request_id,
        cascade=tuple(model_from_proto(model) for model in message.cascade),
        validators=tuple(validator_from_proto(validator) for validator in message.validators),
        decision_id=message.decision_id,
        choice_policy=message.choice_policy or "static",
        choice_probability=message.choice_probability or 1.0,
        allowed_models=tuple(message.allowed_models),
        constraint_rules=tuple(message.constraint_rules),
    )


def chat_message_to_proto(turn: ChatMessage) -> pb.ChatMessage:
    """A conversation's turn as a ``ChatMessage`` message."""
    return pb.ChatMessage(
        role=turn.role,
        text=turn.text,
        has_tool_calls=turn.tool_calls,
        has_tool_result=turn.tool_result,
        has_images=turn.images,
    )


def chat_message_from_proto(message: pb.ChatMessage) -> ChatMessage:
    """Inverse of :func:`chat_message_to_proto`."""
    return ChatMessage(
        role=message.role,
        text=message.text,
        tool_calls=message.has_tool_calls,
        tool_result=message.has_tool_result,
        images=message.has_images,
    )


def request_to_proto(request: RouteRequest, *, full_trace: bool = False) -> pb.RouteRequest:
    """A routing request as a ``RouteRequest`` message."""
    return pb.RouteRequest(
        text=request.text,
        metadata=dict(request.metadata),
        input_tokens=request.input_tokens,
        top_k=request.top_k,
        full_trace=full_trace,
        messages=[chat_message_to_proto(turn) for turn in request.messages],
    )


def request_from_proto(message: pb.RouteRequest) -> RouteRequest:
    """Inverse of :func:`request_to_proto` (without the trace flag, which is not part of the routing question)."""
    return RouteRequest(
        text=message.text,
        metadata=dict(message.metadata),
        input_tokens=message.input_tokens if message.HasField("input_tokens") else None,
        top_k=message.top_k if message.HasField("top_k") else None,
        messages=tuple(chat_message_from_proto(turn) for turn in message.messages),
    )


def batch_request_to_proto(tasks: Sequence[str | RouteRequest], *, full_trace: bool) -> pb.RouteBatchRequest:
    """The ``RouteBatchRequest`` of several tasks (a plain string is a task without options)."""
    requests = [RouteRequest(task) if isinstance(task, str) else task for task in tasks]
    return pb.RouteBatchRequest(requests=[request_to_proto(task, full_trace=full_trace) for task in requests])


def route_info_to_proto(route: RouteInfo) -> pb.RouteInfo:
    """A route of the index in service as a ``RouteInfo`` message."""
    return pb.RouteInfo(
        name=route.name,
        description=route.description,
        model=model_to_proto(route.model),
        fallbacks=[model_to_proto(model) for model in route.fallbacks],
        config=config_to_proto(route.config),
        score_threshold=route.score_threshold,
    )


def route_info_from_proto(message: pb.RouteInfo) -> RouteInfo:
    """Inverse of :func:`route_info_to_proto`."""
    return RouteInfo(
        name=message.name,
        description=message.description,
        model=model_from_proto(message.model),
        fallbacks=tuple(model_from_proto(model) for model in message.fallbacks),
        config=config_from_proto(message.config),
        score_threshold=message.score_threshold,
    )


def index_info_to_proto(info: IndexInfo) -> pb.IndexInfo:
    """The index in service as an ``IndexInfo`` message."""
    return pb.IndexInfo(
        embedding_model_id=info.embedding_model_id,
        embedding_dimension=info.embedding_dimension,
        embedding_model_sha256=info.embedding_model_sha256,
        fingerprint=info.fingerprint,
        route_count=info.route_count,
        utterance_count=info.utterance_count,
        built_at=timestamp(info.built_at),
        loaded_at=timestamp(info.loaded_at),
        last_reload_error=info.last_reload_error,
    )


def index_info_from_proto(message: pb.IndexInfo) -> IndexInfo:
    """Inverse of :func:`index_info_to_proto`."""
    return IndexInfo(
        embedding_model_id=message.embedding_model_id,
        embedding_dimension=message.embedding_dimension,
        embedding_model_sha256=message.embedding_model_sha256,
        fingerprint=message.fingerprint,
        route_count=message.route_count,
        utterance_count=message.utterance_count,
        built_at=datetime_from_proto(message.built_at),
        loaded_at=datetime_from_proto(message.loaded_at),
        last_reload_error=message.last_reload_error,
    )


def reload_result_to_proto(result: ReloadResult) -> pb.ReloadIndexResponse:
    """What a reload did, as a ``ReloadIndexResponse``."""
    return pb.ReloadIndexResponse(
        changed=result.changed,
        previous_fingerprint=result.previous_fingerprint,
        index=index_info_to_proto(result.index),
    )


def reload_result_from_proto(message: pb.ReloadIndexResponse) -> ReloadResult:
    """Inverse of :func:`reload_result_to_proto`."""
    return ReloadResult(message.changed, message.previous_fingerprint, index_info_from_proto(message.index))


def attempt_outcome_to_proto(outcome: AttemptOutcome) -> pb.AttemptOutcome.ValueType:
    """The proto enum value of an attempt's outcome."""
    return pb.AttemptOutcome.Value(_OUTCOME_PREFIX + outcome.name)


def attempt_outcome_from_proto(value: pb.AttemptOutcome.ValueType) -> AttemptOutcome:
    """The outcome of a proto enum value.

    Raises:
        ValueError: the value is UNSPECIFIED or unknown to this version.
    """
    name = pb.AttemptOutcome.Name(value).removeprefix(_OUTCOME_PREFIX) if value in pb.AttemptOutcome.values() else ""
    if name not in AttemptOutcome.__members__:
        raise ValueError(f"attempt outcome {name or value} has no semroute equivalent")
    return AttemptOutcome[name]


def attempt_to_proto(attempt: Attempt) -> pb.Attempt:
    """One model call as an ``Attempt`` message."""
    return pb.Attempt(
        model=attempt.model,
        outcome=attempt_outcome_to_proto(attempt.outcome),
        latency_ms=attempt.latency_ms,
        input_tokens=attempt.input_tokens,
        output_tokens=attempt.output_tokens,
        cost_usd=attempt.cost_usd,
        validator=attempt.validator,
        message=attempt.message,
        error_class=attempt.error_class,
        passed_validators=attempt.passed_validators,
    )


def attempt_from_proto(message: pb.Attempt) -> Attempt:
    """Inverse of :func:`attempt_to_proto`.

    Raises:
        ValueError: the outcome is UNSPECIFIED or unknown to this version.
    """
    return Attempt(
        model=message.model,
        outcome=attempt_outcome_from_proto(message.outcome),
        latency_ms=message.latency_ms,
        input_tokens=message.input_tokens,
        output_tokens=message.output_tokens,
        cost_usd=message.cost_usd,
        validator=message.validator,
        message=message.message,
        error_class=message.error_class,
        passed_validators=tuple(message.passed_validators),
    )


def outcome_report_to_proto(report: OutcomeReport) -> pb.ReportOutcomeRequest:
    """An outcome as a ``ReportOutcomeRequest``."""
    return pb.ReportOutcomeRequest(
        decision_id=report.decision_id,
        attempts=[attempt_to_proto(attempt) for attempt in report.attempts],
        accepted=report.accepted,
        quality_score=report.quality_score,
        labels=dict(report.labels),
    )


def outcome_report_from_proto(message: pb.ReportOutcomeRequest) -> OutcomeReport:
    """Inverse of :func:`outcome_report_to_proto`.

    Raises:
        ValueError: an attempt's outcome is UNSPECIFIED or unknown (the message names the attempt).
    """
    attempts = []
    for position, attempt in enumerate(message.attempts):
        try:
            attempts.append(attempt_from_proto(attempt))
        except ValueError as error:
            raise ValueError(f"attempts[{position}].outcome: {error}") from None
    return OutcomeReport(
        decision_id=message.decision_id,
        attempts=tuple(attempts),
        accepted=message.accepted,
        quality_score=message.quality_score if message.HasField("quality_score") else None,
        labels=dict(message.labels),
    )


def quality_report_to_proto(report: QualityReport) -> pb.ReportQualityRequest:
    """A later quality score as a ``ReportQualityRequest``."""
    return pb.ReportQualityRequest(decision_id=report.decision_id, score=report.score, labels=dict(report.labels))


def quality_report_from_proto(message: pb.ReportQualityRequest) -> QualityReport:
    """Inverse of :func:`quality_report_to_proto`."""
    return QualityReport(message.decision_id, message.score, dict(message.labels))


def store_stats_to_proto(stats: StoreStats) -> pb.StoreStats:
    """The outcome store's counters as a ``StoreStats`` message."""
    return pb.StoreStats(
        enabled=stats.enabled,
        decisions_recorded=stats.decisions_recorded,
        decisions_dropped=stats.decisions_dropped,
        store_errors=stats.store_errors,
        outcomes_recorded=stats.outcomes_recorded,
    )


def store_stats_from_proto(message: pb.StoreStats) -> StoreStats:
    """Inverse of :func:`store_stats_to_proto`."""
    return StoreStats(
        enabled=message.enabled,
        decisions_recorded=message.decisions_recorded,
        decisions_dropped=message.decisions_dropped,
        store_errors=message.store_errors,
        outcomes_recorded=message.outcomes_recorded,
    )


def serving_status_from_proto(message: health_pb2.HealthCheckResponse) -> ServingStatus:
    """A health check response as a :class:`~semroute.types.ServingStatus`."""
    # read through the message's own descriptor: importing health_pb2 here would cost every client import
    status = message.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number[message.status]
    return ServingStatus(status.name)


def timestamp(moment: datetime) -> Timestamp:
    """A timezone-aware datetime as a ``Timestamp``."""
    message = Timestamp()
    message.FromDatetime(moment)
    return message


def datetime_from_proto(message: Timestamp) -> datetime:
    """Inverse of :func:`timestamp`, in UTC."""
    return message.ToDatetime(tzinfo=UTC)
