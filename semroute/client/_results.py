"""What the client returns: plain typed values built from the service's messages (never raw protobuf)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from grpc_health.v1 import health_pb2

from semroute.catalog import ResolvedModel
from semroute.decision import RouteDecision
from semroute.schema import ModelConfig
from semroute.v1 import router_pb2 as pb
from semroute.wire import candidate_from_proto, config_from_proto, datetime_from_proto, model_from_proto


@dataclass(frozen=True)
class RemoteDecision(RouteDecision):
    """A decision made by the service: a :class:`~semroute.decision.RouteDecision` plus the call's request id.

    ``trace`` is empty unless the call asked for the full trace.
    """

    request_id: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form: the decision's, plus ``request_id``."""
        return {**super().to_json(), "request_id": self.request_id}


@dataclass(frozen=True)
class RouteInfo:
    """One route of the index in service and what it leads to."""

    name: str
    description: str
    model: ResolvedModel
    fallbacks: tuple[ResolvedModel, ...]
    config: ModelConfig
    score_threshold: float


@dataclass(frozen=True)
class IndexInfo:
    """The index in service and the embedding model serving it."""

    embedding_model_id: str
    embedding_dimension: int
    embedding_model_sha256: str
    fingerprint: str
    route_count: int
    utterance_count: int
    built_at: datetime
    loaded_at: datetime
    last_reload_error: str  # why the latest reload was refused; empty when it succeeded


@dataclass(frozen=True)
class ReloadResult:
    """What a ReloadIndex call did."""

    changed: bool  # False: the artifact on disk is the index already in service
    previous_fingerprint: str
    index: IndexInfo


class ServingStatus(StrEnum):
    """A health check's answer (``grpc.health.v1``)."""

    UNKNOWN = "UNKNOWN"
    SERVING = "SERVING"
    NOT_SERVING = "NOT_SERVING"
    SERVICE_UNKNOWN = "SERVICE_UNKNOWN"


def decision_from_proto(message: pb.RouteDecision) -> RemoteDecision:
    """A ``RouteDecision`` message as a :class:`RemoteDecision`."""
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
    )


def route_info_from_proto(message: pb.RouteInfo) -> RouteInfo:
    """A ``RouteInfo`` message as a :class:`RouteInfo`."""
    return RouteInfo(
        name=message.name,
        description=message.description,
        model=model_from_proto(message.model),
        fallbacks=tuple(model_from_proto(model) for model in message.fallbacks),
        config=config_from_proto(message.config),
        score_threshold=message.score_threshold,
    )


def index_info_from_proto(message: pb.IndexInfo) -> IndexInfo:
    """An ``IndexInfo`` message as an :class:`IndexInfo`."""
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


def reload_result_from_proto(message: pb.ReloadIndexResponse) -> ReloadResult:
    """A ``ReloadIndexResponse`` as a :class:`ReloadResult`."""
    return ReloadResult(message.changed, message.previous_fingerprint, index_info_from_proto(message.index))


def serving_status_from_proto(message: health_pb2.HealthCheckResponse) -> ServingStatus:
    """A health check response as a :class:`ServingStatus`."""
    return ServingStatus(health_pb2.HealthCheckResponse.ServingStatus.Name(message.status))
