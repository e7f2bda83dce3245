"""Requests the clients send, built from plain values."""

from __future__ import annotations

from collections.abc import Sequence

from semroute.router import RouteRequest
from semroute.v1 import router_pb2 as pb
from semroute.wire import request_to_proto


def batch_request(tasks: Sequence[str | RouteRequest], full_trace: bool) -> pb.RouteBatchRequest:
    """The ``RouteBatchRequest`` message of several tasks (plain strings are tasks without options)."""
    requests = [RouteRequest(task) if isinstance(task, str) else task for task in tasks]
    return pb.RouteBatchRequest(requests=[request_to_proto(task, full_trace=full_trace) for task in requests])
