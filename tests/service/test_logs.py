"""One structured line per request, without the task's text; JSON formatting of any record."""

from __future__ import annotations

import json
import logging
import uuid
from types import SimpleNamespace
from typing import cast

import grpc
import pytest

from semroute.client import RouterClient, ServiceError
from semroute.service import JsonFormatter
from semroute.service._interceptors import BearerTokenInterceptor, RequestInterceptor

SECRET_TASK = "write unit tests for the parser of project nightingale-7"


def _request_lines(caplog: pytest.LogCaptureFixture, request_id: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "semroute.service.requests"
        and record.getMessage() == "rpc"
        and getattr(record, "fields", {}).get("request_id") == request_id
    ]


def test_one_line_per_request_with_route_model_latency_and_code(
    client: RouterClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="semroute.service.requests")
    request_id = str(uuid.uuid4())

    decision = client.route(SECRET_TASK, request_id=request_id)

    (record,) = _request_lines(caplog, request_id)
    fields = record.fields
    assert fields["method"] == "Route"
    assert fields["route"] == decision.route
    assert fields["model"] == decision.model.name
    assert fields["code"] == "OK"
    assert fields["latency_ms"] >= 0
    assert "nightingale" not in JsonFormatter().format(record)


def test_failed_request_is_logged_with_its_code(client: RouterClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="semroute.service.requests")

    with pytest.raises(ServiceError):
        client.route(" ", request_id="bad-1")

    (record,) = _request_lines(caplog, "bad-1")
    assert record.fields["code"] == "INVALID_ARGUMENT"


def test_unusable_client_request_id_is_replaced(client: RouterClient) -> None:
    decision = client.route("write tests", request_id="spaces and {braces} " + "x" * 200)

    assert uuid.UUID(decision.request_id)


def test_json_formatter_writes_one_object_per_line() -> None:
    record = logging.LogRecord("semroute.service", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.fields = {"port": 50051}

    line = JsonFormatter().format(record)

    assert "\n" not in line
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "info",
        "logger": "semroute.service",
        "message": "hello world",
        "port": 50051,
    }


def test_interceptors_wrap_each_method_once_and_reuse_the_wrapper() -> None:
    def behaviour(request: object, context: object) -> None:
        return None

    handler = grpc.unary_unary_rpc_method_handler(behaviour)
    route, stats = "/semroute.v1.RouterService/Route", "/semroute.v1.RouterService/GetStats"

    def details(method: str, token: str = "t") -> grpc.HandlerCallDetails:
        metadata = (("authorization", f"Bearer {token}"),)
        return cast(grpc.HandlerCallDetails, SimpleNamespace(method=method, invocation_metadata=metadata))

    requests, tokens = RequestInterceptor(), BearerTokenInterceptor("t", "admin")
    first = requests.intercept_service(lambda _: handler, details(route))
    assert requests.intercept_service(lambda _: handler, details(route)) is first
    assert requests.intercept_service(lambda _: handler, details(stats)) is not first
    assert requests.intercept_service(lambda _: None, details(route)) is None  # an unknown method stays unknown

    ordinary = tokens.intercept_service(lambda _: first, details(route))
    assert tokens.intercept_service(lambda _: first, details(route)) is ordinary
    admin = tokens.intercept_service(lambda _: first, details(route, "admin"))
    assert admin is not ordinary and tokens.intercept_service(lambda _: first, details(route, "admin")) is admin
