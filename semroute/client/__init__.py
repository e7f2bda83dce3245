"""Python clients of the routing service: :class:`RouterClient` (blocking) and :class:`AsyncRouterClient` (asyncio).

This package needs only the base install (``pip install semroute``: grpcio, its health checking, protobuf) and
imports nothing of the server (no numpy, faiss, fastembed or pydantic). Both clients return typed values
(:class:`RemoteDecision`, :class:`RouteInfo`, :class:`IndexInfo`...), apply a default deadline to every call, retry
UNAVAILABLE with backoff (routing calls once more on another backend, within their deadline), balance over several
addresses with round_robin, send calls only to backends whose health is SERVING, and raise :class:`ServiceError` for
a failed call::

    from semroute.client import RouterClient

    with RouterClient("localhost:50051") as client:
        decision = client.route("write unit tests for the parser")
        print(decision.route, decision.model.litellm, decision.config.temperature)
"""

from semroute.chat import chat_turns
from semroute.client._async import AsyncRouterClient
from semroute.client._channel import DEFAULT_DEADLINES, DEFAULT_TARGET, SERVICE_CONFIG, ClientTls, Deadlines
from semroute.client._core import BatchOptions, CallOptions, OutcomeOptions, ReportOptions, RouteOptions
from semroute.client._errors import ServiceError
from semroute.client._sync import RouterClient
from semroute.types import (
    Attempt,
    AttemptOutcome,
    Candidate,
    ChatMessage,
    IndexInfo,
    ModelConfig,
    ReloadResult,
    RemoteDecision,
    ResolvedModel,
    RouteInfo,
    RouteRequest,
    ServingStatus,
    StoreStats,
    Tier,
)

__all__ = [
    "DEFAULT_DEADLINES",
    "DEFAULT_TARGET",
    "SERVICE_CONFIG",
    "AsyncRouterClient",
    "Attempt",
    "AttemptOutcome",
    "BatchOptions",
    "CallOptions",
    "Candidate",
    "ChatMessage",
    "ClientTls",
    "Deadlines",
    "IndexInfo",
    "ModelConfig",
    "OutcomeOptions",
    "ReloadResult",
    "ReportOptions",
    "RemoteDecision",
    "ResolvedModel",
    "RouteInfo",
    "RouteOptions",
    "RouteRequest",
    "RouterClient",
    "ServiceError",
    "ServingStatus",
    "StoreStats",
    "Tier",
    "chat_turns",
]
