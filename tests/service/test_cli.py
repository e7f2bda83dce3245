"""The CLI's gRPC parts: ``route --target`` asks a running server; ``serve`` exposes its settings."""

from __future__ import annotations

import json

from click.testing import CliRunner

from semroute.cli import main


def test_route_with_target_asks_the_server(target: str) -> None:
    result = CliRunner().invoke(main, ["route", "--target", target, "write unit tests for the parser"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("route       test_generation")
    assert "why" in result.output  # the trace is asked for


def test_route_with_target_prints_json_with_the_request_id(target: str) -> None:
    result = CliRunner().invoke(main, ["route", "--target", target, "--json", "--meta", "team=qa", "write tests"])

    decision = json.loads(result.output)
    assert decision["route"] == "test_generation"
    assert decision["request_id"]


def test_route_with_target_reports_bad_input_with_exit_code_2(target: str) -> None:
    result = CliRunner().invoke(main, ["route", "--target", target, "   "])

    assert result.exit_code == 2
    assert "INVALID_ARGUMENT: text:" in result.output


def test_route_rejects_target_with_index(target: str) -> None:
    result = CliRunner().invoke(main, ["route", "--target", target, "--index", "x.zip", "write tests"])

    assert result.exit_code == 2
    assert "exclude each other" in result.output


def test_serve_help_lists_its_settings() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])

    assert result.exit_code == 0
    for option in ("--port", "--host", "--index", "--max-concurrent-rpcs", "--reflection", "--drain-seconds"):
        assert option in result.output
