"""``semroute evaluate-models`` as a library: run representative tasks per route against candidate models through
semroute's own execution code, score the outputs blind, and turn every score into an :class:`Observation`.

The steps, each a function the CLI (:mod:`semroute.learning.evaluate_cli`) and the tests call:

1. :mod:`semroute.learning.evaluation_inputs` reads and checks the tasks file, the models and the providers.
2. :func:`run_models` runs every (task, model) pair as a decision of that model alone (no fallbacks, no cascade, no
   validators, the route's config) through ``complete()``, so tokens, cost (the catalog's prices) and latency are
   measured as in production. A provider failure is kept as such and the evaluation goes on.
3. :func:`evaluate_models` scores each task's outputs blind (:mod:`semroute.learning.blind`) and builds the
   observations; :func:`record` writes them into the outcome store. Summaries and the proposed route changes are in
   :mod:`semroute.learning.proposals`.

A review at the terminal keeps a review file (:class:`ReviewState`, :func:`save_review`, :func:`load_review`): every
run's output and every score given, so that an interrupted review resumes where it stopped without calling a model
again.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from semroute.embedding import Embedder
from semroute.errors import ConfigError, StoreUnavailableError
from semroute.execution import DEFAULT_ATTEMPT_TIMEOUT, CompletionError, CompletionOptions
from semroute.execution.complete import complete
from semroute.execution.providers import Providers
from semroute.features import structural_features
from semroute.learning.blind import BlindScores, Scorer, failure_text, one_model_decision, score_blindly
from semroute.learning.evaluation_inputs import EvaluationTask
from semroute.learning.observations import Observation, quality_of_score
from semroute.route_files import RouteSet
from semroute.store import OutcomeDatabase
from semroute.task_part import part_to_embed
from semroute.types import ResolvedModel

SOURCE = "evaluate-models"
DEFAULT_CONCURRENCY = 4  # model calls in flight at once


@dataclass(frozen=True)
class ModelRun:
    """One model's run of one task.

    Attributes:
        task: The task.
        model: Catalog name of the model.
        output: What it answered; None when the provider failed.
        latency_ms: Wall-clock time of the call.
        input_tokens: Prompt tokens the provider counted.
        output_tokens: Completion tokens the provider counted.
        cost_usd: Tokens times the catalog's prices.
        error: Why the provider failed, e.g. ``RateLimitError: ...`` ("" when it answered).
    """

    task: EvaluationTask
    model: str
    output: str | None
    latency_ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    error: str = ""


@dataclass(frozen=True)
class Evaluation:
    """Every run, the blind scores, and the observations they make.

    Attributes:
        runs: One per task and model, in task order, then model order.
        scores: 1-5 score per (task id, model) of each output scored.
        unscored: ``(task, why)`` for each task whose outputs could not be scored.
        observations: One per scored (task, model) not recorded before.
        seed: The seed of the shuffling.
        pending: The tasks left unscored because the scoring was interrupted (a reviewer's end of input or Ctrl-C).
    """

    runs: tuple[ModelRun, ...]
    scores: Mapping[tuple[str, str], int]
    unscored: tuple[tuple[EvaluationTask, str], ...]
    observations: tuple[Observation, ...]
    seed: int
    pending: tuple[EvaluationTask, ...] = ()


def run_task(
    task: EvaluationTask,
    model: ResolvedModel,
    route_set: RouteSet,
    providers: Providers | None = None,
    *,
    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
) -> ModelRun:
    """Run ``task`` on ``model`` alone, with the route's config, through ``complete()``."""
    config = route_set.route(task.route).config.to_config()
    decision = one_model_decision(task.route, model, config, task.text)
    options: CompletionOptions = {"providers": providers, "attempt_timeout": attempt_timeout}
    try:
        completion = complete(lambda **_: decision, task.text, options)
    except CompletionError as failure:
        latency = failure.attempts[-1].latency_ms if failure.attempts else 0.0
        return ModelRun(task, model.name, None, latency, error=failure_text(failure))
    accepted = completion.attempts[-1]
    return ModelRun(
        task,
        model.name,
        completion.text,
        accepted.latency_ms,
        accepted.input_tokens,
        accepted.output_tokens,
        completion.cost_usd,
    )


def run_models(
    tasks: Sequence[EvaluationTask],
    models: Sequence[ResolvedModel],
    route_set: RouteSet,
    providers: Providers | None = None,
    *,
    attempt_timeout: float = DEFAULT_ATTEMPT_TIMEOUT,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[ModelRun], None] | None = None,
) -> tuple[ModelRun, ...]:
    """Run every task on every model, ``concurrency`` calls at a time; ``progress`` hears of each run as it ends.

    The first task runs on each model alone: litellm caches one HTTP client per provider setting, and calls racing
    to create it would each open one of their own and leave it to the garbage collector, connections and all.

    Returns:
        The runs in task order, then model order.
    """
    pairs = [(task, model) for task in tasks for model in models]

    def run(pair: tuple[EvaluationTask, ResolvedModel]) -> ModelRun:
        return run_task(*pair, route_set, providers, attempt_timeout=attempt_timeout)

    runs: list[ModelRun | None] = [None] * len(pairs)
    for position, pair in enumerate(pairs[: len(models)]):
        runs[position] = _reported(run(pair), progress)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="semroute-evaluate")
    try:
        pending = {pool.submit(run, pair): position for position, pair in enumerate(pairs) if runs[position] is None}
        for done in as_completed(pending):
            runs[pending[done]] = _reported(done.result(), progress)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return tuple(run for run in runs if run is not None)


def _reported(run: ModelRun, progress: Callable[[ModelRun], None] | None) -> ModelRun:
    if progress is not None:
        progress(run)
    return run


def evaluate_models(
    tasks: Sequence[EvaluationTask],
    runs: Sequence[ModelRun],
    scorer: Scorer,
    embedder: Embedder,
    route_set: RouteSet,
    *,
    seed: int,
    scoring_concurrency: int = 1,
    earlier: Mapping[tuple[str, str], int] | None = None,
    recorded: Collection[str] = (),
    on_scored: Callable[[str, Mapping[str, int]], None] | None = None,
) -> Evaluation:
    """Score the runs' outputs blind, task by task, and make an observation of each scored output.

    The outputs of each task are shuffled with ``random.Random(seed)`` under neutral labels, scored by ``scorer``
    (``scoring_concurrency`` tasks at a time: 1 for a person), and mapped back to their models. The tasks ``earlier``
    scores cover (by task id and model: a resumed review) are not shown again; no observation is made of the tasks
    ``recorded`` (ids: already in the store). ``on_scored`` hears of each task's scores as they are given. When the
    scorer is interrupted, the evaluation holds the scores given until then and names the ``pending`` tasks.
    """
    earlier = earlier or {}
    outputs: dict[str, dict[str, str]] = {task.task_id: {} for task in tasks}
    for run in runs:
        if run.output is not None:
            outputs[run.task.task_id][run.model] = run.output
    shown = [(task.task_id, task.text, outputs[task.task_id]) for task in tasks if outputs[task.task_id]]
    blind_scores: BlindScores = score_blindly(
        shown,
        scorer,
        random.Random(seed),
        concurrency=scoring_concurrency,
        skip={task_id for task_id, _ in earlier},
        on_scored=on_scored,
    )
    by_id = {task.task_id: task for task in tasks}
    unscored = tuple((by_id[task_id], why) for task_id, why in blind_scores.unscored)
    scores = {**earlier, **blind_scores.scores}
    new = {key: score for key, score in scores.items() if key[0] not in recorded}
    observations = observations_of(runs, new, embedder, route_set)
    pending = tuple(by_id[task_id] for task_id in blind_scores.pending)
    return Evaluation(tuple(runs), scores, unscored, observations, seed, pending)


def observations_of(
    runs: Sequence[ModelRun], scores: Mapping[tuple[str, str], int], embedder: Embedder, route_set: RouteSet
) -> tuple[Observation, ...]:
    """One observation per scored run: quality from the score, the run's cost, tokens and latency, the embedding of
    the task's embedded part (``settings.embedding.part``'s :func:`~semroute.task_part.part_to_embed`: the vector the
    router keeps for a served task and the learned choice reads, the whole text with ``best_part``) and the
    structural features of its whole text."""
    scored = [run for run in runs if (run.task.task_id, run.model) in scores]
    texts = list(dict.fromkeys(run.task.text for run in scored))
    part = route_set.settings.embedding.part
    vectors = embedder.embed([part_to_embed(text, part) for text in texts]) if texts else None
    embedded = {text: vectors[row] for row, text in enumerate(texts)} if vectors is not None else {}
    return tuple(
        Observation(
            task_id=run.task.task_id,
            route=run.task.route,
            model=run.model,
            quality=quality_of_score(scores[run.task.task_id, run.model]),
            embedding=embedded[run.task.text],
            features=structural_features(run.task.text),
            propensity=1.0,
            cost_usd=run.cost_usd,
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            latency_ms=run.latency_ms,
            source=SOURCE,
        )
        for run in scored
    )


def prepare_store(store_url: str) -> str:
    """Bring the outcome store's schema up to date before any model is called, so that an unusable store fails the
    evaluation before it has cost anything (or a reviewer's time); returns where it is (without its password).

    Raises:
        StoreVersionError: the store was written by a newer semroute.
        StoreUnavailableError: the store cannot be reached or written.
    """
    return _in_store(store_url, lambda database: None)[1]


def record(
    observations: Sequence[Observation], store_url: str, texts: Mapping[str, str] | None = None
) -> tuple[int, str]:
    """Write ``observations`` into the outcome store at ``store_url`` (migrated first); the task texts (task id ->
    text) only when ``texts`` is given.

    Returns:
        How many observations were written, and where (the store's URL without its password).

    Raises:
        StoreVersionError: the store was written by a newer semroute.
        StoreUnavailableError: the store cannot be reached or written.
    """
    written, where = _in_store(store_url, lambda database: database.insert_observations(observations, texts=texts))
    return written or 0, where


def _in_store(store_url: str, write: Callable[[OutcomeDatabase], int | None]) -> tuple[int | None, str]:
    database = OutcomeDatabase(store_url)
    try:
        database.migrate()
        return write(database), database.where
    except sa.exc.SQLAlchemyError as error:
        raise StoreUnavailableError(f"outcome store {database.where}: {error}") from None
    finally:
        database.close()


def texts_of(observations: Sequence[Observation], tasks: Sequence[EvaluationTask]) -> dict[str, str]:
    """Task id -> text of the tasks observed (stored only when the operator opts in)."""
    observed = {observation.task_id for observation in observations}
    return {task.task_id: task.text for task in tasks if task.task_id in observed}


REVIEW_FORMAT = "semroute evaluate-models review"
REVIEW_VERSION = 1


@dataclass(frozen=True)
class ReviewState:
    """What a review file keeps: enough to score the rest of an interrupted review without calling a model again.

    Attributes:
        seed: The seed of the shuffling (a resumed review shows each task under the labels it would have had).
        models: The candidate models, in ``--models`` order.
        runs: Every run, output and figures (the task texts stay in the tasks file: runs name them by task id).
        scores: 1-5 per (task id, model) given so far.
        recorded: The tasks (ids) whose scores are already in the outcome store.
    """

    seed: int
    models: tuple[str, ...]
    runs: tuple[ModelRun, ...]
    scores: Mapping[tuple[str, str], int]
    recorded: frozenset[str] = frozenset()

    def scored_tasks(self) -> set[str]:
        """The tasks (ids) scored so far."""
        return {task_id for task_id, _ in self.scores}


def review_file_for(tasks_path: Path) -> Path:
    """Where a review of the tasks of ``tasks_path`` keeps its file: beside it, ``<stem>.review.json`` (never the tasks
    file itself)."""
    path = tasks_path.with_name(f"{tasks_path.stem}.review.json")
    return path if path != tasks_path else tasks_path.with_name(f"{tasks_path.name}.review.json")


def save_review(path: Path, state: ReviewState) -> None:
    """Write ``state`` to ``path`` atomically, readable by its owner alone (it holds the models' outputs).

    Raises:
        OSError: it could not be written.
    """
    task_ids = list(dict.fromkeys(run.task.task_id for run in state.runs))
    content = {
        "format": REVIEW_FORMAT,
        "version": REVIEW_VERSION,
        "seed": state.seed,
        "models": list(state.models),
        "tasks": task_ids,
        "runs": [
            {
                "task": run.task.task_id,
                "model": run.model,
                "output": run.output,
                "latency_ms": run.latency_ms,
                "input_tokens": run.input_tokens,
                "output_tokens": run.output_tokens,
                "cost_usd": run.cost_usd,
                "error": run.error,
            }
            for run in state.runs
        ],
        "scores": [
            {"task": task_id, "model": model, "score": score} for (task_id, model), score in state.scores.items()
        ],
        "recorded": sorted(state.recorded),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(content, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_review(
    path: Path, tasks: Sequence[EvaluationTask], models: Sequence[str], tasks_path: Path | str
) -> ReviewState:
    """The review kept in ``path``, checked against the command resuming it: the same tasks and the same models.

    Raises:
        ConfigError: the file is missing, is not a review file, or was saved for other tasks or models.
    """
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: not a review file of evaluate-models ({error})") from None
    if not isinstance(raw, dict) or raw.get("format") != REVIEW_FORMAT or raw.get("version") != REVIEW_VERSION:
        raise ConfigError(f"{path}: not a review file of evaluate-models (version {REVIEW_VERSION})")
    try:
        saved_models = [str(model) for model in raw["models"]]
        if saved_models != list(models):
            raise ConfigError(f"{path}: saved for --models {','.join(saved_models)}, not {','.join(models)}")
        by_id = {task.task_id: task for task in tasks}
        if sorted(raw["tasks"]) != sorted(by_id):
            raise ConfigError(f"{path}: saved for other tasks than those of {tasks_path}")
        runs = tuple(
            ModelRun(
                by_id[item["task"]],
                str(item["model"]),
                None if item["output"] is None else str(item["output"]),
                float(item["latency_ms"]),
                int(item["input_tokens"]),
                int(item["output_tokens"]),
                float(item["cost_usd"]),
                str(item["error"]),
            )
            for item in raw["runs"]
        )
        pairs = sorted((run.task.task_id, run.model) for run in runs)
        if pairs != sorted((task_id, model) for task_id in by_id for model in models):
            raise ConfigError(f"{path}: not a review file of evaluate-models (its runs do not cover every task)")
        order = {task.task_id: number for number, task in enumerate(tasks)}
        runs = tuple(sorted(runs, key=lambda run: (order[run.task.task_id], list(models).index(run.model))))
        scores = {(str(item["task"]), str(item["model"])): int(item["score"]) for item in raw["scores"]}
        if not set(scores) <= set(pairs):
            raise ConfigError(f"{path}: not a review file of evaluate-models (a score of no run)")
        recorded = frozenset(str(task_id) for task_id in raw["recorded"])
        return ReviewState(int(raw["seed"]), tuple(saved_models), runs, scores, recorded)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"{path}: not a review file of evaluate-models ({type(error).__name__}: {error})") from None
