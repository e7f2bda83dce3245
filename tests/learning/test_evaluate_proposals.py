"""What `semroute evaluate-models` proposes, and what it sends where: data sovereignty (a route reached by a `final`
rule or served by a self-hosted model keeps its tasks and its model inside), no switch away from a current model that
was never measured, and a diff that keeps the current model in the chain and applies with `git apply` and `patch`.

End to end as in :mod:`tests.learning.test_evaluate_models`: the real litellm over loopback HTTP to the scripted
server, the real embedding model, a real SQLite store."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from semroute.errors import ConfigError
from semroute.learning.evaluation_inputs import EvaluationTask, check_sovereignty, sovereignty_of
from semroute.learning.proposals import ModelSummary, propose
from semroute.route_files import load_route_set
from tests.execution.llm_server import Fail, Reply
from tests.learning.test_evaluate_models import (
    JUDGE,
    SUMMARY_TASKS,
    JudgingServer,
    common,
    evaluate,
    write_tasks,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning")  # litellm's pydantic models

SECRETS_FILE = """\
name: secrets
description: Requests carrying sensitive data; reached only by the data_sovereignty rule.
model: vault-7
fallbacks: [vault-8]
override_only: true
utterances: []
"""
LEGAL_FILE = """\
name: legal
model: premium-3
fallbacks: [steady-2]
override_only: true
utterances: []
"""
SECRET_TASKS = [
    "Summarise the claim of the customer with SSN 078-05-1120 (hard)",
    "Draft a reply to the patient whose record number is MRN-5521",
    "List what the contract with SSN 219-09-9999 says about termination",
]
RULES = [
    {
        "name": "data_sovereignty",
        "when": {"metadata": {"data_sensitivity": {"in": ["restricted", "confidential"]}}},
        "then": {"route": "secrets"},
        "final": True,
    },
    {"name": "legal_hold", "when": {"metadata": {"matter": {"equals": "legal"}}}, "then": {"route": "legal"}},
]
ALLOW = "--allow-sovereign-tasks-outside"


@pytest.fixture
def sovereign_routes(routes: Path) -> Path:
    """The test routes, with two self-hosted (free) models in the catalog, a `secrets` route of theirs reached by a
    final rule, and a `legal` route of hosted models that a final rule also guards."""
    router = yaml.safe_load((routes / "router.yaml").read_text())
    for name in ("vault-7", "vault-8"):
        router["models"][name] = {
            "litellm": f"hosted_vllm/acme/{name}",
            "tier": "self_hosted",
            "input_cost_per_mtok": 0.0,
            "output_cost_per_mtok": 0.0,
            "context_window": 128_000,
        }
    legal_rule = dict(RULES[1], final=True)
    router["rules"] = [RULES[0], legal_rule]
    (routes / "router.yaml").write_text(yaml.safe_dump(router, sort_keys=False))
    (routes / "secrets.yaml").write_text(SECRETS_FILE)
    (routes / "legal.yaml").write_text(LEGAL_FILE)
    return routes


def test_which_routes_are_sovereign_and_what_may_serve_them(sovereign_routes: Path) -> None:
    route_set = load_route_set(sovereign_routes)
    secrets = sovereignty_of(route_set, "secrets")
    assert secrets is not None and secrets.allowed == frozenset({"vault-7", "vault-8"})
    assert "final rule data_sovereignty" in secrets.why and "self-hosted" in secrets.why
    legal = sovereignty_of(route_set, "legal")  # guarded by a final rule: its own chain, and self-hosted models
    assert legal is not None and legal.allowed == frozenset({"premium-3", "steady-2", "vault-7", "vault-8"})
    assert legal.why == "reached by the final rule legal_hold"
    assert sovereignty_of(route_set, "summaries") is None  # no final rule leads there, no self-hosted model

    # without the final rule, a route is still sovereign when its model is self-hosted
    router = yaml.safe_load((sovereign_routes / "router.yaml").read_text())
    router["rules"] = []
    (sovereign_routes / "router.yaml").write_text(yaml.safe_dump(router, sort_keys=False))
    alone = sovereignty_of(load_route_set(sovereign_routes), "secrets")
    assert alone is not None and alone.why == "its model vault-7 is self-hosted"


def test_tasks_of_a_sovereign_route_are_never_sent_outside_it_unless_the_user_says_so(
    tmp_path: Path, sovereign_routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    tasks = write_tasks(tmp_path / "t_sov.jsonl", [(text, "secrets") for text in SECRET_TASKS])
    args = ["--models", "thrifty-1,vault-7", "--judge", JUDGE, "--seed", "1"]
    result = evaluate(*common(tmp_path, sovereign_routes, providers_file, tasks, *args))
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "3 tasks of route secrets (reached by the final rule data_sovereignty" in message
    assert "may go only to vault-7, vault-8" in message
    assert "--models thrifty-1 and --judge judge-9 are outside it" in message and ALLOW in message
    assert llm.received == [] and not (tmp_path / "outcomes.db").exists()  # nothing was sent, nothing written

    # a judge outside the route alone is refused too: it would read every task and every output
    args = ["--models", "vault-7,vault-8", "--judge", JUDGE]
    result = evaluate(*common(tmp_path, sovereign_routes, providers_file, tasks, *args))
    assert result.exit_code == 2 and "--judge judge-9 is outside it" in " ".join(result.stderr.split())
    assert llm.received == []

    # the models of the route, scored by a person: nothing leaves, nothing to confirm
    llm.script("vault-7", Reply("gamma vault", prompt_tokens=100, completion_tokens=20))
    llm.script("vault-8", Reply("alpha vault", prompt_tokens=100, completion_tokens=20))
    args = ["--models", "vault-7,vault-8", "--review", "--seed", "1"]
    result = evaluate(*common(tmp_path, sovereign_routes, providers_file, tasks, *args), input="5\n5\n" * 3)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr and {r.model for r in llm.received} == {"vault-7", "vault-8"}


def test_with_the_users_consent_outside_models_run_but_are_never_proposed(
    tmp_path: Path, sovereign_routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    """The user's report: the self-hosted model unreachable, the hosted one answering well; the proposal moved the
    sovereign route onto the hosted model."""
    llm.script("vault-7", Fail(503, "vault unreachable"))
    tasks = write_tasks(tmp_path / "t_sov.jsonl", [(text, "secrets") for text in SECRET_TASKS])
    args = ["--models", "thrifty-1,vault-7", "--judge", JUDGE, "--seed", "1", ALLOW, "--json"]
    result = evaluate(*common(tmp_path, sovereign_routes, providers_file, tasks, *args))
    assert result.exit_code == 0, result.output
    warning = " ".join(result.stderr.split())
    assert "warning: sending 3 tasks of route secrets" in warning and "to thrifty-1 and judge-9" in warning
    assert warning.index("warning: sending") < warning.index("running 3 tasks")  # said before any call
    (proposal,) = json.loads(result.stdout)["proposals"]
    assert proposal["proposed"] is None and proposal["diff"] == ""
    assert "thrifty-1 may not serve secrets (reached by the final rule data_sovereignty" in proposal["reason"]
    assert "the current model vault-7 was not measured" in proposal["reason"]


def rows(route: str, *models: tuple[str, float, float]) -> list[ModelSummary]:
    return [ModelSummary(route, model, 20, 20, score, 1.0, cost, 50.0, None, 0, 0) for model, score, cost in models]


def test_a_sovereign_route_is_proposed_only_models_of_its_own_kind(sovereign_routes: Path) -> None:
    route_set = load_route_set(sovereign_routes)
    outside = ("thrifty-1", 5.0, 1e-5)
    (kept,) = propose(route_set, sovereign_routes, rows("secrets", outside, ("vault-7", 3.0, 0.0)))
    assert kept.proposed is None and kept.diff == ""
    assert kept.reason.startswith("keep: vault-7") and "thrifty-1 may not serve secrets" in kept.reason
    # the self-hosted fallback scoring as well is free too: proposed, its diff keeps vault-7 in the chain
    (moved,) = propose(
        route_set, sovereign_routes, rows("secrets", outside, ("vault-7", 3.0, 0.0), ("vault-8", 5.0, 0.0))
    )
    assert moved.proposed == "vault-8" and "+fallbacks: [vault-7]" in moved.diff
    # a hosted route under a final rule may move within its chain, never onto a model outside it
    legal = rows("legal", ("premium-3", 5.0, 1e-3), ("steady-2", 4.9, 1e-4), outside)
    (within,) = propose(route_set, sovereign_routes, legal)
    assert within.proposed == "steady-2" and "thrifty-1 may not serve legal" in within.reason


def test_check_sovereignty_warns_with_consent_and_is_silent_for_free_routes(sovereign_routes: Path) -> None:
    route_set = load_route_set(sovereign_routes)
    mixed = [EvaluationTask(SECRET_TASKS[0], "secrets"), EvaluationTask(SUMMARY_TASKS[0], "summaries")]
    models = ["thrifty-1", "vault-7"]
    with pytest.raises(ConfigError, match="1 task of route secrets"):
        check_sovereignty(route_set, mixed, models, None, allow=False)
    (warning,) = check_sovereignty(route_set, mixed, models, None, allow=True)
    assert warning.startswith("warning: sending 1 task of route secrets") and "to thrifty-1" in warning
    assert check_sovereignty(route_set, mixed[1:], models, JUDGE, allow=False) == []


def test_no_switch_is_proposed_away_from_a_current_model_never_measured(
    tmp_path: Path, routes: Path, providers_file: Path, llm: JudgingServer
) -> None:
    """The user's report: `--models gpt-5-mini` alone proposed summarization: gemini-3-flash -> gpt-5-mini, 'within
    0.25 of the best (5.00 against 5.00)', gemini-3-flash never run."""
    tasks = write_tasks(tmp_path / "tasks.jsonl", [(text, "summaries") for text in SUMMARY_TASKS])
    args = ["--models", "thrifty-1", "--judge", JUDGE, "--seed", "4"]
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, *args))
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("  summaries:"))
    assert "->" not in line
    assert "the current model premium-3 was not evaluated (add it to --models to compare)" in line
    assert "thrifty-1 scored 4.75" in line and "(no route change proposed)" in result.stdout

    # run but never answering is not measured either
    llm.script("premium-3", Fail(500, "down"))
    args = ["--models", "thrifty-1,premium-3", "--judge", JUDGE, "--seed", "4", "--json"]
    result = evaluate(*common(tmp_path, routes, providers_file, tasks, *args))
    (proposal,) = json.loads(result.stdout)["proposals"]
    assert proposal["proposed"] is None and proposal["diff"] == ""
    assert "the current model premium-3 was not measured (its provider failed on 4 of 4 tasks)" in proposal["reason"]


def test_propose_without_the_current_model_proposes_nothing(routes: Path) -> None:
    route_set = load_route_set(routes)
    (proposal,) = propose(route_set, routes, rows("summaries", ("thrifty-1", 5.0, 1e-5), ("steady-2", 5.0, 1e-4)))
    assert proposal.proposed is None and proposal.diff == ""
    assert "not evaluated" in proposal.reason and "within" not in proposal.reason


def applied(diff: str, routes: Path, tmp_path: Path, tool: str) -> Path:
    """A copy of ``routes`` with ``diff`` applied by ``git apply`` or ``patch -p1``, from the folder's parent."""
    copy = tmp_path / tool
    shutil.copytree(routes, copy / routes.name)
    command = ["git", "apply", "--check", "-"] if tool == "git-check" else ["git", "apply", "-"]
    if tool == "patch":
        command = ["patch", "-p1", "--batch", "--forward"]
    subprocess.run(command, cwd=copy, input=diff.encode(), check=True, capture_output=True)
    return copy / routes.name


ROUTE_SHAPES = {
    # proposed model not in the chain, block list with a comment: the current model becomes the first fallback
    "block": (
        "name: reviews\nmodel: premium-3  # careful\nfallbacks:\n  - steady-2   # cheaper\nutterances: [review this]\n",
        "thrifty-1",
        ["premium-3", "steady-2"],
    ),
    # no fallbacks at all: a fallbacks line is added after the model
    "none": ("name: reviews\nmodel: premium-3\nutterances:\n  - review this\n", "thrifty-1", ["premium-3"]),
    # the proposed model was the second fallback: it leaves the fallbacks, the current model goes first
    "second": (
        "name: reviews\nmodel: 'premium-3'\nfallbacks: [thrifty-1, \"steady-2\"]\nutterances: [review this]",
        "steady-2",
        ["premium-3", "thrifty-1"],
    ),
    "second-block": (
        "name: reviews\nmodel: premium-3\nfallbacks:\n- thrifty-1\n# the last resort\n- steady-2\nutterances: [x]\n",
        "steady-2",
        ["premium-3", "thrifty-1"],
    ),
}


@pytest.mark.parametrize("shape", sorted(ROUTE_SHAPES))
def test_the_diff_keeps_the_current_model_as_the_first_fallback_and_applies(
    shape: str, routes: Path, tmp_path: Path
) -> None:
    text, proposed, fallbacks = ROUTE_SHAPES[shape]
    (routes / "reviews.yaml").write_text(text)
    route_set = load_route_set(routes)
    summaries = rows("reviews", ("premium-3", 5.0, 1e-3), (proposed, 5.0, 1e-5))
    (proposal,) = propose(route_set, routes, summaries)
    assert proposal.proposed == proposed, proposal.reason
    assert "premium-3 stays in the chain as the first fallback" in proposal.reason
    applied(proposal.diff, routes, tmp_path, "git-check")
    for tool in ("git", "patch"):
        patched = load_route_set(applied(proposal.diff, routes, tmp_path, tool)).route("reviews")
        assert (patched.model, patched.fallbacks) == (proposed, fallbacks)
        assert patched.utterances == route_set.route("reviews").utterances


def test_the_users_code_change_route_keeps_its_model_in_the_chain(tmp_path: Path) -> None:
    """The user's report: code_change lost claude-sonnet-4-6 from its chain altogether."""
    folder = tmp_path / "bundled" / "routes"
    shutil.copytree(Path(__file__).resolve().parents[2] / "routes", folder)
    route_set = load_route_set(folder)
    summaries = rows("code_change", ("claude-sonnet-4-6", 4.9, 1e-2), ("gpt-5-mini", 4.8, 1e-3))
    (proposal,) = propose(route_set, folder, summaries)
    assert proposal.proposed == "gpt-5-mini"
    changed = [line for line in proposal.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        "-model: claude-sonnet-4-6",
        "-fallbacks: [gpt-5.2, deepseek-v3.2]",
        "+model: gpt-5-mini",
        "+fallbacks: [claude-sonnet-4-6, gpt-5.2, deepseek-v3.2]",
    ]
    patched = load_route_set(applied(proposal.diff, folder, tmp_path / "applied", "git")).route("code_change")
    assert patched.fallbacks == ["claude-sonnet-4-6", "gpt-5.2", "deepseek-v3.2"]


def test_the_bundled_self_hosted_route_is_never_moved_to_a_hosted_model(tmp_path: Path) -> None:
    """The user's exact case on the bundled routes: qwen unreachable, gpt-5-mini scored."""
    bundled = Path(__file__).resolve().parents[2] / "routes"
    route_set = load_route_set(bundled)
    sovereign = sovereignty_of(route_set, "self_hosted")
    assert sovereign is not None and sovereign.allowed == {"qwen3.5-397b-self-hosted", "llama-4-self-hosted"}
    failing = ModelSummary("self_hosted", "qwen3.5-397b-self-hosted", 3, 0, None, None, None, None, None, 3, 0)
    (proposal,) = propose(route_set, bundled, [*rows("self_hosted", ("gpt-5-mini", 5.0, 1e-4)), failing])
    assert proposal.proposed is None and proposal.diff == ""
    tasks = [EvaluationTask("Summarise the file of SSN 078-05-1120", "self_hosted")]
    with pytest.raises(ConfigError, match="gpt-5-mini and --judge claude-opus-4-6 are outside it"):
        check_sovereignty(route_set, tasks, ["gpt-5-mini", "qwen3.5-397b-self-hosted"], "claude-opus-4-6", allow=False)
