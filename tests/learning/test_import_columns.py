"""Every column of an outcome table is understood or refused: a misspelled cost header never silently drops a model.
RouterBench's layout (``eval_name``, ``oracle_model_to_route_to``, ``<model>|model_response``) imports as is, and a
column of the user's own is left out only when named with ``--ignore-column``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.errors import DatasetError
from semroute.learning.importing import load_outcome_table, read_outcome_table
from semroute.store import sqlite_url
from tests.conftest import SHARED_DATA
from tests.learning import test_importing
from tests.learning.test_importing import MODELS, ROUTERBENCH_HEADER, write_routerbench

ROUTERBENCH = SHARED_DATA / "routerbench_subset"
routes_dir = test_importing.routes_dir


def write_csv(path: Path, header: list[str], *rows: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows([header, *rows])
    return path


def test_a_misspelled_cost_column_is_an_error_naming_it_and_the_fix(tmp_path: Path) -> None:
    header = ["id", "text", "route", "gpt-5.2", "gpt-5.2|cost", "claude-sonnet-4-6", "claude-sonnet-4-6|costs"]
    path = write_csv(tmp_path / "results.csv", header, ["1", "fix it", "general", "1", "0.1", "0", "0.2"])

    with pytest.raises(DatasetError) as raised:
        read_outcome_table(path)

    message = str(raised.value)
    assert "results.csv: columns 'claude-sonnet-4-6', 'claude-sonnet-4-6|costs' are not understood" in message
    assert "'claude-sonnet-4-6|costs': did you mean 'claude-sonnet-4-6|cost'?" in message
    assert "'claude-sonnet-4-6': a quality column without its cost column" in message
    assert "a cost column '<model>|total_cost' or '<model>|cost'" in message  # the layout understood
    assert "--ignore-column" in message


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (["text", "route", "m", "m|cost", "m|total-cost"], "'m|total-cost': did you mean 'm|total_cost'?"),
        (["text", "route", "m", "m|cost", "mm|cost"], "'mm|cost': a cost column without its quality column 'mm'"),
        (["text", "route", "gpt5", "gpt-5|cost"], "'gpt5': did you mean 'gpt-5'?"),
        (["promt", "route", "m", "m|cost"], "'promt': did you mean 'prompt'?"),
        (["text", "route", "m", "m|cost", "notes"], "'notes' is not understood"),
    ],
)
def test_other_columns_not_understood(tmp_path: Path, header: list[str], expected: str) -> None:
    path = write_csv(tmp_path / "results.csv", header, ["1"] * len(header))

    with pytest.raises(DatasetError, match=r"not understood") as raised:
        read_outcome_table(path)

    assert expected in str(raised.value)


def test_an_ignored_column_is_left_out(tmp_path: Path) -> None:
    header = ["text", "route", "m", "m|cost", "notes", "reference answer"]
    path = write_csv(tmp_path / "results.csv", header, ["fix it", "general", "0.5", "0.1", "easy", "x = 1"])

    table = load_outcome_table(path, ignore_columns=["notes", "reference answer"])

    assert table.models == ("m",) and table.tasks[0].results == {"m": (0.5, 0.1)}
    with pytest.raises(DatasetError, match=r"--ignore-column 'note' is not a column of .*results.csv"):
        load_outcome_table(path, ignore_columns=["notes", "reference answer", "note"])
    with pytest.raises(DatasetError, match=r"--ignore-column 'm' is a model's quality column"):
        load_outcome_table(path, ignore_columns=["notes", "reference answer", "m"])


def test_routerbench_companion_columns_are_understood(tmp_path: Path) -> None:
    path = tmp_path / "routerbench.csv"
    header = ROUTERBENCH_HEADER.split(",") + [f"{model}|model_response" for model in MODELS]
    write_csv(
        path, header, ["mbpp.dev.1", "mbpp", "['fix it']", *["1", "0"] * 5, "1", *["0.1"] * 11, MODELS[0], *["ok"] * 11]
    )

    table = load_outcome_table(path, route="general")

    assert table.models == tuple(MODELS)
    assert load_outcome_table(write_routerbench(tmp_path / "mbpp_test.csv"), route="general").models == tuple(MODELS)


@pytest.mark.skipif(not ROUTERBENCH.is_dir(), reason=f"{ROUTERBENCH} is absent: the shared data folder is not here")
@pytest.mark.parametrize("name", ["arc_challenge", "mbpp", "winograde"])
def test_the_real_routerbench_files_import_as_is(name: str) -> None:
    for split in ("train", "test"):
        table = load_outcome_table(ROUTERBENCH / f"{name}_{split}.csv", route=name)
        assert len(table.models) == 11


def test_the_command_names_the_column_and_takes_ignore_column(tmp_path: Path, routes_dir: Path) -> None:
    header = ["text", "route", "big", "big|cost", "small", "small|costs"]
    path = write_csv(tmp_path / "results.csv", header, ["fix it", "general", "0", "0.1", "0", "0.2"])
    url = sqlite_url(tmp_path / "outcomes.db")
    runner = CliRunner()

    refused = runner.invoke(main, ["outcomes", "import", str(path), "--routes", str(routes_dir), "--store", url])

    assert refused.exit_code == 2
    assert "'small|costs': did you mean 'small|cost'?" in refused.output
    assert not (tmp_path / "outcomes.db").exists()  # refused before anything is written

    ignored = ["--ignore-column", "small", "--ignore-column", "small|costs"]
    imported = runner.invoke(
        main, ["outcomes", "import", str(path), "--routes", str(routes_dir), "--store", url, *ignored]
    )

    assert imported.exit_code == 0, imported.output
    assert "models        1\n" in imported.output
    assert "ignored       2 columns: 'small', 'small|costs'" in imported.output
