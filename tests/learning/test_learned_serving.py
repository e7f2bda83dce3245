"""Closing the loop end to end: outcomes in a real store -> `semroute learn` -> `semroute index` -> a real server
whose learned index sends the easy and the hard tasks of one route to different models, visible in `--json` and in
the report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.client import RouterClient
from semroute.embedding import FastEmbedEmbedder
from semroute.features import structural_features
from semroute.learning.observations import Observation
from semroute.store import OutcomeDatabase, sqlite_url
from tests.helpers import ROUTER_YAML, write_routes
from tests.service.conftest import _start

EASY = [
    f"{verb} the {thing} in {place}"
    for verb in ("fix the typo in", "rename", "add a docstring to", "reformat")
    for thing in ("helper function", "variable name", "log message")
    for place in ("utils.py", "the README", "main.go")
]
HARD = [
    f"design {system} that {property}"
    for system in ("a lock-free concurrent hash map in C++", "a distributed consensus protocol", "a garbage collector")
    for property in (
        "survives network partitions and proves linearizability",
        "handles memory reclamation without pauses",
        "scales to a thousand cores with formal verification",
        "recovers from Byzantine failures",
    )
]
NEW_EASY = "fix the typo in the error message in config.py"
NEW_HARD = "design a lock-free concurrent skip list in Rust with formal proof of linearizability"

ROUTES = {
    "coding": {
        "name": "coding",
        "model": "big",
        "fallbacks": ["small"],
        "choice": {"policy": "learned", "max_quality_loss": 0.15, "exploration": 0.0},
        "utterances": ["fix this function", "write a function that parses dates", "design a concurrent data structure"],
    },
    "general": {"name": "general", "model": "big", "utterances": ["write a poem about the sea", "tell me a joke"]},
}


def _observations(embedder: FastEmbedEmbedder) -> list[Observation]:
    texts = EASY + HARD
    vectors = embedder.embed(texts)
    rows = []
    for text, vector in zip(texts, vectors, strict=True):
        easy = text in EASY
        for model, success, cost in (("small", easy, 0.0001), ("big", True, 0.01)):
            rows.append(
                Observation(
                    text,
                    "coding",
                    model,
                    1.0 if success else 0.0,
                    vector,
                    structural_features(text),
                    cost_usd=cost,
                    source="evaluate-models",
                )
            )
    return rows


@pytest.fixture(scope="module")
def learned_index(tmp_path_factory: pytest.TempPathFactory, embedder: FastEmbedEmbedder) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("learned")
    routes = write_routes(folder / "routes", ROUTES, ROUTER_YAML)
    store = sqlite_url(folder / "outcomes.db")
    database = OutcomeDatabase(store)
    database.migrate()
    database.insert_observations(_observations(embedder))
    database.close()
    runner = CliRunner()
    learned = runner.invoke(main, ["learn", "--routes", str(routes), "--store", store, "--out", str(folder / "l.zip")])
    assert learned.exit_code == 0, learned.output
    assert "AUC" in learned.output and "small" in learned.output
    index = folder / "index.zip"
    built = runner.invoke(
        main, ["index", "--routes", str(routes), "--out", str(index), "--learned", str(folder / "l.zip")]
    )
    assert built.exit_code == 0, built.output
    assert "with the learned model choice" in built.output
    return index, folder


def test_the_learned_index_sends_easy_and_hard_tasks_of_one_route_to_different_models(
    learned_index: tuple[Path, Path], embedder: FastEmbedEmbedder, tmp_path: Path
) -> None:
    index, _ = learned_index
    running = _start(index, tmp_path / "served.zip", embedder)
    try:
        with RouterClient(running.target) as client:
            easy, hard = client.route(NEW_EASY), client.route(NEW_HARD)
        assert (easy.route, hard.route) == ("coding", "coding")
        assert (easy.model.name, hard.model.name) == ("small", "big")
        assert [model.name for model in easy.fallbacks] == ["big"]  # never outside the chain
        assert easy.choice_policy == hard.choice_policy == "learned"
        printed = CliRunner().invoke(main, ["route", "--target", running.target, "--json", NEW_EASY])
        assert printed.exit_code == 0, printed.output
        decision = json.loads(printed.stdout)
        assert (decision["model"]["name"], decision["choice_policy"]) == ("small", "learned")
        assert any(line.startswith("learned choice: small: ") and "similar tasks" in line for line in decision["trace"])
        store = running.index_path.with_suffix(".outcomes.db")
    finally:
        running.server.stop(0.0, 1.0)
    report = CliRunner().invoke(
        main, ["report", "--store", sqlite_url(store), "--index", str(index), "--format", "json"]
    )
    assert report.exit_code == 0, report.output
    choices = {
        (row["model"], row["policy"]) for row in json.loads(report.stdout)["model_choice"] if row["route"] == "coding"
    }
    assert {("small", "learned"), ("big", "learned")} <= choices
    table = CliRunner().invoke(main, ["report", "--store", sqlite_url(store), "--index", str(index)])
    assert table.exit_code == 0, table.output
    assert "model choice" in table.output


def test_the_index_is_rebuilt_when_the_learned_file_changes(learned_index: tuple[Path, Path]) -> None:
    index, folder = learned_index
    routes = folder / "routes"
    runner = CliRunner()
    again = runner.invoke(
        main, ["index", "--routes", str(routes), "--out", str(index), "--learned", str(folder / "l.zip")]
    )
    assert "up to date" in again.output
    data = np.frombuffer((folder / "l.zip").read_bytes(), dtype=np.uint8)
    assert data.size > 0


def test_an_exploring_route_records_with_each_decision_the_probability_of_its_model(
    learned_index: tuple[Path, Path], embedder: FastEmbedEmbedder, tmp_path: Path
) -> None:
    _, folder = learned_index
    exploring = {**ROUTES, "coding": {**ROUTES["coding"], "choice": {**ROUTES["coding"]["choice"], "exploration": 0.5}}}
    routes = write_routes(tmp_path / "routes", exploring, ROUTER_YAML)
    index = tmp_path / "index.zip"
    built = CliRunner().invoke(
        main, ["index", "--routes", str(routes), "--out", str(index), "--learned", str(folder / "l.zip")]
    )
    assert built.exit_code == 0, built.output
    running = _start(index, tmp_path / "served.zip", embedder)
    tasks = [f"fix the typo in the comment of function number {number}" for number in range(40)]
    try:
        with RouterClient(running.target) as client:
            decisions = [client.route(text) for text in tasks]
    finally:
        running.server.stop(0.0, 1.0)
    # 0.5 exploration over a chain of two: the policy's model 0.75, the other 0.25
    probabilities = {decision.model.name: decision.choice_probability for decision in decisions}
    assert probabilities == {"small": pytest.approx(0.75), "big": pytest.approx(0.25)}
    database = OutcomeDatabase(sqlite_url(running.index_path.with_suffix(".outcomes.db")))
    try:
        with database.engine.connect() as connection:
            stored = {
                (row.model, round(row.choice_probability, 6), row.choice_policy)
                for row in connection.exec_driver_sql("SELECT model, choice_probability, choice_policy FROM decisions")
            }
    finally:
        database.close()
    assert stored == {("small", 0.75, "learned"), ("big", 0.25, "learned")}


def test_learning_from_an_empty_store_says_where_outcomes_come_from(tmp_path: Path) -> None:
    routes = write_routes(tmp_path / "routes", ROUTES, ROUTER_YAML)
    result = CliRunner().invoke(
        main,
        [
            "learn",
            "--routes",
            str(routes),
            "--store",
            sqlite_url(tmp_path / "empty.db"),
            "--out",
            str(tmp_path / "l.zip"),
        ],
    )
    assert result.exit_code != 0
    assert "holds no outcomes" in result.output and "semroute outcomes import" in result.output
    assert not (tmp_path / "l.zip").exists()
