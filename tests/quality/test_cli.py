"""eval and fit through click's runner on small real indexes; fit never reads a test split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.quality import datasets
from semroute.route_files import load_route_set
from tests.helpers import ROUTER_YAML, simple_routes, write_routes

DATA = Path(__file__).resolve().parent.parent / "data"
CLINC_LIKE = {
    "val": [["give me the gist of this report", "summary"], ["summarise the meeting notes", "summary"]]
    + [["draft a note to my landlord", "general"], ["name ideas for a puppy", "general"]],
    "oos_val": [["what's the capital of peru", "oos"], ["reset my router", "oos"]],
    "test": [["tl;dr of this thread", "summary"]],
}


class TestSplitIsGuarded(dict):  # type: ignore[type-arg]
    """A CLINC-layout mapping whose test split fails the test if anything reads it."""

    __test__ = False

    def __getitem__(self, key: str) -> Any:
        if "test" in key:
            raise AssertionError(f"split {key!r} was read")
        return super().__getitem__(key)

    def values(self) -> Any:
        raise AssertionError("every split was read")

    def items(self) -> Any:
        raise AssertionError("every split was read")


@pytest.fixture
def small(tmp_path: Path, model_dir: Path) -> tuple[Path, Path]:
    router = {**ROUTER_YAML, "settings": {**ROUTER_YAML["settings"], "embedding": {"path": str(model_dir)}}}
    routes_dir = write_routes(tmp_path / "routes", simple_routes(), router)
    index = tmp_path / "index.zip"
    result = CliRunner().invoke(main, ["index", "--routes", str(routes_dir), "--out", str(index)])
    assert result.exit_code == 0, result.output
    return routes_dir, index


def test_eval_json_on_the_default_routes(default_index_path: Path, tmp_path: Path) -> None:
    args = ["eval", "--data", str(DATA / "default_routes_test.jsonl"), "--index", str(default_index_path)]
    result = CliRunner().invoke(main, [*args, "--json", "--plots", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert {"accuracy", "in_scope_accuracy", "oos_recall", "per_route", "overrides", "curve"} <= set(report)
    assert report["in_scope_accuracy"] >= 0.9 and report["oos_recall"] == 1.0
    assert {Path(p).name for p in report["plots"]} == {"confusion.png", "tradeoff.png"}


def test_eval_summary_reads_like_a_report(default_index_path: Path) -> None:
    args = ["eval", "--data", str(DATA / "default_routes_test.jsonl"), "--index", str(default_index_path)]
    result = CliRunner().invoke(main, [*args, "--no-plots", "--limit", "20"])
    assert result.exit_code == 0, result.output
    assert "in-scope accuracy" in result.output and "per route" in result.output


def test_fit_writes_fitted_yaml_without_touching_the_test_split(
    small: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes_dir, index = small
    data = tmp_path / "clinc_like.json"
    data.write_text(json.dumps(CLINC_LIKE))
    monkeypatch.setattr(datasets, "_read_json", lambda path: TestSplitIsGuarded(CLINC_LIKE))
    args = ["fit", "--data", str(data), "--split", "val+oos_val", "--routes", str(routes_dir), "--index", str(index)]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    fitted = load_route_set(routes_dir).fitted
    assert fitted is not None and fitted.score_threshold is not None
    assert "val+oos_val (6 items, 2 out of scope)" in fitted.fitted_on
    assert json.loads(result.stdout.strip().splitlines()[-1])["written"].endswith("fitted.yaml")


@pytest.mark.parametrize("split", ["test", "val+oos_test"])
def test_fit_refuses_a_test_split(small: tuple[Path, Path], tmp_path: Path, split: str) -> None:
    routes_dir, index = small
    data = tmp_path / "d.json"
    data.write_text(json.dumps(CLINC_LIKE))
    args = ["fit", "--data", str(data), "--split", split, "--routes", str(routes_dir), "--index", str(index)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "fit never reads a test split" in result.output
    assert not (routes_dir / "fitted.yaml").exists()


def test_fit_refuses_a_test_file(small: tuple[Path, Path]) -> None:
    routes_dir, index = small
    args = [
        "fit",
        "--data",
        str(DATA / "default_routes_test.jsonl"),
        "--routes",
        str(routes_dir),
        "--index",
        str(index),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "fit never reads a test split" in result.output


def test_fit_refuses_an_index_of_other_routes(small: tuple[Path, Path], tmp_path: Path) -> None:
    _, index = small
    other = write_routes(tmp_path / "other", {"general": simple_routes()["general"]})
    args = ["fit", "--data", str(DATA / "default_routes_val.jsonl"), "--routes", str(other), "--index", str(index)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 4 and "was not built from the routes" in result.output


def test_routes_from_dataset_then_index(tmp_path: Path, model_dir: Path) -> None:
    data = tmp_path / "train.jsonl"
    rows = [("book a table for two", "restaurant"), ("reserve dinner at eight", "restaurant")]
    rows += [("what's my balance", "balance"), ("how much money do I have", "balance"), ("how tall is everest", "oos")]
    data.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows))
    out = tmp_path / "routes"
    args = ["routes-from-dataset", "--data", str(data), "--out", str(out), "--embedding-path", str(model_dir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "3 routes, 5 utterances (1 on the default route" in result.output
    result = CliRunner().invoke(main, ["index", "--routes", str(out), "--out", str(tmp_path / "i.zip")])
    assert result.exit_code == 0, result.output


def test_eval_without_matplotlib_prints_metrics_and_the_hint(
    default_index_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("semroute.quality.cli.plots_available", lambda: False)
    args = ["eval", "--data", str(DATA / "default_routes_val.jsonl"), "--index", str(default_index_path)]
    result = CliRunner().invoke(main, [*args, "--limit", "10"])
    assert result.exit_code == 0, result.output
    assert "in-scope accuracy" in result.output and "pip install 'semroute[eval]'" in result.output
