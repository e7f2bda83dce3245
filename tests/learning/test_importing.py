"""``semroute outcomes import``: RouterBench's layout as is (list-literal prompts, blank cells, tasks split over two
rows), model maps, quality scales, and the command end to end into a real SQLite store with the real embedder."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner, Result

from semroute.cli import main
from semroute.embedding import FastEmbedEmbedder
from semroute.errors import DatasetError
from semroute.features import structural_features
from semroute.learning.importing import (
    LabelledTask,
    ModelMap,
    check_against_route_set,
    import_outcomes,
    load_outcome_table,
    read_outcome_table,
)
from semroute.route_files import load_route_set
from semroute.store import OutcomeDatabase, sqlite_url
from semroute.store._schema import observations as observations_table
from semroute.task_part import EmbedPart, part_to_embed
from tests.conftest import SHARED_DATA
from tests.helpers import ROUTER_YAML, simple_routes, write_routes

MBPP_TEST = SHARED_DATA / "routerbench_subset" / "mbpp_test.csv"
# The header of ../shared/data/routerbench_subset/mbpp_test.csv, as upstream writes it.
ROUTERBENCH_HEADER = (
    "sample_id,eval_name,prompt,WizardLM/WizardLM-13B-V1.2,claude-instant-v1,claude-v1,claude-v2,gpt-3.5-turbo-1106,"
    "gpt-4-1106-preview,meta/code-llama-instruct-34b-chat,meta/llama-2-70b-chat,mistralai/mistral-7b-chat,"
    "mistralai/mixtral-8x7b-chat,zero-one-ai/Yi-34B-Chat,WizardLM/WizardLM-13B-V1.2|total_cost,"
    "claude-instant-v1|total_cost,claude-v1|total_cost,claude-v2|total_cost,gpt-3.5-turbo-1106|total_cost,"
    "gpt-4-1106-preview|total_cost,meta/code-llama-instruct-34b-chat|total_cost,meta/llama-2-70b-chat|total_cost,"
    "mistralai/mistral-7b-chat|total_cost,mistralai/mixtral-8x7b-chat|total_cost,zero-one-ai/Yi-34B-Chat|total_cost,"
    "oracle_model_to_route_to"
)
MODELS = ROUTERBENCH_HEADER.split(",")[3:14]
# The first row of mbpp_test.csv, verbatim.
MBPP_DEV_1 = (
    "mbpp.dev.1,mbpp,['Write a python function to identify non-prime numbers.'],1.0,1.0,1.0,1.0,1.0,0.0,0.0,1.0,1.0,"
    "0.0,1.0,8.159999999999999e-05,0.00035919999999999995,0.005368,0.0061600000000000005,0.000423,"
    "0.010910000000000001,0.000402744,0.00030150000000000006,4.62e-05,3.2999999999999996e-05,0.00025200000000000005,"
    "mistralai/mistral-7b-chat"
)
TASK = "Task: Write a function to find the perimeter of a regular pentagon from the length of its sides."
FEW_SHOT = (
    "You are an expert Python programmer. Here are two solved examples, then your task.\n\n"
    "Task: Write a function to add two numbers.\nSolution: def add(a, b):\n    return a + b\n\n"
    "Task: Write a function to reverse a string.\nSolution: def reverse(s):\n    return s[::-1]\n\n" + TASK
)
QUESTION = (
    "George wants to warm his hands quickly by rubbing them. Which skin surface will produce the most heat?\n"
    "A) dry palms\nB) wet palms\nC) palms covered with oil\nD) palms covered with lotion\n"
    'Print only a single choice  from "A" or "B" or "C" or "D" without explanation.\nAnswer:'
)
MAP = {
    "gpt-4-1106-preview": "big",
    "gpt-3.5-turbo-1106": "small",
    **{model: None for model in MODELS if model not in ("gpt-4-1106-preview", "gpt-3.5-turbo-1106")},
}
NAMES = ModelMap(MAP, "map.yaml")


def routerbench_row(sample_id: str, prompt: Sequence[str], qualities: Sequence[str], costs: Sequence[str]) -> list[str]:
    """A row as upstream writes it: the prompt a Python list literal, a blank quality as an empty cell."""
    return [sample_id, sample_id.split(".")[0], str(list(prompt)), *qualities, *costs, MODELS[0]]


def write_routerbench(path: Path) -> Path:
    """Four rows in RouterBench's layout: a verbatim row, a few-shot prompt with a blank gpt-3.5 cell, and a task
    split over two rows as arc_challenge has them (the prompt twice with gpt-3.5's result, once with the others)."""
    few_shot = ["1.0"] * 11
    few_shot[MODELS.index("gpt-3.5-turbo-1106")] = ""
    gpt35_only = ["" if model != "gpt-3.5-turbo-1106" else "1.0" for model in MODELS]
    others = ["0.0" if model != "gpt-3.5-turbo-1106" else "" for model in MODELS]
    rows = [
        routerbench_row("mbpp.dev.101", [FEW_SHOT], few_shot, [f"0.00{n}" for n in range(11)]),
        routerbench_row("arc-challenge.val.172", [QUESTION, QUESTION], gpt35_only, ["0.0002"] * 11),
        routerbench_row("arc-challenge.val.172", [QUESTION], others, ["0.0001"] * 11),
    ]
    buffer = path.open("w", encoding="utf-8", newline="")
    with buffer:
        buffer.write(f"{ROUTERBENCH_HEADER}\n{MBPP_DEV_1}\n")
        csv.writer(buffer, lineterminator="\n").writerows(rows)
    return path


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_map(path: Path, names: dict[str, str | None]) -> Path:
    path.write_text(yaml.safe_dump(names), encoding="utf-8")
    return path


def by_id(tasks: Sequence[LabelledTask]) -> dict[str, LabelledTask]:
    return {task.task_id: task for task in tasks}


def test_the_routerbench_layout_imports_as_is(tmp_path: Path) -> None:
    path = write_routerbench(tmp_path / "mbpp_test.csv")

    table = load_outcome_table(path, route="code_change")

    assert table.models == tuple(MODELS)  # eval_name and oracle_model_to_route_to are ignored
    tasks = by_id(table.tasks)
    assert list(tasks) == ["mbpp.dev.1", "mbpp.dev.101", "arc-challenge.val.172"]
    first = tasks["mbpp.dev.1"]
    assert (first.text, first.route) == ("Write a python function to identify non-prime numbers.", "code_change")
    assert first.results["gpt-4-1106-preview"] == (0.0, 0.010910000000000001)
    assert first.results["WizardLM/WizardLM-13B-V1.2"] == (1.0, 8.159999999999999e-05)
    assert tasks["mbpp.dev.101"].text == FEW_SHOT  # the list literal parsed, its newlines real ones
    assert "gpt-3.5-turbo-1106" not in tasks["mbpp.dev.101"].results
    assert tasks["mbpp.dev.101"].results["claude-v2"] == (1.0, 0.003)
    assert table.skipped == {"gpt-3.5-turbo-1106": 1}
    split = tasks["arc-challenge.val.172"]  # the two rows are one task: every model graded once
    assert split.text == f"{QUESTION}\n{QUESTION}"  # the first row's text: the list's items joined
    assert split.results["gpt-3.5-turbo-1106"] == (1.0, 0.0002)
    assert split.results["claude-v1"] == (0.0, 0.0001)
    assert list(split.results) == MODELS


def test_rows_sharing_an_id_must_be_one_task(tmp_path: Path) -> None:
    header = ["id", "text", "route", "m", "m|cost", "n", "n|cost"]
    base = tmp_path / "tasks.csv"

    def refused(second: list[str], message: str) -> None:
        with base.open("w", newline="") as file:
            csv.writer(file).writerows([header, ["t1", "fix it", "code", "1", "0.1", "", ""], second])
        with pytest.raises(DatasetError, match=message):
            read_outcome_table(base)

    refused(
        ["t1", "fix that", "code", "", "", "1", "0.1"], r"rows 1 and 2: task id 't1' is on both, with different texts"
    )
    refused(["t1", "fix it", "docs", "", "", "1", "0.1"], r"with routes 'code' and 'docs'")
    refused(["t1", "fix it", "code", "0", "0.1", "1", "0.1"], r"and both grade 'm'")


@pytest.mark.skipif(not MBPP_TEST.is_file(), reason=f"{MBPP_TEST} is absent: the shared data folder is not here")
def test_the_real_routerbench_mbpp_file_imports() -> None:
    table = load_outcome_table(MBPP_TEST, route="code_change")

    assert (len(table.tasks), len(table.models), table.skipped) == (128, 11, {})
    summary = (MBPP_TEST.parent / "summary.tsv").read_text().splitlines()
    published = {
        model: float(mean)
        for split, model, _, mean, _ in (line.split("\t") for line in summary)
        if split == "mbpp_test"
    }
    means = {model: np.mean([task.results[model][0] for task in table.tasks]) for model in table.models}
    assert means == pytest.approx(published, abs=1e-4)


def test_a_model_map_renames_and_drops_models(tmp_path: Path) -> None:
    path = write_routerbench(tmp_path / "mbpp_test.csv")

    tasks = by_id(read_outcome_table(path, route="general", model_map=write_map(tmp_path / "map.yaml", MAP)))

    assert {model for task in tasks.values() for model in task.results} == {"big", "small"}
    assert tasks["mbpp.dev.1"].results == {"big": (0.0, 0.010910000000000001), "small": (1.0, 0.000423)}
    assert tasks["mbpp.dev.101"].results == {"big": (1.0, 0.005)}


def test_a_model_the_map_does_not_mention_is_an_error(tmp_path: Path) -> None:
    path = write_routerbench(tmp_path / "mbpp_test.csv")
    typo = {**MAP, "claude-v2 ": None}
    del typo["claude-v2"]
    map_path = write_map(tmp_path / "map.yaml", typo)

    with pytest.raises(DatasetError, match=rf"mbpp_test.csv: model 'claude-v2' is not in the model map {map_path}"):
        read_outcome_table(path, route="general", model_map=map_path)


def test_two_models_mapped_to_one_catalog_name_are_an_error(tmp_path: Path) -> None:
    path = write_routerbench(tmp_path / "mbpp_test.csv")
    names = ModelMap({**MAP, "claude-v2": "big"}, "map.yaml")

    with pytest.raises(DatasetError, match=r"map.yaml: 'claude-v2' and 'gpt-4-1106-preview' both map to 'big'"):
        read_outcome_table(path, route="general", model_map=names)


def test_routes_and_mapped_models_are_checked_against_the_route_set(tmp_path: Path) -> None:
    routes = load_route_set(write_routes(tmp_path / "routes", simple_routes()))
    path = write_routerbench(tmp_path / "mbpp_test.csv")
    names = ModelMap({**MAP, "gpt-3.5-turbo-1106": "smal"}, "map.yaml")

    with pytest.raises(DatasetError, match=r"route 'code_change' is not in the route set; its routes are: general"):
        check_against_route_set(load_outcome_table(path, route="code_change", model_map=NAMES), routes)
    with pytest.raises(DatasetError, match=r"model 'smal' is not in the catalog .* map.yaml maps 'gpt-3.5-turbo-1106'"):
        check_against_route_set(load_outcome_table(path, route="summary", model_map=names), routes, model_map=names)
    check_against_route_set(load_outcome_table(path, route="summary", model_map=NAMES), routes)


def test_scores_from_1_to_5_are_read_on_the_1_5_scale(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "text": "summarize this", "route": "summary", "m": 5, "m|cost": 0.01, "n": 1, "n|cost": None},
        {"id": "b", "text": "tl;dr please", "route": "summary", "m": 3, "m|cost": 0.02, "n": None, "n|cost": 0.1},
    ]
    path = write_jsonl(tmp_path / "scores.jsonl", rows)

    table = load_outcome_table(path)

    assert by_id(table.tasks)["a"].results == {"m": (1.0, 0.01), "n": (0.0, None)}
    assert by_id(table.tasks)["b"].results == {"m": (0.5, 0.02)}
    assert table.skipped == {"n": 1}
    with pytest.raises(DatasetError, match=r"scores.jsonl, row 1 \(line 1\), column 'm': quality 5 is outside the 0-1"):
        read_outcome_table(path, quality_scale="0-1")


def test_qualities_from_0_to_1_stay_as_they_are(tmp_path: Path) -> None:
    rows = [{"text": "summarize this", "m": 1, "m|cost": 0.01}, {"text": "tl;dr", "m": 0.25, "m|cost": 0.01}]
    path = write_jsonl(tmp_path / "graded.jsonl", rows)

    tasks = read_outcome_table(path, route="summary")

    assert [task.results["m"][0] for task in tasks] == [1.0, 0.25]
    assert tasks[0].task_id == hashlib.sha256(b"summarize this").hexdigest()  # no id column
    with pytest.raises(DatasetError, match=r"row 2 \(line 2\), column 'm': quality 0.25 is not a 1-5 score"):
        read_outcome_table(path, route="summary", quality_scale="1-5")


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        ("text,m,m|cost\nfix it,1,0.1\n", {}, r"no route for its tasks: give one for every task \(--route NAME\)"),
        ("prompt,route\nfix it,code\n", {}, r"no model columns: a model needs a quality column"),
        ("id,route,m,m|cost\n1,code,1,0.1\n", {}, r"no text column \('text' or 'prompt'\)"),
        ("text,route,m,m|cost\nfix it,code,yes,0.1\n", {}, r"row 1 \(line 2\), column 'm': quality 'yes' is not a num"),
        ("text,route,m,m|cost\nfix it,code,1,-2\n", {}, r"row 1 \(line 2\), column 'm\|cost': cost -2 is negative"),
        ("text,route,m,m|cost\nfix it,,1,0.1\n", {}, r"row 1 \(line 2\), column 'route': the route is empty"),
        ("text,route,m,m|cost\n   ,code,1,0.1\n", {}, r"row 1 \(line 2\), column 'text': the text is empty"),
        ("text,route,m,m|cost\nfix it,code,1\n", {}, r"row 1 \(line 2\): 3 cells, but the header has 4 columns"),
        ("text,m,m,m|cost\nfix it,1,1,0.1\n", {"route": "code"}, r"the header names 'm' more than once"),
    ],
)
def test_a_malformed_table_is_refused_naming_where(
    tmp_path: Path, content: str, options: dict[str, Any], message: str
) -> None:
    path = tmp_path / "results.csv"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(DatasetError, match=message):
        read_outcome_table(path, **options)


def test_tsv_and_unknown_extensions(tmp_path: Path) -> None:
    tsv = tmp_path / "results.tsv"
    tsv.write_text("text\troute\tm\tm|total_cost\tm|cost\nfix it, now\tcode\t1\t0.5\t0.1\n", encoding="utf-8")
    other = tmp_path / "results.xlsx"
    other.write_text("", encoding="utf-8")

    # total_cost is preferred over cost (the scale given: a lone quality of 1 does not tell it)
    assert read_outcome_table(tsv, quality_scale="0-1")[0].results == {"m": (1.0, 0.5)}
    with pytest.raises(DatasetError, match=r"results.xlsx: unsupported outcome table; expected .csv, .tsv or .jsonl"):
        read_outcome_table(other)


def test_import_outcomes_gives_one_observation_per_task_and_model(tmp_path: Path, embedder: FastEmbedEmbedder) -> None:
    path = write_routerbench(tmp_path / "mbpp_test.csv")

    result = import_outcomes(
        path, embedder=embedder, part=EmbedPart.LAST_PARAGRAPH, route="general", model_map=NAMES, progress=False
    )

    assert (result.source, result.tasks, result.models, result.skipped_cells) == (
        f"import:{path.resolve()}",
        3,
        ("small", "big"),  # in column order
        1,
    )
    assert len(result.observations) == 5
    assert result.mean_quality == {"big": pytest.approx(1 / 3), "small": pytest.approx(1.0)}
    few_shot = next(item for item in result.observations if item.task_id == "mbpp.dev.101")
    assert (few_shot.propensity, few_shot.features) == (1.0, structural_features(FEW_SHOT))
    np.testing.assert_allclose(few_shot.embedding, embedder.embed([TASK])[0], atol=1e-6)
    assert result.texts["mbpp.dev.101"] == FEW_SHOT


# --- the command end to end ---------------------------------------------------------------------------------------


@pytest.fixture
def routes_dir(tmp_path: Path, model_dir: Path) -> Path:
    """A route set whose tasks are embedded by their last paragraph, with the real model."""
    router = {**ROUTER_YAML, "settings": {**ROUTER_YAML["settings"], "embedding": {"path": str(model_dir)}}}
    router["settings"]["embedding"]["part"] = "last_paragraph"
    return write_routes(tmp_path / "routes", simple_routes(), router)


def run_import(*arguments: str) -> Result:
    return CliRunner().invoke(main, ["outcomes", "import", *arguments], catch_exceptions=False)


def stored_texts(url: str) -> dict[tuple[str, str], str | None]:
    database = OutcomeDatabase(url)
    query = sa.select(observations_table.c.task_id, observations_table.c.model, observations_table.c.text)
    with database.engine.connect() as connection:
        found = {(row.task_id, row.model): row.text for row in connection.execute(query)}
    database.close()
    return found


def test_the_command_imports_into_a_store(tmp_path: Path, routes_dir: Path, embedder: FastEmbedEmbedder) -> None:
    path = write_routerbench(tmp_path / "mbpp_test.csv")
    map_path = write_map(tmp_path / "map.yaml", MAP)
    url = sqlite_url(tmp_path / "outcomes.db")
    common = [str(path), "--routes", str(routes_dir), "--store", url, "--map", str(map_path), "--route", "general"]

    result = run_import(*common)

    assert result.exit_code == 0, result.output
    assert "tasks         3\nmodels        2\nobservations  5 written to sqlite:///" in result.output
    assert "replaced      0 (no earlier import of this source)" in result.output
    assert "skipped       1 blank quality cells (small x1)" in result.output
    assert "  small  1.000\n  big    0.333" in result.output
    database = OutcomeDatabase(url)
    found = database.observations()
    database.close()
    assert sorted((item.task_id, item.model, item.quality) for item in found) == [
        ("arc-challenge.val.172", "big", 0.0),
        ("arc-challenge.val.172", "small", 1.0),
        ("mbpp.dev.1", "big", 0.0),
        ("mbpp.dev.1", "small", 1.0),
        ("mbpp.dev.101", "big", 1.0),
    ]
    assert {item.source for item in found} == {f"import:{path.resolve()}"}
    assert {item.route for item in found} == {"general"}
    # the route set embeds the last paragraph: the few-shot preamble is not what was embedded
    few_shot = next(item for item in found if item.task_id == "mbpp.dev.101")
    last, whole = embedder.embed([part_to_embed(FEW_SHOT, EmbedPart.LAST_PARAGRAPH), FEW_SHOT])
    np.testing.assert_allclose(few_shot.embedding, last, atol=2e-3)
    assert float(few_shot.embedding @ whole) < 0.95
    assert set(stored_texts(url).values()) == {None}  # no text unless asked

    # embedded otherwise than the route set serves, the observations could not be compared with served tasks
    mismatched = run_import(*common, "--embed-part", "whole")
    assert mismatched.exit_code == 2 and "embeds the last_paragraph of each task it routes" in mismatched.output
    again = run_import(*common, "--store-text", "--embed-part", "last_paragraph")

    assert again.exit_code == 0, again.output
    assert "replaced      5 observations of an earlier import of this source" in again.output
    database = OutcomeDatabase(url)
    replaced = next(item for item in database.observations() if item.task_id == "mbpp.dev.101")
    assert database.count("observations") == 5  # replaced, not added
    database.close()
    np.testing.assert_allclose(replaced.embedding, last, atol=2e-3)
    texts = stored_texts(url)
    assert texts["mbpp.dev.101", "big"] == FEW_SHOT
    assert texts["arc-challenge.val.172", "small"] == f"{QUESTION}\n{QUESTION}"


def test_the_command_refuses_an_unknown_route_before_loading_the_model(tmp_path: Path, routes_dir: Path) -> None:
    path = write_routerbench(tmp_path / "mbpp_test.csv")
    url = sqlite_url(tmp_path / "outcomes.db")

    result = run_import(str(path), "--routes", str(routes_dir), "--store", url, "--route", "code_change")

    assert result.exit_code == 2
    assert f"route 'code_change' is not in {routes_dir}; its routes are: general, summary" in result.output
    assert not (tmp_path / "outcomes.db").exists()
