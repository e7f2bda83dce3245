"""The RouterService methods: protobuf in, the core router, protobuf out.

Methods raise semroute errors and never touch status codes; the request interceptor maps them.
"""

from __future__ import annotations

import grpc

from semroute import wire
from semroute.decision import Policy
from semroute.errors import RequestError
from semroute.service._errors import DeadlineExpiredError
from semroute.service._interceptors import current_request_id
from semroute.service._live_router import LiveRouter, Snapshot
from semroute.types import IndexInfo, ReloadResult, RouteInfo
from semroute.v1 import router_pb2 as pb
from semroute.v1 import router_pb2_grpc

MAX_BATCH_REQUESTS = 256


class RouterServicer(router_pb2_grpc.RouterServiceServicer):
    """Answers RouterService calls with the index in service."""

    def __init__(self, live: LiveRouter) -> None:
        """Serve whatever ``live`` holds at the time of each call."""
        self._live = live

    def Route(self, request: pb.RouteRequest, context: grpc.ServicerContext) -> pb.RouteResponse:
        """Decide one task."""
        router = self._live.snapshot().router  # read once: a concurrent reload cannot mix two indexes
        _require_time_left(context)
        decision = router.route(wire.request_from_proto(request))  # validates before embedding
        return pb.RouteResponse(
            decision=wire.decision_to_proto(decision, current_request_id(), full_trace=request.full_trace)
        )

    def RouteBatch(self, request: pb.RouteBatchRequest, context: grpc.ServicerContext) -> pb.RouteBatchResponse:
        """Decide many tasks with one embedding pass."""
        router = self._live.snapshot().router
        count = len(request.requests)
        if not 1 <= count <= MAX_BATCH_REQUESTS:
            raise RequestError("requests", f"must hold between 1 and {MAX_BATCH_REQUESTS} requests, got {count}")
        _require_time_left(context)
        decisions = router.route_batch([wire.request_from_proto(item) for item in request.requests])  # validates first
        request_id = current_request_id()
        return pb.RouteBatchResponse(
            decisions=[
                wire.decision_to_proto(decision, request_id, full_trace=item.full_trace)
                for decision, item in zip(decisions, request.requests, strict=True)
            ]
        )

    def ListRoutes(self, request: pb.ListRoutesRequest, context: grpc.ServicerContext) -> pb.ListRoutesResponse:
        """List the routes of the index in service."""
        artifact = self._live.snapshot().router.artifact
        routes = [wire.route_info_to_proto(route) for route in route_infos(artifact.policy)]
        return pb.ListRoutesResponse(routes=routes, index_fingerprint=artifact.fingerprint)

    def GetIndexInfo(self, request: pb.GetIndexInfoRequest, context: grpc.ServicerContext) -> pb.GetIndexInfoResponse:
        """Describe the index in service."""
        return pb.GetIndexInfoResponse(index=wire.index_info_to_proto(self._index_info(self._live.snapshot())))

    def ReloadIndex(self, request: pb.ReloadIndexRequest, context: grpc.ServicerContext) -> pb.ReloadIndexResponse:
        """Load the artifact on disk now; a refused artifact raises and the index in service stays."""
        outcome = self._live.load()
        result = ReloadResult(outcome.changed, outcome.previous_fingerprint, self._index_info(outcome.snapshot))
        return wire.reload_result_to_proto(result)

    def _index_info(self, snapshot: Snapshot) -> IndexInfo:
        artifact = snapshot.router.artifact
        manifest = artifact.manifest
        return IndexInfo(
            embedding_model_id=artifact.model.model_id,
            embedding_dimension=artifact.model.dim,
            embedding_model_sha256=artifact.model.sha256,
            fingerprint=artifact.fingerprint,
            route_count=manifest.counts.routes,
            utterance_count=manifest.counts.utterances,
            built_at=manifest.built_at,
            loaded_at=snapshot.loaded_at,
            last_reload_error=self._live.last_reload_error,
        )


def route_infos(policy: Policy) -> list[RouteInfo]:
    """What ListRoutes tells about each route of a policy."""
    return [
        RouteInfo(
            name=target.name,
            description=target.description,
            model=policy.models[target.model],
            fallbacks=tuple(policy.models[name] for name in target.fallbacks),
            config=target.config,
            score_threshold=target.threshold,
        )
        for target in policy.routes.values()
    ]


def _require_time_left(context: grpc.ServicerContext) -> None:
    """Give up before embedding when the caller's deadline has already passed."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExpiredError("the call's deadline passed before routing started")
