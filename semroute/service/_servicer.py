"""The RouterService methods: bytes in, the core router, protobuf out.

The methods are registered with raw-bytes deserializers (:func:`router_service_handler`) and parse each request
themselves: grpc's own parsing fails before any interceptor runs, so a malformed message (random or truncated bytes,
invalid UTF-8 in a string) would get INTERNAL with a traceback and no request id. Parsed here, it is a
:class:`MalformedRequestError`: INVALID_ARGUMENT, with the request id and one log line like any other bad request.

Routing calls find the vectors of their tasks' embedded parts (one per task, or several with ``settings.embedding.part:
best_part``) through :class:`QueryVectors`: from the vector cache, or embedded within admission control
(:mod:`._admission`), a Route call in a micro-batch with the calls waiting beside it. They decide through the
router's own :meth:`~semroute.router.Router.route_parts`, so a server answers as the in-process router does; the
outcome store gets each task's one vector (:func:`~semroute.router.task_vectors`). Every call
then scores and decides on its own thread with the index it read at its start, and gets a decision id of its own.
Each decision is handed to the outcome store on the way out (enqueued, never waited for). Reports (ReportOutcome,
ReportQuality) bypass admission: they embed nothing, and what bounds them is the store's queue and the reports that
may wait for a commit at once, per caller and in all (:class:`~semroute.service._report_slots.ReportSlots`). Methods
raise semroute errors and never touch status codes; the request interceptor maps them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message

from semroute import wire
from semroute.decision import Policy
from semroute.embedding import Vectors
from semroute.errors import RequestError, StoreError
from semroute.router import task_vectors, validate_batch, validate_request
from semroute.service._admission import Admission
from semroute.service._background import BackgroundPasses
from semroute.service._cache import VectorCache
from semroute.service._errors import AdminOnlyError, DeadlineExpiredError, MalformedRequestError
from semroute.service._interceptors import annotate, current_request_id, is_admin_call
from semroute.service._live_router import LiveRouter, LoadOutcome, Snapshot
from semroute.service._query_vectors import QueryVectors
from semroute.service._report_slots import ReportSlots
from semroute.service._watcher import ArtifactWatcher
from semroute.store import (
    OutcomeStore,
    PendingDecision,
    utc_now,
    validate_outcome_report,
    validate_quality_report,
)
from semroute.types import IndexInfo, ReloadResult, RouteDecision, RouteInfo, RouteRequest, StoreStats
from semroute.v1 import router_pb2 as pb

MAX_BATCH_REQUESTS = 256
REPORT_WAIT_SECONDS = 30.0  # how long a report without a deadline waits for its commit
_SERVICE = pb.DESCRIPTOR.services_by_name["RouterService"]


class RouterServicer:
    """Answers RouterService calls with the index in service, within the admission limits."""

    def __init__(
        self,
        live: LiveRouter,
        admission: Admission,
        watcher: ArtifactWatcher,
        reload_seconds: float,
        *,
        store: OutcomeStore | None = None,
        max_waiting_reports: int = 32,
        max_reports_per_caller: int = 8,
        cache: VectorCache | None = None,
        background: BackgroundPasses | None = None,
    ) -> None:
        """Serve whatever ``live`` holds at the time of each call.

        Args:
            live: The index in service.
            admission: Bounds and schedules the routing work.
            watcher: Runs reloads off the request threads and coalesces concurrent ones.
            reload_seconds: How long a ReloadIndex call waits for its reload.
            store: Where decisions and outcomes are recorded; None: nowhere (reports get FAILED_PRECONDITION).
            max_waiting_reports: Reports that may wait for their commit at once; more get RESOURCE_EXHAUSTED.
            max_reports_per_caller: Of those, the reports of one caller (connection); more get RESOURCE_EXHAUSTED.
            cache: Query vectors of texts seen before; None embeds every text.
            background: Runs the long lane's embedding passes; None runs them on the calls' threads.
        """
        self._live = live
        self._vectors = QueryVectors(admission, cache, background)
        self._watcher = watcher
        self._reload_seconds = reload_seconds
        self._store = store
        self._report_slots = ReportSlots(max_waiting_reports, max_reports_per_caller)

    def Route(self, request: pb.RouteRequest, context: grpc.ServicerContext) -> pb.RouteResponse:
        """Decide one task."""
        router = self._live.snapshot().router  # read once: a concurrent reload cannot mix two indexes
        task = wire.request_from_proto(request)
        validate_request(task)
        with self._vectors.one(router, task, context) as parts:
            decision = _issued(router.route_parts([parts], [task])[0])
        self._record([decision], [task], task_vectors([parts], router.embedder.identity.dim))
        return pb.RouteResponse(
            decision=wire.decision_to_proto(decision, current_request_id(), full_trace=request.full_trace)
        )

    def RouteBatch(self, request: pb.RouteBatchRequest, context: grpc.ServicerContext) -> pb.RouteBatchResponse:
        """Decide many tasks with one embedding pass."""
        router = self._live.snapshot().router
        count = len(request.requests)
        if not 1 <= count <= MAX_BATCH_REQUESTS:
            raise RequestError("requests", f"must hold between 1 and {MAX_BATCH_REQUESTS} requests, got {count}")
        tasks = [wire.request_from_proto(item) for item in request.requests]
        validate_batch(tasks)  # before admission: an invalid batch takes no place in the queue
        with self._vectors.many(router, tasks, context) as parts:
            decisions = [_issued(decision) for decision in router.route_parts(parts, tasks)]
        self._record(decisions, tasks, task_vectors(parts, router.embedder.identity.dim))
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
        """Load the artifact on disk now, on the reload thread; a refused artifact raises and the index stays."""
        if not is_admin_call():
            raise AdminOnlyError("ReloadIndex needs the admin token (serve --admin-token-file)")
        self._live.snapshot()  # not before the first load: the server is still starting
        try:
            outcome: LoadOutcome = self._watcher.reload_now().result(timeout=self._reload_seconds)
        except FutureTimeout:
            raise DeadlineExpiredError(f"the reload did not finish within {self._reload_seconds:.0f} s") from None
        result = ReloadResult(outcome.changed, outcome.previous_fingerprint, self._index_info(outcome.snapshot))
        return wire.reload_result_to_proto(result)

    def ReportOutcome(
        self, request: pb.ReportOutcomeRequest, context: grpc.ServicerContext
    ) -> pb.ReportOutcomeResponse:
        """Record how executing a decision went; answer once it is committed."""
        try:
            report = wire.outcome_report_from_proto(request)
        except ValueError as error:
            field, _, reason = str(error).partition(": ")
            raise RequestError(field, reason) from None
        validate_outcome_report(report)
        annotate(decision_id=report.decision_id, accepted=report.accepted, attempts=len(report.attempts))
        self._committed(lambda store: store.report_outcome(report), context)
        return pb.ReportOutcomeResponse()

    def ReportQuality(
        self, request: pb.ReportQualityRequest, context: grpc.ServicerContext
    ) -> pb.ReportQualityResponse:
        """Record a quality score given later; answer once it is committed."""
        report = wire.quality_report_from_proto(request)
        validate_quality_report(report)
        annotate(decision_id=report.decision_id, score=report.score)
        self._committed(lambda store: store.report_quality(report), context)
        return pb.ReportQualityResponse()

    def GetStats(self, request: pb.GetStatsRequest, context: grpc.ServicerContext) -> pb.GetStatsResponse:
        """The outcome store's counters."""
        stats = self._store.stats() if self._store is not None else StoreStats()
        return pb.GetStatsResponse(stats=wire.store_stats_to_proto(stats))

    def _record(self, decisions: Sequence[RouteDecision], tasks: Sequence[RouteRequest], vectors: Vectors) -> None:
        """Hand the decisions to the store's queue, each with its task's vector (row ``i``: ``tasks[i]``): never
        waits, never fails the call."""
        if self._store is None:
            return
        request_id, now = current_request_id(), utc_now()
        self._store.record_decisions(
            [
                PendingDecision(decision, task, vectors[position], request_id, now)
                for position, (decision, task) in enumerate(zip(decisions, tasks, strict=True))
            ]
        )

    def _committed(self, submit: Callable[[OutcomeStore], Future[None]], context: grpc.ServicerContext) -> None:
        """Submit a report to the store and wait for its commit, if a waiting slot of its caller is free."""
        if self._store is None:
            raise StoreError("this server runs without an outcome store (serve --no-store); nothing was recorded")
        with self._report_slots.hold(context.peer()):
            remaining = context.time_remaining()
            wait = REPORT_WAIT_SECONDS if remaining is None else min(remaining, REPORT_WAIT_SECONDS)
            try:
                submit(self._store).result(timeout=max(wait, 0.0))
            except FutureTimeout:
                raise DeadlineExpiredError("the report was not committed before the call's deadline") from None

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


def _issued(decision: RouteDecision) -> RouteDecision:
    """The decision with an id of its own, for the outcome its caller reports: random, so unique across replicas."""
    return replace(decision, decision_id=uuid.uuid4().hex)


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


def router_service_handler(servicer: RouterServicer) -> Any:
    """Every RouterService method of ``servicer``, taking raw bytes and parsing them itself."""
    handlers = {}
    for method in _SERVICE.methods:
        request_type: type[Message] = getattr(pb, method.input_type.name)
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _parsing(getattr(servicer, method.name), request_type),
            request_deserializer=None,  # bytes reach the method as they came
            response_serializer=_serialize,
        )
    return grpc.method_handlers_generic_handler(_SERVICE.full_name, handlers)


def _parsing(behaviour: Callable[[Any, grpc.ServicerContext], Message], request_type: type[Message]) -> Any:
    def parse_then_answer(raw: bytes, context: grpc.ServicerContext) -> Message:
        try:
            request = request_type.FromString(raw)
        except DecodeError as error:
            detail = str(error).rpartition(": ")[2] or "it cannot be parsed"  # upb: "Error parsing ...: <why>"
            raise MalformedRequestError(
                "request", f"not a valid {request_type.DESCRIPTOR.name} message ({detail})"
            ) from None
        return behaviour(request, context)

    return parse_then_answer


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
