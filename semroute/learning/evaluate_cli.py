"""``semroute evaluate-models``: run representative tasks per route against candidate models, score the outputs
blind (an LLM judge, or a person at the terminal), record the scores in the outcome store, print quality, cost and
latency per route and model, and propose, never apply, a model per route as a diff of the route files.

Tasks of a sovereign route (a ``final`` rule sends tasks to it, or its model is self-hosted) are sent to no model or
judge outside it unless ``--allow-sovereign-tasks-outside`` says so. A review at the terminal keeps every output and
score in a review file beside the tasks file as it goes: interrupted (end of input, Ctrl-C), it records the scores of
the finished tasks and says how to resume (``--resume FILE``: no model is called again)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from semroute.cli_options import ROUTES_OPTION, store_option
from semroute.environment import default_routes_dir
from semroute.errors import ConfigError, SemrouteError
from semroute.execution import DEFAULT_ATTEMPT_TIMEOUT, Provider
from semroute.learning.blind import BlindTask, JudgeScorer, Scorer, ScoringInterrupted
from semroute.learning.evaluate_models import (
    DEFAULT_CONCURRENCY,
    Evaluation,
    ModelRun,
    ReviewState,
    load_review,
    prepare_store,
    record,
    review_file_for,
    run_models,
    save_review,
    texts_of,
)
from semroute.learning.evaluate_models import evaluate_models as score_runs
from semroute.learning.evaluation_inputs import (
    ALLOW_OUTSIDE_FLAG,
    check_providers,
    check_sovereignty,
    load_providers,
    load_tasks,
    resolve_models,
)
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
@click.option(
    "--resume",
    "resume_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Go on with the interrupted review kept in this file (the same command otherwise): the outputs saved there "
    "are scored, no model is called again.",
)
@click.option(
    ALLOW_OUTSIDE_FLAG,
    "allow_outside",
    is_flag=True,
    help="Send tasks of a sovereign route (reached by a final rule, or served by a self-hosted model) to the models "
    "and judge given even when they are outside it: only for tasks that hold no sensitive data. Such models are "
    "never proposed for the route.",
)
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
    resume_path: Path | None,
    allow_outside: bool,
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

    Tasks of a route kept inside by a final rule or a self-hosted model go to no model outside it without
    --allow-sovereign-tasks-outside. An interrupted --review keeps the scores given and the outputs: run the same
    command with --resume FILE to score the rest.
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
        for warning in check_sovereignty(route_set, tasks, names, judge_name, allow=allow_outside):
            click.echo(warning, err=True)
        if judge is not None and judge.name in names:
            note = f"note: the judge {judge.name} is also a candidate; judges tend to favour their own outputs"
            click.echo(note, err=True)
        state = load_review(resume_path, tasks, names, tasks_path) if resume_path is not None else None
        left = review_file_for(tasks_path)
        if review and resume_path is None and left.exists():
            raise ConfigError(
                f"{left} holds an interrupted review of these tasks: go on with it with --resume {left} (no model is "
                "called again), or delete it to start over"
            )
        prepare_store(store_url)
        embedder = FastEmbedEmbedder(route_set.settings.embedding)
        if state is None:
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
            seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
            state = ReviewState(seed, tuple(names), runs, {})
        else:
            if seed is not None and seed != state.seed:
                click.echo(
                    f"note: {resume_path} was shuffled with seed {state.seed}; --seed {seed} is not used", err=True
                )
            scored = len(state.scored_tasks())
            done = f"{scored} of {len(tasks)} tasks scored"
            click.echo(f"resuming {resume_path}: {done}; no candidate model is called again", err=True)
        keeper = _ReviewFile(resume_path or left, state) if review or resume_path else None
        reviewable = {run.task.task_id for run in state.runs if run.output is not None}
        scorer: Scorer = (
            JudgeScorer(judge, providers, attempt_timeout=attempt_timeout)
            if judge
            else _Reviewer(len(reviewable), already=len(state.scored_tasks()))
        )
        evaluation = score_runs(
            tasks,
            state.runs,
            scorer,
            embedder,
            route_set,
            seed=state.seed,
            scoring_concurrency=concurrency if judge else 1,
            earlier=state.scores,
            recorded=state.recorded,
            on_scored=keeper.scored if keeper else None,
        )
        texts = texts_of(evaluation.observations, tasks) if store_text else None
        written, where = record(evaluation.observations, store_url, texts)
        if keeper is not None:
            keeper.recorded({task_id for task_id, _ in evaluation.scores})
        if evaluation.pending:
            click.echo(_interrupted(evaluation, len(reviewable), where, keeper), err=True)
            ctx.exit(1)
        if keeper is not None:
            keeper.remove()
        summaries = summarise(evaluation.runs, evaluation.scores)
        proposals = propose(route_set, routes_dir, summaries, max_quality_loss)
    if diff_out is not None:
        diff_out.parent.mkdir(parents=True, exist_ok=True)
        diff_out.write_text("".join(proposal.diff for proposal in proposals), encoding="utf-8")
        click.echo(f"wrote {diff_out}", err=True)
    judged = scorer if isinstance(scorer, JudgeScorer) else None
    if as_json:
        click.echo(json.dumps(_json(evaluation, summaries, proposals, judged, written, where), indent=2))
    else:
        click.echo(_text(evaluation, summaries, proposals, judged, written, where), nl=False)


def _interrupted(evaluation: Evaluation, reviewable: int, where: str, keeper: _ReviewFile | None) -> str:
    done = reviewable - len(evaluation.pending)
    lines = [
        f"review interrupted: {done} of {reviewable} tasks scored; their {len(evaluation.scores)} scores are recorded "
        f"in {where} (the task on screen was not kept: it is asked again)"
    ]
    if keeper is not None and keeper.saved:
        lines.append(
            f"every model's outputs and the scores are kept in {keeper.path}: run the same command with --resume "
            f"{keeper.path} to score the other {len(evaluation.pending)} tasks without calling a model again"
        )
    else:
        lines.append("the outputs could not be kept (see above): scoring the other tasks means running them again")
    return "\n".join(lines)


class _ReviewFile:
    """The review file of a run: written once the outputs exist, again after each task scored, removed once the
    review is complete. It holds the outputs: readable by its owner alone. A file that cannot be written costs the
    ability to resume, not the review: said once on standard error."""

    def __init__(self, path: Path, state: ReviewState) -> None:
        self.path = path
        self._state = state
        self._scores = dict(state.scores)
        self._recorded = set(state.recorded)
        self.saved = True
        self._save()

    def scored(self, task_id: str, scores: Mapping[str, int]) -> None:
        """A task's scores (by model) were given."""
        self._scores.update({(task_id, model): score for model, score in scores.items()})
        self._save()

    def recorded(self, task_ids: set[str]) -> None:
        """These tasks' scores are in the outcome store."""
        self._recorded |= task_ids
        self._save()

    def remove(self) -> None:
        """The review is complete and recorded: the outputs are not kept any longer."""
        if self.saved:
            self.path.unlink(missing_ok=True)
            click.echo(f"review complete: removed {self.path}", err=True)

    def _save(self) -> None:
        if not self.saved:
            return
        base = self._state
        try:
            save_review(
                self.path, ReviewState(base.seed, base.models, base.runs, self._scores, frozenset(self._recorded))
            )
        except OSError as error:
            self.saved = False
            click.echo(
                f"warning: cannot keep the review file {self.path} ({error}): an interrupted review cannot be resumed",
                err=True,
            )


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
    per label. End of input or Ctrl-C stops the review (:class:`ScoringInterrupted`)."""

    def __init__(self, total: int, *, already: int = 0) -> None:
        self._total = total
        self._shown = already

    def __call__(self, task: BlindTask) -> dict[str, int]:
        try:
            return self._asked(task)
        except (click.Abort, KeyboardInterrupt, EOFError):
            click.echo("", err=True)
            raise ScoringInterrupted from None

    def _asked(self, task: BlindTask) -> dict[str, int]:
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
        "store": {"url": where, "observations": written, "recorded_before": len(evaluation.scores) - written},
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
    earlier = len(evaluation.scores) - written
    sections.append(f"recorded {written} observations in {where}" + (f" ({earlier} before)" if earlier > 0 else ""))
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
