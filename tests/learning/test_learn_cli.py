"""`semroute learn` at the command line: a mistyped store is an error that creates nothing, models outside a route's
chain are not learned and are said to be outside it, and AUC is printed only from enough held-out successes and
failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.learning.learning import learn_and_measure
from semroute.learning.observations import Observation
from semroute.store import OutcomeDatabase, sqlite_url
from tests.helpers import ROUTER_YAML, write_routes

DIM = 384  # the vectors are never compared with the embedding model's: any unit vectors of its size will do
ROUTER = {
    **ROUTER_YAML,
    "models": {
        **ROUTER_YAML["models"],
        "opus": {  # in the catalog, not in the route's chain
            "litellm": "anthropic/opus",
            "tier": "frontier",
            "input_cost_per_mtok": 15,
            "output_cost_per_mtok": 75,
            "context_window": 200000,
        },
    },
}
ROUTES: dict[str, dict[str, Any]] = {
    "coding": {
        "name": "coding",
        "model": "big",
        "fallbacks": ["small"],
        "choice": {"policy": "learned", "max_quality_loss": 0.1, "exploration": 0.0},
        "utterances": ["fix this function", "write a function that parses dates"],
    },
    "general": {"name": "general", "model": "big", "utterances": ["write a poem about the sea", "tell me a joke"]},
}


def _observations(tasks: int = 40) -> list[Observation]:
    rng = np.random.default_rng(1)
    rows = []
    for number in range(tasks):
        easy = number % 2 == 0
        vector = np.eye(1, DIM, 0 if easy else 1)[0] + rng.normal(scale=0.02, size=DIM)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        # big never fails: its held-out outcomes hold no failure, so it has no AUC to show
        for model, success in (("big", True), ("small", easy), ("opus", True)):
            rows.append(
                Observation(
                    f"task-{number}", "coding", model, float(success), vector, {}, cost_usd=0.01, source="import:t.csv"
                )
            )
    return rows


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path / "outcomes.db")
    database = OutcomeDatabase(url)
    database.migrate()
    database.insert_observations(_observations())
    database.close()
    return url


def _learn(tmp_path: Path, store: str, *extra: str) -> Any:
    routes = write_routes(tmp_path / "routes", ROUTES, ROUTER)
    command = ["learn", "--routes", str(routes), "--store", store, "--out", str(tmp_path / "l.zip"), *extra]
    return CliRunner().invoke(main, command)


@pytest.mark.parametrize("form", ["url", "path"])
def test_a_mistyped_store_is_an_error_that_creates_nothing(tmp_path: Path, form: str) -> None:
    missing = tmp_path / "nonexist" / "x.db"
    store = f"sqlite:///{missing}" if form == "url" else str(missing)
    result = _learn(tmp_path, store)
    # the exit code of `semroute report` for a missing store (tests/report/test_report.py)
    assert result.exit_code == 1, result.output
    assert f"no outcome store at {missing}" in result.output
    assert "semroute outcomes import" in result.output and "semroute serve" in result.output
    assert not missing.parent.exists()
    assert not (tmp_path / "l.zip").exists()


def test_models_outside_the_chain_are_not_learned_and_are_marked(tmp_path: Path, store: str) -> None:
    result = _learn(tmp_path, store)
    assert result.exit_code == 0, result.output
    opus = next(line for line in result.output.splitlines() if line.startswith("coding") and " opus " in line)
    assert "outside the chain" in opus
    assert "small" in result.output and "wrote" in result.output
    assert "estimates for 2 (route, model) pairs" in result.output  # big and small
    as_json = _learn(tmp_path, store, "--json")
    models = {row["model"]: row for row in json.loads(as_json.stdout)["models"]}
    assert models["opus"]["in_chain"] is False and models["opus"]["held_out"] is None
    assert models["big"]["in_chain"] is True and models["small"]["in_chain"] is True


def test_learning_fits_only_the_chain_and_still_pools_every_models_outcomes() -> None:
    rows = _observations()
    result = learn_and_measure(rows, chains={"coding": ("big", "small")})
    assert set(result.learned.models("coding")) == {"big", "small"}
    assert len(result.learned.difficulty["coding"].rates) == 40  # every task, opus's outcomes counted
    assert {report.model: report.in_chain for report in result.models} == {"big": True, "small": True, "opus": False}


def test_auc_is_shown_only_from_enough_held_out_successes_and_failures(tmp_path: Path, store: str) -> None:
    result = _learn(tmp_path, store)
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("coding ")}
    big = lines["big"]
    assert "AUC n/a" in big and "0 failures" in big and "held-out tasks" in big
    assert big.split()[5] == "n/a"  # the AUC column: no 0.000 nor 1.000 from a split without failures
    as_json = json.loads(_learn(tmp_path, store, "--json").stdout)
    big_json = next(row for row in as_json["models"] if row["model"] == "big")
    assert big_json["held_out"]["auc"] is None and "0 failures" in big_json["held_out"]["auc_note"]


def test_auc_is_shown_when_the_held_out_split_has_both_outcomes_in_number(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "many.db")
    database = OutcomeDatabase(url)
    database.migrate()
    database.insert_observations(_observations(160))
    database.close()
    result = _learn(tmp_path, url, "--holdout", "0.3")
    assert result.exit_code == 0, result.output
    small = next(line for line in result.output.splitlines() if line.startswith("coding") and " small " in line)
    assert "n/a" not in small and "1.000" in small  # the easy and hard tasks part cleanly
