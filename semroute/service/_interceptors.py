"""Server interceptors: request ids, error -> status mapping and the request log; bearer-token checks.

Only :class:`RequestInterceptor` turns exceptions into status codes (through :func:`status_for`), so the servicer
just raises semroute errors.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message

from semroute.service._errors import status_for
from semroute.v1 import router_pb2 as pb
from semroute.wire import REQUEST_ID_KEY, SERVICE_NAME

if TYPE_CHECKING:
    _Interceptor = grpc.ServerInterceptor[Any, Any]
    _Handler = grpc.RpcMethodHandler[Any, Any]
else:  # grpc's runtime classes are not generic
    _Interceptor = grpc.ServerInterceptor
    _Handler = grpc.RpcMethodHandler

SERVICE_PREFIX = f"/{SERVICE_NAME}/"
HEALTH_PREFIX = "/grpc.health.v1.Health/"
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")  # anything else is replaced: it goes into our logs

_request_id: ContextVar[str] = ContextVar("semroute_request_id", default="")
request_log = logging.getLogger("semroute.service.requests")
logger = logging.getLogger("semroute.service")

Continuation = Callable[[grpc.HandlerCallDetails], "_Handler | None"]
_Behaviour = Callable[[Any, grpc.ServicerContext], Any]


def current_request_id() -> str:
    """The request id of the call this thread is answering (empty outside a call)."""
    return _request_id.get()


class RequestInterceptor(_Interceptor):
    """For each RouterService call: pick a request id, map errors to status codes, log one line."""

    def intercept_service(self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails) -> Any:
        """Wrap the RouterService's unary methods; pass everything else (health, reflection) through."""
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or not method.startswith(SERVICE_PREFIX):
            return handler
        return grpc.unary_unary_rpc_method_handler(
            _observed(handler.unary_unary, method.removeprefix(SERVICE_PREFIX)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _observed(behaviour: _Behaviour, method: str) -> _Behaviour:
    def observed(request: Any, context: grpc.ServicerContext) -> Any:
        request_id = _pick_request_id(context.invocation_metadata())
        token = _request_id.set(request_id)
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        request_log.debug("rpc started", extra={"fields": {"request_id": request_id, "method": method}})
        started = time.perf_counter()
        code, summary = grpc.StatusCode.OK, {}
        try:
            response = behaviour(request, context)
            summary = _summary(response)
            return response
        except Exception as error:
            code, message = status_for(error)
            if code is grpc.StatusCode.INTERNAL:
                logger.exception("unexpected error", extra={"fields": {"request_id": request_id, "method": method}})
            context.abort(code, message)
        finally:
            _request_id.reset(token)
            fields = {"request_id": request_id, "method": method, **summary}
            _log_request(fields, code, time.perf_counter() - started, context.peer())

    return observed


def _log_request(fields: dict[str, Any], code: grpc.StatusCode, seconds: float, peer: str) -> None:
    latency_ms = round(seconds * 1000, 2)
    request_log.info("rpc", extra={"fields": {**fields, "latency_ms": latency_ms, "code": code.name, "peer": peer}})


def _pick_request_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _CLIENT_REQUEST_ID.match(value):
            return value
    return str(uuid.uuid4())


def _summary(response: Message) -> dict[str, Any]:
    """What the request log records about an answer: never the task text."""
    if isinstance(response, pb.RouteResponse):
        return {"route": response.decision.route, "model": response.decision.model.name}
    if isinstance(response, pb.RouteBatchResponse):
        return {
            "tasks": len(response.decisions),
            "routes": [decision.route for decision in response.decisions],
            "models": [decision.model.name for decision in response.decisions],
        }
    if isinstance(response, pb.ReloadIndexResponse):
        return {"changed": response.changed, "fingerprint": response.index.fingerprint}
    return {}


class BearerTokenInterceptor(_Interceptor):
    """Requires ``authorization: Bearer <token>`` on every call but health checks (probes carry no token)."""

    def __init__(self, token: str) -> None:
        """Accept calls that carry ``token``."""
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails) -> Any:
        """Pass authorised calls and health checks on; answer every other call UNAUTHENTICATED."""
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(HEALTH_PREFIX):
            return handler
        supplied = next(
            (value for key, value in handler_call_details.invocation_metadata or () if key == "authorization"), ""
        )
        # Constant-time comparison: the time taken must not tell how much of a guess was right.
        if isinstance(supplied, str) and hmac.compare_digest(supplied.encode(), self._expected):
            return handler
        logger.warning("unauthenticated call refused", extra={"fields": {"method": handler_call_details.method}})
        if handler.request_streaming or handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(_refuse)
        return grpc.unary_unary_rpc_method_handler(_refuse)


def _refuse(request: Any, context: grpc.ServicerContext) -> Any:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")
