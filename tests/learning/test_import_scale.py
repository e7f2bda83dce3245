"""``--quality-scale auto`` never reads a table whose every quality is 1 as successes: on the 1-5 scale 1 is the
worst score, on the 0-1 scale a success, and nothing in such a table says which; the scale must be given."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.errors import DatasetError
from semroute.learning.importing import read_outcome_table
from semroute.store import sqlite_url
from tests.learning import test_importing
from tests.learning.test_importing import write_jsonl

routes_dir = test_importing.routes_dir
ALL_ONES = [
    {"id": "a", "text": "summarize this", "route": "summary", "m": 1, "m|cost": 0.01, "n": 1, "n|cost": 0.02},
    {"id": "b", "text": "tl;dr please", "route": "summary", "m": 1.0, "m|cost": 0.01, "n": None, "n|cost": None},
]


def test_auto_refuses_a_table_whose_every_quality_is_1(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "scores.jsonl", ALL_ONES)

    with pytest.raises(DatasetError) as raised:
        read_outcome_table(path)

    message = str(raised.value)
    assert "scores.jsonl: every quality is 1" in message
    assert "--quality-scale 0-1" in message and "--quality-scale 1-5" in message


def test_a_given_scale_reads_a_table_of_ones(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "scores.jsonl", ALL_ONES)

    as_scores = read_outcome_table(path, quality_scale="1-5")
    as_qualities = read_outcome_table(path, quality_scale="0-1")

    assert [task.results["m"][0] for task in as_scores] == [0.0, 0.0]
    assert [task.results["m"][0] for task in as_qualities] == [1.0, 1.0]


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1, 0, 1], [1.0, 0.0, 1.0]), ([1, 1, 2], [0.0, 0.0, 0.25]), ([1, 0.5, 1], [1.0, 0.5, 1.0])],
)
def test_auto_tells_the_scales_apart_when_a_value_does(
    tmp_path: Path, values: list[float], expected: list[float]
) -> None:
    rows = [{"text": f"task {i}", "route": "summary", "m": value, "m|cost": 0.01} for i, value in enumerate(values)]

    tasks = read_outcome_table(write_jsonl(tmp_path / "scores.jsonl", rows))

    assert [task.results["m"][0] for task in tasks] == expected


def test_the_command_asks_for_the_scale(tmp_path: Path, routes_dir: Path) -> None:
    path = write_jsonl(
        tmp_path / "scores.jsonl",
        [
            {
                **row,
                "big": row.pop("m"),
                "big|cost": row.pop("m|cost"),
                "small": row.pop("n"),
                "small|cost": row.pop("n|cost"),
            }
            for row in map(dict, ALL_ONES)
        ],
    )
    url = sqlite_url(tmp_path / "outcomes.db")

    result = CliRunner().invoke(main, ["outcomes", "import", str(path), "--routes", str(routes_dir), "--store", url])

    assert result.exit_code == 2
    assert "every quality is 1" in result.output and "--quality-scale 1-5" in result.output
    assert not (tmp_path / "outcomes.db").exists()
