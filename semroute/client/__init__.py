"""Python clients of the routing service: :class:`RouterClient` (blocking) and :class:`AsyncRouterClient` (asyncio).

Both return typed values (:class:`RemoteDecision`, :class:`RouteInfo`, :class:`IndexInfo`...), apply a default
deadline to every call, retry UNAVAILABLE with backoff, balance over several addresses with round_robin, and raise
:class:`ServiceError` for a failed call::

    from semroute.client import RouterClient

    with RouterClient("localhost:50051") as client:
        decision = client.route("write unit tests for the parser")
        print(decision.route, decision.model.litellm, decision.config.temperature)
"""

from semroute.client._async import AsyncRouterClient
from semroute.client._channel import DEFAULT_DEADLINES, DEFAULT_TARGET, SERVICE_CONFIG, ClientTls, Deadlines
from semroute.client._errors import ServiceError
from semroute.client._results import IndexInfo, ReloadResult, RemoteDecision, RouteInfo, ServingStatus
from semroute.client._sync import RouterClient

__all__ = [
    "DEFAULT_DEADLINES",
    "DEFAULT_TARGET",
    "SERVICE_CONFIG",
    "AsyncRouterClient",
    "ClientTls",
    "Deadlines",
    "IndexInfo",
    "ReloadResult",
    "RemoteDecision",
    "RouteInfo",
    "RouterClient",
    "ServiceError",
    "ServingStatus",
]
