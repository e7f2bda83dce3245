"""The command line through click's runner, on a small real index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from semroute.cli import main
from tests.helpers import simple_routes, write_routes


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("cli")
    routes = simple_routes()
    routes["private"] = {"name": "private", "model": "small", "override_only": True}
    router = {
        "settings": {"default_route": "general", "score_threshold": 0.3, "embedding": {"path": str(model_dir)}},
        "models": {
            "big": {"litellm": "anthropic/claude-opus-4-6", "tier": "frontier"},
            "small": {
                "litellm": "x/local",
                "tier": "self_hosted",
                "input_cost_per_mtok": 0,
                "output_cost_per_mtok": 0,
                "context_window": 32000,
            },
        },
        "rules": [
            {
                "name": "secret",
                "when": {"metadata": {"data_sensitivity": {"equals": "restricted"}}},
                "then": {"route": "private"},
                "final": True,
            }
        ],
    }
    routes_dir = write_routes(folder / "routes", routes, router)
    index = folder / "index.zip"
    result = CliRunner().invoke(main, ["index", "--routes", str(routes_dir), "--out", str(index)])
    assert result.exit_code == 0, result.output
    assert "4 embedded, 0 reused" in result.output
    return routes_dir, index


def test_second_index_does_nothing(built: tuple[Path, Path]) -> None:
    routes_dir, index = built
    result = CliRunner().invoke(main, ["index", "--routes", str(routes_dir), "--out", str(index)])
    assert result.exit_code == 0
    assert "up to date; nothing to do" in result.output


def test_route_json(built: tuple[Path, Path]) -> None:
    _, index = built
    result = CliRunner().invoke(main, ["route", "summarize this blog post", "--json", "--index", str(index)])
    assert result.exit_code == 0, result.output
    decision = json.loads(result.output)
    assert {"route", "model", "fallbacks", "config", "ambiguous", "margin", "candidates", "rules"} <= decision.keys()
    assert decision["route"] == "summary"
    assert decision["model"]["litellm"] == "x/local"
    assert decision["candidates"][0]["route"] == "summary"


def test_route_meta_fires_a_rule_and_human_output_explains(built: tuple[Path, Path]) -> None:
    _, index = built
    args = ["route", "summarize this blog post", "--meta", "data_sensitivity=restricted", "--index", str(index)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "route       private" in result.output
    assert "rule secret fired" in result.output


def test_check_reports_problems_with_exit_code_2(tmp_path: Path) -> None:
    routes = simple_routes()
    routes["summary"]["model"] = "gpt-9"
    result = CliRunner().invoke(main, ["check", "--routes", str(write_routes(tmp_path, routes))])
    assert result.exit_code == 2
    assert "summary.yaml, route 'summary', field 'model': unknown model 'gpt-9'" in result.output


def test_bad_input_is_a_clear_error(built: tuple[Path, Path], tmp_path: Path) -> None:
    _, index = built
    empty = CliRunner().invoke(main, ["route", "   ", "--index", str(index)])
    assert (empty.exit_code, "text: must not be empty" in empty.output) == (2, True)
    bad_meta = CliRunner().invoke(main, ["route", "hi", "--meta", "novalue", "--index", str(index)])
    assert bad_meta.exit_code == 2 and "is not KEY=VALUE" in bad_meta.output
    missing = CliRunner().invoke(main, ["route", "hi", "--index", str(tmp_path / "none.zip")])
    assert missing.exit_code == 4 and "make index" in missing.output
