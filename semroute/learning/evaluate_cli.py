"""``semroute evaluate-models``: run representative tasks per route against candidate models, score the outputs
blind (an LLM judge, or a person at the terminal), record the scores in the outcome store, print quality, cost and
latency per route and model, and propose, never apply, a model per route as a diff of the route files."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from semroute.cli_options import ROUTES_OPTION, store_option
from semroute.environment import default_routes_dir
from semroute.errors import SemrouteError
from semroute.execution import DEFAULT_ATTEMPT_TIMEOUT, Provider
from semroute.learning.blind import BlindTask, JudgeScorer, Scorer
from semroute.learning.evaluate_models import (
    DEFAULT_CONCURRENCY,
    Evaluation,
    ModelRun,
    prepare_store,
    record,
    run_models,
    texts_of,
)
from semroute.learning.evaluate_models import evaluate_models as score_runs
from semroute.learning.evaluation_inputs import check_providers, load_providers, load_tasks, resolve_models
from semroute.learning.proposals import DEFAULT_MAX_QUALITY_LOSS, ModelSummary, Proposal, propose, summarise

MAX_LISTED = 20  # provider errors and unscored tasks listed in the table output; the rest are counted
_COLUMNS = (
    "tasks",
    "mean score",
    "success",
    "mean cost USD",
    "p50 latency ms",
    "score per $",
    "provider errors",
    "unscored",
)


@click.command()
@click.option(
    "--tasks",
    "tasks_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Tasks to run: JSON Lines, or a YAML or JSON list, of {text, route}.",
)
@click.option("--models", "model_names", required=True, metavar="A,B,C", help="Catalog models to compare.")
@click.option("--judge", "judge_name", default=None, metavar="MODEL", help="Score blind with this catalog model.")
@click.option("--review", is_flag=True, help="Score blind yourself: each task's responses, shuffled, unnamed.")
@ROUTES_OPTION
@click.option(
    "--providers",
    "providers_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML or JSON: a catalog name, litellm name, prefix or '*' -> model, api_base, api_key_env (complete()'s "
    "providers=) [default: litellm's own keys from the environment].",
)
@click.option("--seed", type=int, default=None, help="Seed of the shuffling [default: a random one, printed].")
@store_option("Outcome store the scores are recorded in")
@click.option("--store-text", is_flag=True, help="Also store the task texts (default: only hashes and embeddings).")
@click.option(
    "--max-quality-loss",
    type=click.FloatRange(0.0, 4.0),
    default=DEFAULT_MAX_QUALITY_LOSS,
    show_default=True,
    help="Points of the 1-5 scale a cheaper proposed model may score below the best.",
)
@click.option("--diff-out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write the diff here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--attempt-timeout",
    type=click.FloatRange(0.0, min_open=True),
    default=DEFAULT_ATTEMPT_TIMEOUT,
    show_default=True,
    help="Seconds one model call may take.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Model (and judge) calls in flight at once.",
)
@click.pass_context
def evaluate_models(
    ctx: click.Context,
    tasks_path: Path,
    model_names: str,
    judge_name: str | None,
    review: bool,
    routes_dir: Path | None,
    providers_path: Path | None,
    seed: int | None,
    store_url: str,
    store_text: bool,
    max_quality_loss: float,
    diff_out: Path | None,
    as_json: bool,
    attempt_timeout: float,
    concurrency: int,
) -> None:
    """Run every task of --tasks on every model of --models through semroute's execution code, score each task's
    outputs blind (shuffled under neutral labels: --judge MODEL, or --review at the terminal), record the scores as
    outcomes, print quality, cost and latency per route and model, and propose a model per route as a diff of the
    route files (never applied).
    """
    if (judge_name is None) == (not review):
        raise click.UsageError("give either --judge MODEL or --review")
    from semroute.embedding import FastEmbedEmbedder  # the model loads only once the arguments are known to be good
    from semroute.route_files import load_route_set

    with _exit_code_of_errors(ctx):
        routes_dir = routes_dir or default_routes_dir()
        route_set = load_route_set(routes_dir)
        tasks = load_tasks(tasks_path, route_set)
        names = [name.strip() for name in model_names.split(",") if name.strip()]
        models = resolve_models(route_set, names)
        judge = resolve_models(route_set, [judge_name], "--judge")[0] if judge_name is not None else None
        providers: dict[str, Provider] | None = load_providers(providers_path) if providers_path else None
        check_providers([*models, *([judge] if judge else [])], providers)
        if judge is not None and judge.name in names:
            note = f"note: the judge {judge.name} is also a candidate; judges tend to favour their own outputs"
            click.echo(note, err=True)
        prepare_store(store_url)
        embedder = FastEmbedEmbedder(route_set.settings.embedding)
        click.echo(f"running {len(tasks)} tasks on {len(models)} models", err=True)
        progress = _Progress(len(tasks) * len(models))
        runs = run_models(
            tasks,
            models,
            route_set,
            providers,
            attempt_timeout=attempt_timeout,
            concurrency=concurrency,
            progress=progress,
        )
        scorer: Scorer = JudgeScorer(judge, providers, attempt_timeout=attempt_timeout) if judge else _Reviewer(runs)
        seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        evaluation = score_runs(
            tasks, runs, scorer, embedder, route_set, seed=seed, scoring_concurrency=concurrency if judge else 1
        )
        summaries = summarise(runs, evaluation.scores)
        proposals = propose(route_set, routes_dir, summaries, max_quality_loss)
        texts = texts_of(evaluation.observations, tasks) if store_text else None
        written, where = record(evaluation.observations, store_url, texts)
    if diff_out is not None:
        diff_out.parent.mkdir(parents=True, exist_ok=True)
        diff_out.write_text("".join(proposal.diff for proposal in proposals), encoding="utf-8")
        click.echo(f"wrote {diff_out}", err=True)
    judged = scorer if isinstance(scorer, JudgeScorer) else None
    if as_json:
        click.echo(json.dumps(_json(evaluation, summaries, proposals, judged, written, where), indent=2))
    else:
        click.echo(_text(evaluation, summaries, proposals, judged, written, where), nl=False)


@contextmanager
def _exit_code_of_errors(ctx: click.Context) -> Iterator[None]:
    """One line and the exit code of a semroute error, as the ``semroute`` group gives, also when this command runs on
    its own."""
    try:
        yield
    except SemrouteError as error:
        click.echo(f"Error: {error}", err=True)
        ctx.exit(error.exit_code)


class _Progress:
    """Counts finished calls on standard error, about every tenth of them (never naming a model: a reviewer may be
    watching)."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._done = 0
        self._step = max(1, total // 10)

    def __call__(self, run: ModelRun) -> None:
        self._done += 1
        if self._done % self._step == 0 or self._done == self._total:
            click.echo(f"  {self._done}/{self._total} calls done", err=True)


class _Reviewer:
    """Scores at the terminal: shows a task and its labelled responses on standard error and asks for a 1-5 score
    per label."""

    def __init__(self, runs: tuple[ModelRun, ...]) -> None:
        self._total = len({run.task.task_id for run in runs if run.output is not None})
        self._shown = 0

    def __call__(self, task: BlindTask) -> dict[str, int]:
        self._shown += 1
        click.echo(f"\n===== task {self._shown} of {self._total} =====\n{task.text}", err=True)
        for label, output in task.responses:
            click.echo(f"\n----- {label} -----\n{output or '(empty)'}", err=True)
        click.echo("", err=True)
        return {
            label: click.prompt(f"{label}: score 1-5", type=click.IntRange(1, 5), err=True) for label in task.labels
        }


def _json(
    evaluation: Evaluation,
    summaries: tuple[ModelSummary, ...],
    proposals: tuple[Proposal, ...],
    judge: JudgeScorer | None,
    written: int,
    where: str,
) -> dict[str, Any]:
    return {
        "seed": evaluation.seed,
        "scoring": (
            {"mode": "judge", "judge": judge.model.name, "calls": judge.calls, "cost_usd": judge.cost_usd}
            if judge
            else {"mode": "review"}
        ),
        "results": [summary.to_json() for summary in summaries],
        "unscored": [{"task": task.where, "route": task.route, "why": why} for task, why in evaluation.unscored],
        "provider_errors": [
            {"task": run.task.where, "route": run.task.route, "model": run.model, "error": run.error}
            for run in evaluation.runs
            if run.output is None
        ],
        "proposals": [proposal.to_json() for proposal in proposals],
        "store": {"url": where, "observations": written},
    }


def _text(
    evaluation: Evaluation,
    summaries: tuple[ModelSummary, ...],
    proposals: tuple[Proposal, ...],
    judge: JudgeScorer | None,
    written: int,
    where: str,
) -> str:
    scoring = (
        f"judged blind by {judge.model.name} ({judge.calls} calls, ${judge.cost_usd:.6f})" if judge else "reviewed"
    )
    tasks = len({run.task.task_id for run in evaluation.runs})
    models = len({run.model for run in evaluation.runs})
    sections = [
        f"evaluate-models: {tasks} tasks x {models} models, {scoring}, seed {evaluation.seed}",
        _table(summaries),
    ]
    unscored = [f"{task.where} ({task.route}): {why}" for task, why in evaluation.unscored]
    failed = [f"{run.task.where}, {run.model}: {run.error}" for run in evaluation.runs if run.output is None]
    sections += [_listing(title, items) for title, items in (("unscored tasks", unscored), ("provider errors", failed))]
    sections.append(
        "proposals (not applied)\n"
        + "\n".join(
            f"  {p.route}: {p.current} -> {p.proposed}: {p.reason}" if p.proposed else f"  {p.route}: {p.reason}"
            for p in proposals
        )
    )
    diffs = "".join(proposal.diff for proposal in proposals)
    sections.append(diffs.rstrip("\n") if diffs else "(no route change proposed)")
    sections.append(f"recorded {written} observations in {where}")
    return "\n\n".join(section for section in sections if section) + "\n"


def _listing(title: str, items: list[str]) -> str:
    if not items:
        return ""
    more = [f"  ... and {len(items) - MAX_LISTED} more"] if len(items) > MAX_LISTED else []
    return "\n".join([title, *(f"  {item}" for item in items[:MAX_LISTED]), *more])


def _table(summaries: tuple[ModelSummary, ...]) -> str:
    header = ["route", "model", *_COLUMNS]
    rows = [[summary.route, summary.model, *_cells(summary)] for summary in summaries]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    lines = []
    for row in (header, *rows):
        cells = [
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _cells(summary: ModelSummary) -> list[str]:
    def shown(value: float | None, form: str) -> str:
        return "-" if value is None else format(value, form)

    free = summary.mean_score is not None and summary.mean_cost_usd == 0
    return [
        str(summary.tasks),
        shown(summary.mean_score, ".2f"),
        "-" if summary.success_rate is None else f"{summary.success_rate:.0%}",
        shown(summary.mean_cost_usd, ".6f"),
        shown(summary.p50_latency_ms, ".0f"),
        "free" if free else shown(summary.quality_per_dollar, ",.0f"),
        str(summary.provider_errors),
        str(summary.unscored),
    ]
