"""`semroute evaluate-models` end to end: the real litellm over loopback HTTP to a scripted OpenAI-compatible server
(whose judge scores what it is shown), the real embedding model, a real SQLite outcome store, and `patch` applying
the proposed diff to a copy of the routes."""

from __future__ import annotations

import gc
import inspect
import json
import random
import re
import shutil
import sqlite3
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner, Result

from semroute.cli import main
from semroute.embedding import FastEmbedEmbedder
from semroute.errors import RouteFileError
from semroute.execution._litellm import import_litellm
from semroute.features import structural_features
from semroute.learning.blind import BlindTask, UnscoredError, blind, parse_scores, unblind
from semroute.learning.evaluate_cli import evaluate_models
from semroute.learning.evaluation_inputs import EvaluationTask
from semroute.learning.observations import Observation
from semroute.learning.proposals import ModelSummary, edited_route_text, propose
from semroute.route_files import load_route_set
from semroute.schema import RouteSpec
from semroute.store import OutcomeDatabase, sqlite_url
from semroute.task_part import EmbedPart, part_to_embed
from tests.execution.conftest import litellm_imported  # noqa: F401  (autouse: litellm imported once per session)
from tests.execution.llm_server import Behaviour, Fail, Reply, ScriptedLLMServer

pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")  # litellm's pydantic models, on first use

JUDGE = "judge-9"
# Catalog name -> (litellm name, USD per million input tokens, per million output tokens, recognisable output)
CANDIDATES = {
    "thrifty-1": ("acme/thrifty-lm", 0.1, 0.4, "alpha"),
    "steady-2": ("acme/steady-lm", 1.0, 4.0, "beta"),
    "premium-3": ("acme/premium-lm", 10.0, 40.0, "gamma"),
}
NAMES = [*CANDIDATES, JUDGE, *(litellm for litellm, *_ in CANDIDATES.values()), "acme/judge-lm"]
SUMMARIES_FILE = """\
# Summaries of articles, threads and meetings.
name: summaries
description: Summaries and TL;DRs.
model: premium-3   # the careful one
fallbacks: [thrifty-1, steady-2]
config:
  temperature: 0.3
  max_output_tokens: 400
utterances:
  - Summarize this article in three bullet points
  - tl;dr of this thread?
"""
CODE_FILE = """\
name: code_fix
model: thrifty-1
fallbacks:
  - steady-2
utterances:
  - fix the off-by-one in this loop
  - why does this function throw a KeyError
"""
GENERAL_FILE = """\
name: general
model: steady-2
utterances: [write a poem about the sea, tell me a joke]
"""
SUMMARY_TASKS = [
    "Summarize this article about river otters in three bullet points",
    "tl;dr of this thread about the office move (hard)",
    "Give me a two-sentence recap of the quarterly meeting notes",
    "Summarize these release notes for the sales team",
]
CODE_TASKS = [
    "fix the off-by-one in paginate() in utils.py",
    "why does parse_config throw a KeyError on empty files",
    "fix the race in the cache warm-up of server.py",
    "make the retry loop in client.py stop after five tries",
]


class JudgingServer(ScriptedLLMServer):
    """The scripted server, whose judge model answers what ``judge_rule`` makes of the prompt it receives."""

    judge_rule: Callable[[str], str] | None = None

    def next_behaviour(self, body: dict[str, Any]) -> Behaviour:
        scripted = super().next_behaviour(body)  # records the request
        if body.get("model") == JUDGE and self.judge_rule is not None:
            return Reply(self.judge_rule(user_prompt(body)), prompt_tokens=300, completion_tokens=12)
        return scripted


def user_prompt(body: dict[str, Any]) -> str:
    return next(str(message["content"]) for message in body["messages"] if message["role"] == "user")


def shown_responses(prompt: str) -> list[tuple[str, str]]:
    """(label, output) pairs of a judge prompt, in shown order."""
    return re.findall(r'<response label="(Response \d+)">\n(.*?)\n</response>', prompt, re.DOTALL)


def task_of(prompt: str) -> str:
    found = re.search(r"<task>\n(.*?)\n</task>", prompt, re.DOTALL)
    assert found is not None
    return found[1]


def fair_judge(prompt: str) -> str:
    """Scores by the recognisable text of each output: alpha 5 (4 on a hard task), beta 1, gamma 5; prose when the
    task asks to confuse it."""
    task = task_of(prompt)
    if "(confuse)" in task:
        return "Response 1 is clearly the best of these."
    scores = {"alpha": 4 if "(hard)" in task else 5, "beta": 1, "gamma": 5}
    return json.dumps({label: scores[output.split()[0]] for label, output in shown_responses(prompt)})


@pytest.fixture(scope="module")
def judging_server() -> Iterator[JudgingServer]:
    server = JudgingServer()
    server.start()
    yield server
    server.stop()
    close_cached_clients()
    # concurrent calls make litellm create clients it does not cache: their connections are collected here, with
    # their ResourceWarning ignored, and not in a later test, where the warning would fail that test
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def close_cached_clients() -> None:
    """Close the HTTP clients litellm keeps cached for an hour, with their keep-alive connections to the scripted
    server: left open, they are reported unclosed (an error here) when the interpreter collects them."""
    cache = import_litellm().in_memory_llm_clients_cache
    for client in list(cache.cache_dict.values()):
        close = getattr(client, "close", None)
        if callable(close) and not inspect.iscoroutinefunction(close):
            close()
    cache.flush_cache()


@pytest.fixture
def llm(judging_server: JudgingServer) -> JudgingServer:
    """Every candidate answers with its recognisable text and 100 + 20 tokens; the judge is fair."""
    judging_server.reset()
    for name, (*_, word) in CANDIDATES.items():
        judging_server.script(name, Reply(f"{word} answer", prompt_tokens=100, completion_tokens=20))
    judging_server.judge_rule = fair_judge
    return judging_server


@pytest.fixture
def routes(tmp_path: Path, model_dir: Path) -> Path:
    folder = tmp_path / "routes"
    folder.mkdir()
    catalog = {
        name: {"litellm": litellm, "tier": "mid", "input_cost_per_mtok": cost_in, "output_cost_per_mtok": cost_out}
        for name, (litellm, cost_in, cost_out, _) in CANDIDATES.items()
    }
    catalog[JUDGE] = {"litellm": "acme/judge-lm", "tier": "frontier", "input_cost_per_mtok": 2.0}
    catalog[JUDGE]["output_cost_per_mtok"] = 8.0
    for entry in catalog.values():
        entry["context_window"] = 128_000
    router = {"settings": {"embedding": {"path": str(model_dir)}, "default_route": "general"}, "models": catalog}
    (folder / "router.yaml").write_text(yaml.safe_dump(router, sort_keys=False), encoding="utf-8")
    for name, text in (("summaries", SUMMARIES_FILE), ("code_fix", CODE_FILE), ("general", GENERAL_FILE)):
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def providers_file(tmp_path: Path, judging_server: JudgingServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every model sent, in OpenAI format under its catalog name, to the scripted server; the key from the
    environment."""
    monkeypatch.setenv("EVALUATE_TEST_KEY", "test")
    path = tmp_path / "providers.yaml"
    entry = {"model": "openai/{name}", "api_base": judging_server.api_base, "api_key_env": "EVALUATE_TEST_KEY"}
    path.write_text(yaml.safe_dump({"*": entry}), encoding="utf-8")
    return path


def write_tasks(path: Path, tasks: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"text": text, "route": route}) + "\n" for text, route in tasks))
    return path


def all_tasks() -> list[tuple[str, str]]:
    return [(text, "summaries") for text in SUMMARY_TASKS] + [(text, "code_fix") for text in CODE_TASKS]


def evaluate(*args: str | Path, input: str | None = None) -> Result:
    return CliRunner().invoke(evaluate_models, [str(arg) for arg in args], input=input, catch_exceptions=False)


def common(tmp_path: Path, routes: Path, providers_file: Path, tasks: Path, *more: str | Path) -> list[str | Path]:
    store = sqlite_url(tmp_path / "outcomes.db")
    return ["--tasks", tasks, "--routes", routes, "--providers", providers_file, "--store", store, *more]


def stored(tmp_path: Path) -> list[Observation]:
    database = OutcomeDatabase(sqlite_url(tmp_path / "outcomes.db"))
    try:
        return database.observations()
    finally:
        database.close()


def by_model(observations: list[Observation]) -> dict[str, list[Observation]]:
    found: dict[str, list[Observation]] = {}
    for observation in sorted(observations, key=lambda item: item.task_id):
        found.setdefault(observation.model, []).append(observation)
    return found


def judge_prompts(server: ScriptedLLMServer) -> list[str]:
    return [user_prompt(request.body) for request in server.received if request.model == JUDGE]


def test_scores_are_unshuffled_recorded_summarised_and_proposed_as_a_diff(
    tmp_path: Path,
    routes: Path,
    providers_file: Path,
    llm: JudgingServer,
    embedder: FastEmbedEmbedder,
) -> None:
    before = {path.name: path.read_bytes() for path in routes.iterdir()}
    tasks = write_tasks(tmp_path / "tasks.jsonl", all_tasks())
    diff_out = tmp_path / "proposal.diff"
    args = ["--models", ",".join(CANDIDATES), "--judge", JUDGE, "--seed", "7", "--diff-out", diff_out, "--json"]
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, *args))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)

    # every task ran on every model with the route's config; one judge call per task
    candidate_bodies = [request.body for request in llm.received if request.model in CANDIDATES]
    assert len(candidate_bodies) == 8 * 3
    route_of = dict(all_tasks())
    configs = {
        (route_of[user_prompt(body)], body.get("temperature"), body.get("max_tokens")) for body in candidate_bodies
    }
    assert configs == {("summaries", 0.3, 400), ("code_fix", None, None)}
    assert len(judge_prompts(llm)) == 8

    # the stored observations: the judge's scores mapped back to the models that wrote the outputs
    observations = by_model(stored(tmp_path))
    assert sorted(observations) == sorted(CANDIDATES)
    qualities = {
        model: sorted(o.quality for o in items if o.route == "summaries") for model, items in observations.items()
    }
    assert qualities == {"thrifty-1": [0.75, 1.0, 1.0, 1.0], "steady-2": [0.0] * 4, "premium-3": [1.0] * 4}
    assert all(o.quality == 1.0 for o in observations["thrifty-1"] if o.route == "code_fix")
    texts = {text for text, _ in all_tasks()}
    vectors = dict(
        zip(sorted(texts), embedder.embed([part_to_embed(t, EmbedPart.WHOLE) for t in sorted(texts)]), strict=True)
    )
    for model, items in observations.items():
        _, cost_in, cost_out, _ = CANDIDATES[model]
        assert len(items) == 8
        for observation in items:
            text = next(t for t in texts if EvaluationTask(t, observation.route).task_id == observation.task_id)
            assert observation.source == "evaluate-models" and observation.propensity == 1.0
            assert (observation.input_tokens, observation.output_tokens) == (100, 20)
            assert observation.cost_usd == pytest.approx((100 * cost_in + 20 * cost_out) / 1e6)
            assert observation.latency_ms is not None and observation.latency_ms > 0
            assert observation.features == structural_features(text)
            assert np.allclose(observation.embedding, vectors[text], atol=2e-3)  # stored as float16
    with sqlite3.connect(tmp_path / "outcomes.db") as connection:  # privacy by default: no task text
        assert connection.execute("SELECT count(*) FROM observations WHERE text IS NOT NULL").fetchone() == (0,)

    # the printed figures
    rows = {(row["route"], row["model"]): row for row in report["results"]}
    thrifty = rows["summaries", "thrifty-1"]
    assert (thrifty["tasks"], thrifty["scored"], thrifty["mean_score"], thrifty["success_rate"]) == (4, 4, 4.75, 1.0)
    assert thrifty["mean_cost_usd"] == pytest.approx(1.8e-5)
    assert thrifty["quality_per_dollar"] == pytest.approx(4.75 / 1.8e-5)
    assert (thrifty["provider_errors"], thrifty["unscored"]) == (0, 0)
    assert rows["summaries", "steady-2"]["mean_score"] == 1.0 and rows["summaries", "steady-2"]["success_rate"] == 0.0
    assert rows["summaries", "premium-3"]["mean_score"] == 5.0
    assert rows["code_fix", "thrifty-1"]["mean_score"] == 5.0
    assert report["scoring"]["judge"] == JUDGE and report["scoring"]["calls"] == 8
    assert report["scoring"]["cost_usd"] == pytest.approx(8 * (300 * 2.0 + 12 * 8.0) / 1e6)
    assert report["store"]["observations"] == 24 and report["seed"] == 7

    # the proposal: the cheap model, within 0.25 of the best, swapped with the current model in the fallbacks
    proposals = {proposal["route"]: proposal for proposal in report["proposals"]}
    assert (proposals["summaries"]["current"], proposals["summaries"]["proposed"]) == ("premium-3", "thrifty-1")
    assert proposals["code_fix"]["proposed"] is None and proposals["code_fix"]["reason"].startswith("keep")
    assert proposals["code_fix"]["diff"] == "" and "general" not in proposals
    diff = diff_out.read_text()
    assert diff == proposals["summaries"]["diff"]
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == [
        "-model: premium-3   # the careful one",
        "-fallbacks: [thrifty-1, steady-2]",
        "+model: thrifty-1   # the careful one",
        "+fallbacks: [premium-3, steady-2]",
    ]
    assert {path.name: path.read_bytes() for path in routes.iterdir()} == before  # never applied

    copy = tmp_path / "copy"
    shutil.copytree(routes, copy / "routes")
    subprocess.run(["patch", "-p1", "-d", str(copy), "--batch"], input=diff.encode(), check=True, capture_output=True)
    patched = load_route_set(copy / "routes").route("summaries")
    assert (patched.model, patched.fallbacks) == ("thrifty-1", ["premium-3", "steady-2"])
    expected = SUMMARIES_FILE.replace("premium-3   #", "thrifty-1   #").replace("[thrifty-1,", "[premium-3,")
    assert (copy / "routes" / "summaries.yaml").read_text() == expected


def test_the_judge_never_sees_a_model_name_and_the_order_changes_per_task(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl", all_tasks())
    args = ["--models", ",".join(CANDIDATES), "--judge", JUDGE, "--seed", "11", "--json"]
    assert evaluate(*common(tmp_path, routes, providers_file, tasks, *args)).exit_code == 0
    judged = [request.body for request in llm.received if request.model == JUDGE]
    assert len(judged) == 8
    for body in judged:
        seen = json.dumps(body["messages"])
        assert not [name for name in NAMES if name in seen], seen
        assert {output.split()[0] for _, output in shown_responses(user_prompt(body))} == {"alpha", "beta", "gamma"}
    orders = {task_of(p): tuple(out.split()[0] for _, out in shown_responses(p)) for p in judge_prompts(llm)}
    assert len(set(orders.values())) > 1  # not one order for every task

    llm.received.clear()  # the same seed shows the same order again
    assert evaluate(*common(tmp_path, routes, providers_file, tasks, *args)).exit_code == 0
    again = {task_of(p): tuple(out.split()[0] for _, out in shown_responses(p)) for p in judge_prompts(llm)}
    assert again == orders


def test_a_malformed_judge_answer_leaves_that_task_unscored(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    confusing = "Summarize the board minutes (confuse)"
    tasks = tmp_path / "tasks.yaml"  # a YAML list, two lines per task: the ninth starts on line 17
    items = [*all_tasks(), (confusing, "summaries")]
    tasks.write_text("".join(f"- text: {json.dumps(text)}\n  route: {route}\n" for text, route in items))
    args = ["--models", ",".join(CANDIDATES), "--judge", JUDGE, "--seed", "3"]
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, *args))
    assert result.exit_code == 0, result.output
    assert "unscored tasks" in result.stdout
    assert f"{tasks}, line 17 (summaries): the judge's answer is not JSON: 'Response 1 is clearly" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("summaries") and "thrifty-1" in line)
    assert row.split()[2:5] == ["5", "4.75", "100%"] and row.split()[-2:] == ["0", "1"]  # 5 tasks, 1 unscored
    observations = stored(tmp_path)
    assert len(observations) == 24  # the confusing task's three outputs are not recorded
    assert EvaluationTask(confusing, "summaries").task_id not in {o.task_id for o in observations}


def test_a_failing_provider_is_recorded_as_such_and_the_rest_goes_on(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    llm.script("steady-2", Fail(500, "upstream overloaded"))
    tasks = write_tasks(tmp_path / "tasks.jsonl", all_tasks())
    args = ["--models", ",".join(CANDIDATES), "--judge", JUDGE, "--seed", "5", "--store-text"]
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, *args))
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.split("\n\n")[1].splitlines()
    assert header.split()[:4] == ["route", "model", "tasks", "mean"]
    steady = next(row.split() for row in rows if row.startswith("summaries") and "steady-2" in row)
    assert steady == ["summaries", "steady-2", "4", "-", "-", "-", "-", "-", "4", "0"]
    failure = next(line for line in result.stdout.splitlines() if f"{tasks}, line 1, steady-2: " in line)
    assert "InternalServerError" in failure and "upstream overloaded" in failure
    assert {len(shown_responses(prompt)) for prompt in judge_prompts(llm)} == {2}
    assert sorted(by_model(stored(tmp_path))) == ["premium-3", "thrifty-1"]
    assert "-model: premium-3" in result.stdout and "+model: thrifty-1" in result.stdout
    with sqlite3.connect(tmp_path / "outcomes.db") as connection:  # --store-text: the texts are kept
        kept = {row[0] for row in connection.execute("SELECT text FROM observations")}
    assert kept == {text for text, _ in all_tasks()}


def test_a_failing_judge_leaves_every_task_unscored_and_proposes_nothing(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    llm.judge_rule = None
    llm.script(JUDGE, Fail(429, "judge rate limited"))
    tasks = write_tasks(tmp_path / "tasks.jsonl", all_tasks()[:2])
    result = evaluate(
        *common(tmp_path, routes, providers_file, tasks, "--models", "thrifty-1,premium-3", "--judge", JUDGE)
    )
    assert result.exit_code == 0, result.output
    assert f"{tasks}, line 2 (summaries): the judge call failed (" in result.stdout
    assert "RateLimitError" in result.stdout and "judge rate limited" in result.stdout
    assert "summaries: no output was scored on this route" in result.stdout
    assert "(no route change proposed)" in result.stdout and stored(tmp_path) == []


def test_review_shows_shuffled_unnamed_responses_and_prompts_a_score_per_label(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl", [(SUMMARY_TASKS[0], "summaries"), (CODE_TASKS[0], "code_fix")])
    args = ["--models", ",".join(CANDIDATES), "--review", "--seed", "2"]
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, *args), input="9\n5\n4\n3\n2\n2\n2\n")
    assert result.exit_code == 0, result.output
    shown = result.stderr
    assert "task 1 of 2" in shown and "task 2 of 2" in shown and SUMMARY_TASKS[0] in shown
    assert all(f"----- Response {n} -----" in shown for n in (1, 2, 3))
    assert "alpha answer" in shown and "Error: 9 is not in the range 1<=x<=5" in shown
    assert not [name for name in NAMES if name in shown]
    assert not [request for request in llm.received if request.model == JUDGE]
    observations = stored(tmp_path)
    per_task: dict[str, list[float]] = {}
    for observation in observations:
        per_task.setdefault(observation.route, []).append(observation.quality)
    assert sorted(per_task["summaries"]) == [0.5, 0.75, 1.0] and per_task["code_fix"] == [0.25] * 3
    assert "reviewed" in result.stdout


def test_unknown_models_routes_and_settings_are_named(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = write_tasks(tmp_path / "tasks.jsonl", all_tasks())
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, "--models", "thrifty-1,gpt-9", "--review"))
    assert result.exit_code == 2
    assert "--models: unknown model 'gpt-9'; the catalog in router.yaml has: judge-9, premium-3, " in result.stderr

    result = evaluate(*common(tmp_path, routes, providers_file, tasks, "--models", "thrifty-1", "--judge", "oracle"))
    assert result.exit_code == 2 and "--judge: unknown model 'oracle'" in result.stderr

    bad = write_tasks(tmp_path / "bad.jsonl", [(SUMMARY_TASKS[0], "summaries"), ("translate this", "translation")])
    with bad.open("a") as file:
        file.write(json.dumps({"text": "", "route": "summaries"}) + "\n")
        file.write(json.dumps({"text": SUMMARY_TASKS[0], "route": "summaries"}) + "\n")
    result = evaluate(*common(tmp_path, routes, providers_file, bad, "--models", "thrifty-1", "--review"))
    assert result.exit_code == 2
    assert (
        f"{bad}, line 2: field 'route': unknown route 'translation'; the route set has: code_fix, general, summaries"
        in result.stderr
    )
    assert f"{bad}, line 3: field 'text': a task needs a non-empty text" in result.stderr
    assert f"{bad}, line 4: repeats the task of line 1" in result.stderr

    monkeypatch.delenv("EVALUATE_TEST_KEY")
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, "--models", "thrifty-1", "--review"))
    assert result.exit_code == 2
    assert "model 'thrifty-1': the environment variable EVALUATE_TEST_KEY is not set" in result.stderr

    result = evaluate(*common(tmp_path, routes, providers_file, tasks, "--models", "thrifty-1"))
    assert result.exit_code == 2 and "give either --judge MODEL or --review" in result.stderr

    through_main = ["evaluate-models", *map(str, common(tmp_path, routes, providers_file, tasks)), "--review"]
    result = CliRunner().invoke(main, [*through_main, "--models", "gpt-9"], catch_exceptions=False)
    assert result.exit_code == 2 and "--models: unknown model 'gpt-9'" in result.stderr
    assert llm.received == [] and not (tmp_path / "outcomes.db").exists()  # nothing ran, nothing was written


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("Response 1: 5", "not JSON"),
        ("[5, 1]", "not a JSON object"),
        ('{"Response 1": 5}', "lacks Response 2"),
        ('{"Response 1": 5, "Response 2": 1, "Response 3": 4}', "adds Response 3"),
        ('{"Response 1": 6, "Response 2": 1}', "scored Response 1 6"),
        ('{"Response 1": "5", "Response 2": 1}', 'scored Response 1 "5"'),
        ('{"Response 1": 4.5, "Response 2": 1}', "scored Response 1 4.5"),
        ('{"Response 1": true, "Response 2": 1}', "scored Response 1 true"),
    ],
)
def test_judge_answers_are_parsed_strictly(answer: str, problem: str) -> None:
    with pytest.raises(UnscoredError, match=re.escape(problem)):
        parse_scores(answer, ["Response 1", "Response 2"])


def test_a_fenced_json_answer_is_read() -> None:
    answer = '```json\n{"Response 2": 1, "Response 1": 5}\n```'
    assert parse_scores(answer, ["Response 1", "Response 2"]) == {"Response 1": 5, "Response 2": 1}


def test_blinding_keeps_the_key_out_of_what_is_shown_and_unblinding_inverts_it() -> None:
    outputs = {"thrifty-1": "alpha", "steady-2": "beta", "premium-3": "gamma"}
    rng = random.Random(1)
    keys = set()
    for _ in range(20):
        task, key = blind("the task", outputs, rng)
        assert isinstance(task, BlindTask) and not [name for name in outputs if name in repr(task)]
        assert [outputs[model] for model in key] == [output for _, output in task.responses]
        scores = {label: number for number, label in enumerate(task.labels, start=1)}
        assert unblind(scores, key) == {model: key.index(model) + 1 for model in outputs}
        keys.add(key)
    assert len(keys) > 1


def test_a_route_file_that_cannot_be_edited_line_by_line_gets_no_diff(tmp_path: Path) -> None:
    route = RouteSpec(name="summaries", model="premium-3", fallbacks=["thrifty-1"], utterances=["tl;dr"])
    flow = "{name: summaries, model: premium-3, fallbacks: [thrifty-1], utterances: [tl;dr]}\n"
    with pytest.raises(RouteFileError, match="no single top-level `model:` line"):
        edited_route_text(tmp_path / "summaries.yaml", flow, route, "thrifty-1")
    block = "name: summaries\nmodel: 'premium-3'\nfallbacks:\n- thrifty-1  # cheap\nutterances: [tl;dr]"
    edited = edited_route_text(tmp_path / "summaries.yaml", block, route, "thrifty-1")
    assert edited == "name: summaries\nmodel: 'thrifty-1'\nfallbacks:\n- premium-3  # cheap\nutterances: [tl;dr]"


def summary(model: str, mean_score: float, cost: float, provider_errors: int = 0) -> ModelSummary:
    return ModelSummary(
        "summaries", model, 20, 20 - provider_errors, mean_score, 1.0, cost, 50.0, None, provider_errors, 0
    )


def test_the_cheapest_model_within_the_quality_loss_is_proposed_unless_it_failed_too_often(routes: Path) -> None:
    route_set = load_route_set(routes)
    rows = [summary("premium-3", 5.0, 1e-3), summary("steady-2", 4.8, 1e-4), summary("thrifty-1", 4.5, 1e-5)]
    (tight,) = propose(route_set, routes, rows, max_quality_loss=0.25)
    assert (tight.current, tight.proposed) == ("premium-3", "steady-2") and "+model: steady-2" in tight.diff
    (loose,) = propose(route_set, routes, rows, max_quality_loss=0.5)
    assert loose.proposed == "thrifty-1" and "+fallbacks: [premium-3, steady-2]" in loose.diff
    (strict,) = propose(route_set, routes, rows, max_quality_loss=0.0)
    assert strict.proposed is None and strict.reason.startswith("keep: premium-3") and strict.diff == ""
    for errors, proposed in ((2, "steady-2"), (3, None)):  # up to 10 % of the tasks may fail, not more
        failing = [rows[0], summary("steady-2", 5.0, 1e-4, provider_errors=errors), rows[2]]
        assert propose(route_set, routes, failing, max_quality_loss=0.25)[0].proposed == proposed
