"""eval and fit through click's runner on small real indexes; fit never reads a test split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.quality import datasets
from semroute.route_files import load_route_set, write_fitted
from semroute.schema import FittedParameters
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


def _with_invalid_rows(tmp_path: Path, source: Path, count: int) -> Path:
    """The first ``count`` rows of ``source`` with an empty text and a row without a label among them."""
    rows = source.read_text().splitlines()[:count]
    rows[1:1] = [json.dumps({"text": "", "label": "general"}), json.dumps({"text": "no label here"})]
    data = tmp_path / "val_with_gaps.jsonl"
    data.write_text("\n".join(rows) + "\n")
    return data


def test_eval_lists_every_invalid_item(default_index_path: Path, tmp_path: Path) -> None:
    data = _with_invalid_rows(tmp_path, DATA / "default_routes_val.jsonl", 8)
    args = ["eval", "--data", str(data), "--index", str(default_index_path), "--no-plots"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert f"{data}, line 2: column 'text' is empty" in result.output
    assert f"{data}, line 3: column 'label' is missing" in result.output
    assert "--skip-invalid" in result.output


def test_eval_skip_invalid_says_how_many_and_why(default_index_path: Path, tmp_path: Path) -> None:
    data = _with_invalid_rows(tmp_path, DATA / "default_routes_val.jsonl", 8)
    args = ["eval", "--data", str(data), "--index", str(default_index_path), "--no-plots", "--skip-invalid"]
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["skipped_invalid"] == 2 and report["items"] == 8
    assert "2 invalid items skipped" in result.stderr and "column 'text' is empty x1" in result.stderr
    summary = CliRunner().invoke(main, args)
    assert summary.exit_code == 0, summary.output
    assert "2 invalid items skipped" in summary.output


def test_fit_and_routes_from_dataset_take_skip_invalid(small: tuple[Path, Path], tmp_path: Path) -> None:
    routes_dir, index = small
    data = tmp_path / "val.csv"
    data.write_text("text,label\nsummarise the notes,summary\n,summary\ndraft a note,general\nname a puppy,\n")
    fit_args = ["fit", "--data", str(data), "--routes", str(routes_dir), "--index", str(index), "--dry-run"]
    result = CliRunner().invoke(main, [*fit_args, "--skip-invalid", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["skipped_invalid"] == 2
    out = tmp_path / "from_data"
    args = ["routes-from-dataset", "--data", str(data), "--out", str(out), "--skip-invalid"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "2 invalid items skipped" in result.output and "2 routes" not in result.output
    assert load_route_set(out).route("summary").utterances == ["summarise the notes"]


def test_a_missing_label_column_names_the_columns_and_the_option(default_index_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("utterance,intent\nsummarise this,summary\n")
    args = ["eval", "--data", str(data), "--index", str(default_index_path), "--text-column", "utterance"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert (
        f"{data}: no column 'label'; its columns are: utterance, intent. Name the label column with --label-column"
        in result.output
    )


def test_fit_without_oos_items_keeps_the_rejection_threshold(small: tuple[Path, Path], tmp_path: Path) -> None:
    routes_dir, index = small
    data = tmp_path / "clinc_like.json"
    data.write_text(json.dumps(CLINC_LIKE))
    args = ["fit", "--data", str(data), "--split", "val", "--routes", str(routes_dir), "--index", str(index)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "threshold      not fitted: the validation data has no out-of-scope items; kept at 0.3" in result.output
    assert "recall >=" not in result.output
    fitted = load_route_set(routes_dir).fitted
    assert fitted is not None and fitted.score_threshold is None and fitted.route_thresholds == {}
    assert fitted.margin is not None and fitted.blend is not None
    assert "no out-of-scope items, so the rejection threshold was not fitted (kept at 0.3)" in fitted.objective
    assert load_route_set(routes_dir).settings.score_threshold == 0.3
    report = json.loads(CliRunner().invoke(main, [*args, "--json", "--dry-run"]).stdout.strip().splitlines()[-1])
    assert report["thresholds_fitted"] is False and report["kept_score_threshold"] == 0.3


def test_fit_without_oos_items_keeps_thresholds_fitted_before(small: tuple[Path, Path], tmp_path: Path) -> None:
    routes_dir, index = small
    write_fitted(routes_dir, FittedParameters(score_threshold=0.32, route_thresholds={"summary": 0.35}))
    result = CliRunner().invoke(main, ["index", "--routes", str(routes_dir), "--out", str(index)])
    assert result.exit_code == 0, result.output
    data = tmp_path / "clinc_like.json"
    data.write_text(json.dumps(CLINC_LIKE))
    args = ["fit", "--data", str(data), "--split", "val", "--routes", str(routes_dir), "--index", str(index)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "kept at 0.32" in result.output
    fitted = load_route_set(routes_dir).fitted
    assert fitted is not None
    assert (fitted.score_threshold, fitted.route_thresholds) == (0.32, {"summary": 0.35})


def test_fit_on_an_index_of_other_routes_never_advises_overwriting_it(small: tuple[Path, Path], tmp_path: Path) -> None:
    _, index = small
    other = write_routes(tmp_path / "other", {"general": simple_routes()["general"]})
    args = ["fit", "--data", str(DATA / "default_routes_val.jsonl"), "--routes", str(other), "--index", str(index)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 4
    assert f"--out {index}" not in result.output
    suggested = tmp_path / "other-index.zip"
    assert f"semroute index --routes {other} --out {suggested}" in result.output
    assert f"--index {suggested}" in result.output
    assert "only in the index: summary" in result.output


def test_the_advice_avoids_an_index_at_the_derived_path(small: tuple[Path, Path], tmp_path: Path) -> None:
    routes_dir, index = small
    derived = tmp_path / "other-index.zip"
    derived.write_bytes(index.read_bytes())  # an index of the `small` routes, where `other`'s would be suggested
    other = write_routes(tmp_path / "other", {"general": simple_routes()["general"]})
    args = ["fit", "--data", str(DATA / "default_routes_val.jsonl"), "--routes", str(other), "--index", str(derived)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 4
    assert f"--out {derived}" not in result.output
    assert "semroute index --routes" in result.output
