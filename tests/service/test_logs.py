"""One structured line per request, without the task's text; JSON formatting of any record."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from semroute.client import RouterClient, ServiceError
from semroute.service import JsonFormatter

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
