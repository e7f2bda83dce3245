"""Server interceptors: request ids, error -> status mapping and the request log; bearer-token checks.

Only :class:`RequestInterceptor` turns exceptions into status codes (through :func:`status_for`), so the servicer
just raises semroute errors. Warnings that a caller can provoke at will (malformed messages, refused tokens) are
rate-limited, so that nobody who can connect can flood the log.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.message import Message

from semroute.service._errors import MalformedRequestError, status_for
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
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")  # fullmatch; anything else is replaced: it goes into logs
WARNINGS_PER_MINUTE = 30

_request_id: ContextVar[str] = ContextVar("semroute_request_id", default="")
_facts: ContextVar[dict[str, Any] | None] = ContextVar("semroute_call_facts", default=None)
_admin: ContextVar[bool] = ContextVar("semroute_admin_call", default=True)  # no tokens configured: open
request_log = logging.getLogger("semroute.service.requests")
logger = logging.getLogger("semroute.service")

Continuation = Callable[[grpc.HandlerCallDetails], "_Handler | None"]
_Behaviour = Callable[[Any, grpc.ServicerContext], Any]


def current_request_id() -> str:
    """The request id of the call this thread is answering (empty outside a call)."""
    return _request_id.get()


def annotate(**fields: Any) -> None:
    """Add facts (never task text) to the request log line of the call this thread is answering."""
    facts = _facts.get()
    if facts is not None:
        facts.update(fields)


def is_admin_call() -> bool:
    """Whether the call this thread answers may administer the server (True when the server requires no tokens)."""
    return _admin.get()


class RateLimitedWarnings:
    """At most ``per_minute`` warnings a minute; the next one written says how many were suppressed."""

    def __init__(self, log: logging.Logger, per_minute: int = WARNINGS_PER_MINUTE) -> None:
        """Write to ``log``."""
        self._log = log
        self._per_minute = per_minute
        self._lock = threading.Lock()
        self._window_start = 0.0
        self._written = 0
        self._suppressed = 0

    def warning(self, message: str, fields: dict[str, Any]) -> None:
        """Write the warning unless this minute's allowance is spent."""
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= 60.0:
                self._window_start, self._written = now, 0
            if self._written >= self._per_minute:
                self._suppressed += 1
                return
            self._written += 1
            suppressed, self._suppressed = self._suppressed, 0
        self._log.warning(message, extra={"fields": {**fields, **({"suppressed": suppressed} if suppressed else {})}})


class RequestInterceptor(_Interceptor):
    """For each RouterService call: pick a request id, map errors to status codes, log one line."""

    def __init__(self) -> None:
        """Wrap each method's handler on its first call, and reuse the wrapper for every later one."""
        self._wrapped: dict[str, tuple[_Handler, _Handler]] = {}  # method -> (handler, its wrapper)

    def intercept_service(self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails) -> Any:
        """Wrap the RouterService's unary methods; pass everything else (health, reflection) through."""
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or not method.startswith(SERVICE_PREFIX):
            return handler
        known = self._wrapped.get(method)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = grpc.unary_unary_rpc_method_handler(
            _observed(handler.unary_unary, method.removeprefix(SERVICE_PREFIX)),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        self._wrapped[method] = (handler, wrapped)  # a racing thread may wrap it too: either wrapper is right
        return wrapped


_malformed_warnings = RateLimitedWarnings(logger)


def _observed(behaviour: _Behaviour, method: str) -> _Behaviour:
    def observed(request: Any, context: grpc.ServicerContext) -> Any:
        request_id = _pick_request_id(context.invocation_metadata())
        token, facts = _request_id.set(request_id), _facts.set({})
        context.set_trailing_metadata(((REQUEST_ID_KEY, request_id),))
        if request_log.isEnabledFor(logging.DEBUG):
            request_log.debug("rpc started", extra={"fields": {"request_id": request_id, "method": method}})
        started = time.perf_counter()
        code: grpc.StatusCode | None = None  # None: answered; whether anybody read it is asked only to log it
        response: Any = None
        try:
            response = behaviour(request, context)
            return response
        except Exception as error:
            code, message = status_for(error)
            if code is grpc.StatusCode.INTERNAL:
                logger.exception("unexpected error", extra={"fields": {"request_id": request_id, "method": method}})
            elif isinstance(error, MalformedRequestError):
                fields = {"request_id": request_id, "method": method, "peer": context.peer(), "reason": message}
                _malformed_warnings.warning("malformed request refused", fields)
            context.abort(code, message)
        finally:
            noted = _facts.get() or {}
            _request_id.reset(token)
            _facts.reset(facts)
            if request_log.isEnabledFor(logging.INFO):  # the line's facts cost a little: gathered only to be logged
                summary = _summary(response) if code is None else {}
                fields = {"request_id": request_id, "method": method, **summary, **noted}
                answered = _outcome_of_answered(context) if code is None else code
                _log_request(fields, answered, time.perf_counter() - started, context.peer())

    return observed


def _outcome_of_answered(context: grpc.ServicerContext) -> grpc.StatusCode:
    """OK, unless the caller gave up before the answer was ready: then nobody read it, and the log must say so."""
    if context.is_active():
        return grpc.StatusCode.OK
    remaining = context.time_remaining()
    return grpc.StatusCode.DEADLINE_EXCEEDED if remaining is not None and remaining <= 0 else grpc.StatusCode.CANCELLED


def _log_request(fields: dict[str, Any], code: grpc.StatusCode, seconds: float, peer: str) -> None:
    latency_ms = round(seconds * 1000, 2)
    request_log.info("rpc", extra={"fields": {**fields, "latency_ms": latency_ms, "code": code.name, "peer": peer}})


def _pick_request_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and _CLIENT_REQUEST_ID.fullmatch(value):
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
    """Requires ``authorization: Bearer <token>`` on every call but health checks (probes carry no token).

    With an admin token configured, a call carrying it may also administer the server (ReloadIndex); a call with the
    ordinary token may not (PERMISSION_DENIED). Without one, nobody may: reloads then come only from the file watch
    and SIGHUP.
    """

    def __init__(self, token: str | None, admin_token: str | None = None) -> None:
        """Accept calls that carry ``token`` (any call when None) or ``admin_token``."""
        self._expected = f"Bearer {token}".encode() if token is not None else None
        self._admin = f"Bearer {admin_token}".encode() if admin_token is not None else None
        self._refusals = RateLimitedWarnings(logger)
        self._marked: dict[tuple[str, bool], tuple[_Handler, _Handler]] = {}  # (method, admin) -> (handler, marked)

    def intercept_service(self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails) -> Any:
        """Pass authorised calls and health checks on; answer every other call UNAUTHENTICATED."""
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(HEALTH_PREFIX):
            return handler
        supplied = next(
            (value for key, value in handler_call_details.invocation_metadata or () if key == "authorization"), ""
        )
        supplied_bytes = supplied.encode() if isinstance(supplied, str) else b""
        method = handler_call_details.method
        if _matches(supplied_bytes, self._admin):
            return self._as_admin(method, handler, admin=True)
        if self._expected is None or _matches(supplied_bytes, self._expected):
            return self._as_admin(method, handler, admin=False)
        if handler.request_streaming or handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(self._refusing(method))
        return grpc.unary_unary_rpc_method_handler(self._refusing(method))

    def _as_admin(self, method: str, handler: _Handler, *, admin: bool) -> _Handler:
        """:func:`_as_admin`, made once per method and kind of caller."""
        known = self._marked.get((method, admin))
        if known is not None and known[0] is handler:
            return known[1]
        marked = _as_admin(handler, admin=admin)
        self._marked[(method, admin)] = (handler, marked)
        return marked

    def _refusing(self, method: str) -> _Behaviour:
        def refuse(request: Any, context: grpc.ServicerContext) -> Any:
            self._refusals.warning("unauthenticated call refused", {"method": method, "peer": context.peer()})
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or invalid bearer token")

        return refuse


def _matches(supplied: bytes, expected: bytes | None) -> bool:
    # Constant-time comparison: the time taken must not tell how much of a guess was right.
    return expected is not None and hmac.compare_digest(supplied, expected)


def _as_admin(handler: _Handler, *, admin: bool) -> _Handler:
    """``handler`` with its calls marked as administrative or not (read by :func:`is_admin_call`)."""
    if handler.unary_unary is None:
        return handler  # the health and reflection streams administer nothing
    behaviour = handler.unary_unary

    def marked(request: Any, context: grpc.ServicerContext) -> Any:
        token = _admin.set(admin)
        try:
            return behaviour(request, context)
        finally:
            _admin.reset(token)

    return grpc.unary_unary_rpc_method_handler(
        marked, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )
