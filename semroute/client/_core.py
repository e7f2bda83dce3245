"""What the blocking and the asyncio client share: settings, the channel's configuration, and every call built as a
plain :class:`Call` (method, request message, deadline, metadata, how to read the answer).

The two faces (:mod:`._sync`, :mod:`._async`) differ only where I/O differs: how the channel is opened, how a call
is sent and how the channel is closed (the shape of httpx's ``BaseClient``). What happens when a call fails, and
whether it is sent again, is decided here for both (:class:`Attempts`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypedDict, TypeVar

import grpc
from google.protobuf.message import Message

from semroute import wire
from semroute.client._channel import (
    DEFAULT_DEADLINES,
    DEFAULT_TARGET,
    ClientTls,
    Deadlines,
    channel_credentials,
    channel_options,
    channel_target,
)
from semroute.client._errors import ServiceError
from semroute.types import (
    Attempt,
    ChatMessage,
    IndexInfo,
    OutcomeReport,
    QualityReport,
    ReloadResult,
    RemoteDecision,
    RouteInfo,
    RouteRequest,
    ServingStatus,
    StoreStats,
)
from semroute.v1 import router_pb2 as pb
from semroute.v1 import router_pb2_grpc

if TYPE_CHECKING:
    from semroute.execution.reporting import ReportCounters

Result = TypeVar("Result")
logger = logging.getLogger("semroute.client")

# The pause before the client's own retry: time for the channel to see the broken connection and take its backend out
# of round_robin. Sent at once, a retry can land on the same dead connection ("Stream removed (sendmsg: Broken pipe)",
# seen in tests/client/test_failover.py).
RETRY_DELAY_SECONDS = 0.1
# What a retry needs left after its pause: with less it could only turn the UNAVAILABLE that says what went wrong into
# a DEADLINE_EXCEEDED that does not.
MIN_RETRY_SECONDS = 0.05


class CallOptions(TypedDict, total=False):
    """Options every call takes.

    Attributes:
        timeout: Deadline in seconds, positive; None for the client's default for this kind of call
            (:class:`Deadlines`).
        request_id: Sent as ``x-request-id`` to tie the server's log line to your own; None lets the server pick
            one (a decision carries it in ``request_id``; a failed call in :attr:`ServiceError.request_id`).
    """

    timeout: float | None
    request_id: str | None


class BatchOptions(CallOptions, total=False):
    """Options of a batch of routing calls.

    Attributes:
        full_trace: Also return each decision's reasoning in ``trace``.
    """

    full_trace: bool


class RouteOptions(BatchOptions, total=False):
    """Options of one routing call.

    Attributes:
        metadata: Facts the override rules may test, e.g. ``{"data_sensitivity": "restricted"}``.
        input_tokens: Your own count of the task's input tokens (replaces the server's estimate).
        top_k: Nearest utterances to consider (1-200); None for the index's setting.
        messages: The conversation the provider will receive, as :class:`~semroute.types.ChatMessage` turns
            (:func:`semroute.client.chat_turns` makes them from OpenAI-format messages): the override rules read every
            turn. ``text`` may then be empty: the last user turn's text is routed on.
    """

    metadata: Mapping[str, str] | None
    input_tokens: int | None
    top_k: int | None
    messages: Sequence[ChatMessage] | None


class ReportOptions(CallOptions, total=False):
    """Options of a quality report.

    Attributes:
        labels: Free-form labels, e.g. ``{"reviewer": "qa"}`` (at most 32; keys as metadata keys).
    """

    labels: Mapping[str, str] | None


class OutcomeOptions(ReportOptions, total=False):
    """Options of an outcome report.

    Attributes:
        quality_score: 1 (bad) to 5 (excellent); None when nobody judged the output.
    """

    quality_score: int | None


@dataclass(frozen=True)
class Call(Generic[Result]):
    """One unary call, ready to send on either face."""

    stub: Literal["router", "health"]
    method: str  # the stub's attribute, e.g. "Route"
    request: Message
    timeout: float
    metadata: tuple[tuple[str, str], ...] | None
    read: Callable[[Any], Result]  # the response message -> the value the caller gets
    idempotent: bool = False  # sending it twice does no harm, so it may be retried: see :func:`may_retry`


def may_retry(idempotent: bool, code: grpc.StatusCode, retries_left: int, seconds_left: float) -> bool:
    """Whether a call that failed with ``code``, ``seconds_left`` before its deadline, is sent once more.

    The channel's retry policy (``SERVICE_CONFIG``) resends UNAVAILABLE too, but its throttle stops it when failures
    outrun successes (ten tokens, one spent per failure, a tenth earned back per success, no retry below half), and a
    backend killed while answering five calls fails all five at once: ``GRPC_TRACE=retry`` logs "retries throttled"
    and the call fails with "Stream removed". This retry is the client's own, not throttled but once per call: only
    for idempotent calls (Route, RouteBatch read the index and change nothing), only after UNAVAILABLE (every other
    code is an answer to pass on), and only if the retry still has :data:`MIN_RETRY_SECONDS` after its pause.
    """
    return (
        idempotent
        and code is grpc.StatusCode.UNAVAILABLE
        and retries_left > 0
        and seconds_left >= RETRY_DELAY_SECONDS + MIN_RETRY_SECONDS
    )


class Attempts:
    """The attempts at one call, all within the deadline set when the first starts: what both faces' ``_send`` run.

    The blocking face; the asyncio one awaits the method and ``asyncio.sleep``::

        attempts = Attempts(call)
        while True:
            try:
                return call.read(method(call.request, timeout=attempts.timeout, metadata=call.metadata))
            except grpc.RpcError as error:
                time.sleep(attempts.failed(error))
    """

    RETRIES = 1

    def __init__(self, call: Call[Any], clock: Callable[[], float] = time.monotonic) -> None:
        """Start the clock: every attempt must end within ``call.timeout`` seconds from now."""
        self._call = call
        self._clock = clock
        self._deadline = clock() + call.timeout
        self._retries_left = self.RETRIES

    @property
    def timeout(self) -> float:
        """Seconds the next attempt may take: what is left of the call's deadline."""
        return self._deadline - self._clock()

    def failed(self, error: grpc.RpcError) -> float:
        """Record a failed attempt; if the call is to be sent again, return how long to wait first (seconds).

        Raises:
            ServiceError: the call is not sent again; the error of this attempt.
        """
        failure = ServiceError.from_rpc_error(error)
        seconds_left = self.timeout
        if not may_retry(self._call.idempotent, failure.code, self._retries_left, seconds_left):
            raise failure from error
        self._retries_left -= 1
        logger.debug(
            "retrying", extra={"fields": {"method": self._call.method, "error": str(failure), "seconds": seconds_left}}
        )
        return RETRY_DELAY_SECONDS


def names_several_backends(address: str) -> bool:
    """Whether a gRPC target lists several addresses (``ipv4:a:1,b:2``), rather than one name or address."""
    return "," in address


class ClientCore:
    """Settings and call building shared by :class:`~semroute.client.RouterClient` and
    :class:`~semroute.client.AsyncRouterClient`."""

    def __init__(
        self,
        target: str | Sequence[str] = DEFAULT_TARGET,
        *,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        tls: ClientTls | None = None,
        token: str | None = None,
        health_checked: bool | None = None,
    ) -> None:
        """Open a channel (connections are made lazily, on the first call).

        Args:
            target: ``host:port``, any gRPC target, or several ``ip:port`` addresses to balance over.
            deadlines: Default deadline of each kind of call.
            tls: Use TLS; None for plaintext.
            token: Bearer token sent with every call (needs ``tls``); the whitespace around it (a token file's
                last newline) is stripped.
            health_checked: Send calls only to backends whose health is SERVING, so that a starting or draining
                one gets none. None (the default) checks when the target names several addresses; one address
                (a load balancer, a Kubernetes Service) is left to whatever balances behind it, since a client that
                health-checked its only backend would fail every call while that backend drains.

        Raises:
            ValueError: an unusable target, a token without TLS, or one with whitespace or a line break inside it.
        """
        self._credentials = channel_credentials(tls, token)
        self._address = channel_target(target)
        self._tls = tls
        self._deadlines = deadlines
        checked = names_several_backends(self._address) if health_checked is None else health_checked
        self._channel = self._open_channel(channel_options(tls, health_checked=checked))
        self._health_channel: Any = None
        self._reporter: Any = None  # sends complete()'s outcome reports in the background; made on first use
        self._reporter_lock = threading.Lock()
        self._stubs: dict[str, Any] = {"router": router_pb2_grpc.RouterServiceStub(self._channel)}
        self._closed = False  # set by close(); the asyncio client warns when collected unclosed

    def _open_channel(self, options: list[tuple[str, str | int]]) -> Any:
        raise NotImplementedError  # each face opens its own kind of channel

    def _channels(self) -> list[Any]:
        """The channels to close: the routing one, and the health one if a health check opened it."""
        return [channel for channel in (self._channel, self._health_channel) if channel is not None]

    @property
    def report_counters(self) -> ReportCounters:
        """What happened to the outcome reports of this client's completions: sent, dropped (queue full), failed."""
        from semroute.execution.reporting import ReportCounters

        return self._reporter.counters if self._reporter is not None else ReportCounters()

    def _stub(self, name: Literal["router", "health"]) -> Any:
        if name not in self._stubs:
            # the health stub is made on the first health check: its modules are an eighth of the client's import
            from grpc_health.v1 import health_pb2_grpc

            # Its own channel, without health checking: the routing channel does not dial a backend that says
            # NOT_SERVING, so a check through it could never hear that answer.
            self._health_channel = self._open_channel(channel_options(self._tls, health_checked=False))
            self._stubs[name] = health_pb2_grpc.HealthStub(self._health_channel)
        return self._stubs[name]

    def _route_call(self, text: str, options: RouteOptions) -> Call[RemoteDecision]:
        check_options("route", options, RouteOptions)
        given = RouteRequest(
            text,
            options.get("metadata") or {},
            options.get("input_tokens"),
            options.get("top_k"),
            _chat_messages("messages", options.get("messages")),
        )
        request = _route_request(given)
        message = wire.request_to_proto(request, full_trace=bool(options.get("full_trace", False)))
        return self._call("Route", message, self._deadlines.call, options, _read_decision, idempotent=True)

    def _batch_call(self, tasks: Sequence[str | RouteRequest], options: BatchOptions) -> Call[list[RemoteDecision]]:
        check_options("route_batch", options, BatchOptions)
        message = wire.batch_request_to_proto(_batch_tasks(tasks), full_trace=bool(options.get("full_trace", False)))
        return self._call("RouteBatch", message, self._deadlines.batch, options, _read_decisions, idempotent=True)

    def _list_routes_call(self, options: CallOptions) -> Call[list[RouteInfo]]:
        check_options("list_routes", options, CallOptions)
        return self._call("ListRoutes", pb.ListRoutesRequest(), self._deadlines.call, options, _read_routes)

    def _index_info_call(self, options: CallOptions) -> Call[IndexInfo]:
        check_options("index_info", options, CallOptions)
        return self._call("GetIndexInfo", pb.GetIndexInfoRequest(), self._deadlines.call, options, _read_index)

    def _reload_call(self, options: CallOptions) -> Call[ReloadResult]:
        check_options("reload_index", options, CallOptions)
        request = pb.ReloadIndexRequest()
        return self._call("ReloadIndex", request, self._deadlines.reload, options, wire.reload_result_from_proto)

    def _report_outcome_call(
        self, decision_id: str, attempts: Sequence[Attempt], accepted: bool, options: OutcomeOptions
    ) -> Call[None]:
        check_options("report_outcome", options, OutcomeOptions)
        labels = text_map("labels", options.get("labels"))
        report = OutcomeReport(decision_id, _attempts(attempts), accepted, options.get("quality_score"), labels)
        message = wire.outcome_report_to_proto(report)
        # replaces any earlier report of the decision: sending it twice does no harm
        return self._call("ReportOutcome", message, self._deadlines.call, options, _read_nothing, idempotent=True)

    def _report_quality_call(self, decision_id: str, score: int, options: ReportOptions) -> Call[None]:
        check_options("report_quality", options, ReportOptions)
        report = QualityReport(decision_id, score, text_map("labels", options.get("labels")))
        message = wire.quality_report_to_proto(report)
        return self._call("ReportQuality", message, self._deadlines.call, options, _read_nothing, idempotent=True)

    def _stats_call(self, options: CallOptions) -> Call[StoreStats]:
        check_options("stats", options, CallOptions)
        return self._call("GetStats", pb.GetStatsRequest(), self._deadlines.call, options, _read_stats)

    def _health_call(self, service: str, options: CallOptions) -> Call[ServingStatus]:
        from grpc_health.v1 import health_pb2

        check_options("health", options, CallOptions)
        request = health_pb2.HealthCheckRequest(service=service)
        return self._call("Check", request, self._deadlines.health, options, wire.serving_status_from_proto, "health")

    @staticmethod
    def _call(
        method: str,
        request: Message,
        deadline: float,
        options: CallOptions,
        read: Callable[[Any], Result],
        stub: Literal["router", "health"] = "router",
        *,
        idempotent: bool = False,
    ) -> Call[Result]:
        request_id = _request_id(options.get("request_id"))
        metadata = ((wire.REQUEST_ID_KEY, request_id),) if request_id else None
        return Call(stub, method, request, _seconds(options.get("timeout"), deadline), metadata, read, idempotent)


def check_options(call: str, options: Mapping[str, object], known: Any) -> None:
    """Refuse keyword options that ``known`` (a TypedDict of options) does not have: a misspelt option would
    otherwise be ignored without a word (``meta=`` for ``metadata=`` skips the rules that read the metadata).

    Raises:
        TypeError: naming each unknown option, a close known one if any, and every known one.
    """
    allowed: frozenset[str] = known.__optional_keys__ | known.__required_keys__
    unknown = [name for name in options if name not in allowed]
    if not unknown:
        return
    from difflib import get_close_matches  # only on the way to an error

    named = []
    for name in unknown:
        close = get_close_matches(name, sorted(allowed), n=1)
        named.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    options_named = "option" if len(unknown) == 1 else "options"
    raise TypeError(
        f"{call}() got an unknown {options_named} {', '.join(named)}; it takes {', '.join(sorted(allowed))}"
    )


def text_map(field: str, value: object) -> Mapping[str, str]:
    """``value`` (metadata, labels) checked to map strings to strings; None is empty.

    Raises:
        TypeError: naming the field, and the key whose value is not a string.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{field}: must be a mapping of strings to strings, not {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(f"{field}: keys must be strings, not {type(key).__name__} ({key!r})")
        if not isinstance(item, str):
            raise TypeError(f"{field}[{key!r}]: must be a string, not {type(item).__name__} ({item!r})")
    return value


def _whole_or_none(field: str, value: object) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{field}: must be a whole number or None, not {type(value).__name__}")
    return value


def _route_request(task: RouteRequest, where: str = "") -> RouteRequest:
    """``task`` with each field checked; ``where`` prefixes the field's name in an error (``tasks[3].``)."""
    if not isinstance(task.text, str):
        raise TypeError(f"{where}text: must be a string, not {type(task.text).__name__}")
    return RouteRequest(
        task.text,
        text_map(f"{where}metadata", task.metadata),
        _whole_or_none(f"{where}input_tokens", task.input_tokens),
        _whole_or_none(f"{where}top_k", task.top_k),
        _chat_messages(f"{where}messages", task.messages),
    )


def _chat_messages(field: str, value: object) -> tuple[ChatMessage, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise TypeError(f"{field}: must be a list of ChatMessage, not {type(value).__name__}")
    turns = tuple(value)
    for position, turn in enumerate(turns):
        if not isinstance(turn, ChatMessage):
            hint = " (semroute.client.chat_turns converts OpenAI-format messages)" if isinstance(turn, Mapping) else ""
            raise TypeError(f"{field}[{position}]: must be a ChatMessage, not {type(turn).__name__}{hint}")
        if not isinstance(turn.role, str) or not isinstance(turn.text, str):
            raise TypeError(f"{field}[{position}]: role and text must be strings")
    return turns


def _batch_tasks(tasks: object) -> list[str | RouteRequest]:
    if isinstance(tasks, str | bytes | Mapping | RouteRequest) or not isinstance(tasks, Iterable):
        one = " one" if isinstance(tasks, str | RouteRequest) else ""
        hint = " (route() takes one task)" if one else ""
        raise TypeError(f"tasks: must be a list of texts or RouteRequests, not{one} {type(tasks).__name__}{hint}")
    checked: list[str | RouteRequest] = []
    for position, task in enumerate(tasks):
        if isinstance(task, RouteRequest):
            checked.append(_route_request(task, f"tasks[{position}]."))
        elif isinstance(task, str):
            checked.append(task)
        else:
            raise TypeError(f"tasks[{position}]: must be a text or a RouteRequest, not {type(task).__name__}")
    return checked


def _attempts(attempts: object) -> tuple[Attempt, ...]:
    if isinstance(attempts, Attempt | str | bytes | Mapping) or not isinstance(attempts, Iterable):
        raise TypeError(f"attempts: must be a list of Attempts, not {type(attempts).__name__}")
    checked = tuple(attempts)
    for position, attempt in enumerate(checked):
        if not isinstance(attempt, Attempt):
            raise TypeError(f"attempts[{position}]: must be a semroute.client.Attempt, not {type(attempt).__name__}")
    return checked


def _seconds(timeout: object, default: float) -> float:
    """A call's ``timeout`` option: None is the default; anything else a positive, finite number of seconds."""
    if timeout is None:
        return default
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout: must be a number of seconds or None, not {type(timeout).__name__}")
    if not 0 < timeout < math.inf:  # also refuses NaN
        raise ValueError(
            f"timeout: must be a positive, finite number of seconds (None for the default, {default:g} s), "
            f"not {timeout!r}"
        )
    return float(timeout)


def _request_id(request_id: object) -> str | None:
    if request_id is None:
        return None
    if not isinstance(request_id, str):
        raise TypeError(f"request_id: must be a string or None, not {type(request_id).__name__}")
    if not all(" " <= character <= "~" for character in request_id):  # what gRPC can send as a metadata value
        raise ValueError("request_id: must be printable ASCII, without line breaks or other control characters")
    return request_id


def _read_decision(response: pb.RouteResponse) -> RemoteDecision:
    return wire.decision_from_proto(response.decision)


def _read_decisions(response: pb.RouteBatchResponse) -> list[RemoteDecision]:
    return [wire.decision_from_proto(decision) for decision in response.decisions]


def _read_routes(response: pb.ListRoutesResponse) -> list[RouteInfo]:
    return [wire.route_info_from_proto(route) for route in response.routes]


def _read_index(response: pb.GetIndexInfoResponse) -> IndexInfo:
    return wire.index_info_from_proto(response.index)


def _read_nothing(response: Message) -> None:
    return None


def _read_stats(response: pb.GetStatsResponse) -> StoreStats:
    return wire.store_stats_from_proto(response.stats)
