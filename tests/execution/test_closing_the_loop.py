"""The loop closed end to end: completions through the real litellm, their outcomes reported in the background to a
real routing server, committed to its outcome store, and `semroute report` totals checked against the known costs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.client import RouterClient
from semroute.embedding import FastEmbedEmbedder
from semroute.execution import CompletionError, Provider
from semroute.execution.attempts import cost_usd
from semroute.store import sqlite_url
from tests.execution.conftest import CASCADE_MODELS, EXTRACTION_TASK
from tests.execution.llm_server import Fail, Reply, ScriptedLLMServer
from tests.service.conftest import RunningServer, _start

pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")  # litellm's pydantic models, on first use


@pytest.fixture
def own_server(tmp_path: Path, cascade_index: Path, embedder: FastEmbedEmbedder) -> Iterator[RunningServer]:
    """A routing server of the cascade routes with an outcome store of this test's own."""
    running: RunningServer = _start(cascade_index, tmp_path / "served.zip", embedder)
    yield running
    running.server.stop(0.0, 1.0)


def test_completions_are_reported_recorded_and_priced_by_the_report(
    own_server: RunningServer, llm: ScriptedLLMServer, providers: dict[str, Provider]
) -> None:
    small, mid, big = (CASCADE_MODELS[name] for name in ("small", "mid", "big"))
    with RouterClient(own_server.target) as client:
        llm.script("small", Reply("Ann, Bob", 100, 10))  # not JSON: escalates
        llm.script("mid", Reply('{"names": ["Ann", "Bob"]}', 100, 30))
        escalated = client.complete(EXTRACTION_TASK, providers=providers)
        llm.script("small", Reply('{"names": []}', 80, 5))
        first_try = client.complete(EXTRACTION_TASK, providers=providers)
        llm.script("small", Fail(500))
        llm.script("backup", Fail(429))
        llm.script("mid", Reply("nope", 90, 4))
        llm.script("big", Reply("still nope", 90, 6))
        with pytest.raises(CompletionError) as failed:
            client.complete(EXTRACTION_TASK, providers=providers)
    assert client.report_counters.sent == 3  # closing the client sent what was queued
    expected_cost = (
        cost_usd(small, 100, 10)
        + cost_usd(mid, 100, 30)
        + cost_usd(small, 80, 5)
        + cost_usd(mid, 90, 4)
        + cost_usd(big, 90, 6)
    )
    recorded = escalated.cost_usd + first_try.cost_usd + sum(a.cost_usd for a in failed.value.attempts)
    assert recorded == pytest.approx(expected_cost)

    result = CliRunner().invoke(
        main,
        [
            "report",
            "--since",
            "1d",
            "--format",
            "json",
            "--index",
            str(own_server.index_path),
            "--store",
            sqlite_url(own_server.index_path.with_suffix(".outcomes.db")),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    total = json.loads(result.stdout)["total"]["current"]
    assert (total["requests"], total["completions"], total["accepted"]) == (3, 3, 2)
    assert total["escalation_rate"] == pytest.approx(2 / 3)  # the first and the failed one escalated
    assert (total["input_tokens"], total["output_tokens"]) == (460, 55)
    assert total["cost_usd"] == pytest.approx(expected_cost)
