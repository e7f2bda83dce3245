"""`semroute evaluate-models --review` interrupted (end of input, Ctrl-C, a crash) keeps what was paid for and what the
reviewer scored: the scores of every finished task go into the store, every model's outputs stay in a review file, and
`--resume FILE` scores the rest without calling a model again. End to end as in
:mod:`tests.learning.test_evaluate_models`."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from semroute.learning import evaluate_cli
from tests.learning.test_evaluate_models import (
    CANDIDATES,
    CODE_TASKS,
    JUDGE,
    SUMMARY_TASKS,
    JudgingServer,
    common,
    evaluate,
    stored,
    write_tasks,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")  # litellm's pydantic models

TASKS = [(SUMMARY_TASKS[0], "summaries"), (SUMMARY_TASKS[1], "summaries"), (CODE_TASKS[0], "code_fix")]
MODELS = ",".join(CANDIDATES)


def flat(text: str) -> str:
    return " ".join(text.split())


def test_end_of_input_keeps_the_finished_tasks_and_resume_scores_the_rest_without_calling_a_model(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl", TASKS)
    review_file = tmp_path / "tasks.review.json"
    args = common(tmp_path, routes, providers_file, tasks, "--models", MODELS, "--review", "--seed", "3")
    result = evaluate(*args, input="5\n4\n3\n5\n")  # the first task, one score of the second, then end of input
    assert result.exit_code == 1
    said = flat(result.stderr)
    assert "review interrupted: 1 of 3 tasks scored" in said
    assert "their 3 scores are recorded in sqlite:///" in said and "the task on screen was not kept" in said
    assert f"run the same command with --resume {review_file}" in said and "Aborted!" not in said
    assert len(stored(tmp_path)) == 3 and len(llm.received) == 9
    assert stat.S_IMODE(review_file.stat().st_mode) == 0o600  # it holds the task texts and outputs
    saved = json.loads(review_file.read_text())
    assert len(saved["runs"]) == 9 and len(saved["scores"]) == 3

    llm.received.clear()
    result = evaluate(*args, input="5\n" * 9)  # the same command again would pay for every call twice
    assert result.exit_code == 2 and llm.received == []
    assert f"{review_file} holds an interrupted review of these tasks: go on with it with --resume" in flat(
        result.stderr
    )
    result = evaluate(*args, "--resume", review_file, input="2\n2\n2\n")  # the second task, then end of input
    assert result.exit_code == 1 and "review interrupted: 2 of 3 tasks scored" in flat(result.stderr)
    assert "task 2 of 3" in result.stderr and "task 1 of 3" not in result.stderr
    assert len(stored(tmp_path)) == 6 and llm.received == []

    result = evaluate(*args, "--resume", review_file, input="1\n1\n1\n")
    assert result.exit_code == 0, result.output
    assert llm.received == [] and not review_file.exists()
    assert len(stored(tmp_path)) == 9  # every score once
    assert "recorded 3 observations" in result.stdout  # this run's: the others were recorded before
    summaries = next(line.split() for line in result.stdout.splitlines() if line.startswith("summaries"))
    assert summaries[2] == "2"  # the figures cover every task, scored across the three runs
    assert f"review complete: removed {review_file}" in result.stderr


def test_ctrl_c_keeps_the_finished_tasks(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter([4, 4, 4, 5])

    def prompt(*_: Any, **__: Any) -> int:
        answer = next(answers, None)
        if answer is None:
            raise KeyboardInterrupt
        return answer

    monkeypatch.setattr(evaluate_cli.click, "prompt", prompt)
    tasks = write_tasks(tmp_path / "tasks.jsonl", TASKS)
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, "--models", MODELS, "--review"))
    assert result.exit_code == 1
    assert "review interrupted: 1 of 3 tasks scored" in flat(result.stderr)
    assert sorted(observation.quality for observation in stored(tmp_path)) == [0.75] * 3


def test_a_crash_mid_review_leaves_the_outputs_and_scores_for_resume(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers: Iterator[int] = iter([5, 5, 5])
    real_prompt = click.prompt

    def prompt(*_: Any, **__: Any) -> int:
        answer = next(answers, None)
        if answer is None:
            raise RuntimeError("the terminal went away")
        return answer

    monkeypatch.setattr(evaluate_cli.click, "prompt", prompt)
    tasks = write_tasks(tmp_path / "tasks.jsonl", TASKS)
    args = common(tmp_path, routes, providers_file, tasks, "--models", MODELS, "--review")
    with pytest.raises(RuntimeError):
        evaluate(*args)
    assert stored(tmp_path) == []
    review_file = tmp_path / "tasks.review.json"
    assert len(json.loads(review_file.read_text())["scores"]) == 3  # written as each task was finished

    monkeypatch.setattr(evaluate_cli.click, "prompt", real_prompt)
    llm.received.clear()
    result = evaluate(*args, "--resume", review_file, input="2\n2\n2\n" * 2)
    assert result.exit_code == 0, result.output
    assert llm.received == [] and len(stored(tmp_path)) == 9 and "recorded 9 observations" in result.stdout


def test_resume_checks_the_review_file_against_the_command(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl", TASKS)
    args = common(tmp_path, routes, providers_file, tasks, "--models", MODELS, "--review")
    assert evaluate(*args, input="5\n5\n5\n").exit_code == 1
    review_file = tmp_path / "tasks.review.json"
    llm.received.clear()

    other = common(tmp_path, routes, providers_file, tasks, "--models", "thrifty-1,premium-3", "--review")
    result = evaluate(*other, "--resume", review_file)
    assert result.exit_code == 2
    assert f"{review_file}: saved for --models {MODELS}, not thrifty-1,premium-3" in flat(result.stderr)

    fewer = write_tasks(tmp_path / "fewer.jsonl", TASKS[:2])
    result = evaluate(
        *common(tmp_path, routes, providers_file, fewer, "--models", MODELS, "--review"), "--resume", review_file
    )
    assert result.exit_code == 2 and "saved for other tasks than" in flat(result.stderr)

    (tmp_path / "broken.json").write_text("{")
    result = evaluate(*args, "--resume", tmp_path / "broken.json")
    assert result.exit_code == 2 and "not a review file of evaluate-models" in flat(result.stderr)
    assert llm.received == []


def test_a_judged_run_writes_no_review_file(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl", TASKS)
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, "--models", MODELS, "--judge", JUDGE))
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "tasks.review.json").exists()
