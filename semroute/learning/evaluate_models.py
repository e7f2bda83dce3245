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
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

import sqlalchemy as sa

from semroute.embedding import Embedder
from semroute.errors import StoreUnavailableError
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
        observations: One per scored (task, model).
        seed: The seed of the shuffling.
    """

    runs: tuple[ModelRun, ...]
    scores: Mapping[tuple[str, str], int]
    unscored: tuple[tuple[EvaluationTask, str], ...]
    observations: tuple[Observation, ...]
    seed: int


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
) -> Evaluation:
    """Score the runs' outputs blind, task by task, and make an observation of each scored output.

    The outputs of each task are shuffled with ``random.Random(seed)`` under neutral labels, scored by ``scorer``
    (``scoring_concurrency`` tasks at a time: 1 for a person), and mapped back to their models.
    """
    outputs: dict[str, dict[str, str]] = {task.task_id: {} for task in tasks}
    for run in runs:
        if run.output is not None:
            outputs[run.task.task_id][run.model] = run.output
    shown = [(task.task_id, task.text, outputs[task.task_id]) for task in tasks if outputs[task.task_id]]
    blind_scores: BlindScores = score_blindly(shown, scorer, random.Random(seed), concurrency=scoring_concurrency)
    by_id = {task.task_id: task for task in tasks}
    unscored = tuple((by_id[task_id], why) for task_id, why in blind_scores.unscored)
    observations = observations_of(runs, blind_scores.scores, embedder, route_set)
    return Evaluation(tuple(runs), blind_scores.scores, unscored, observations, seed)


def observations_of(
    runs: Sequence[ModelRun], scores: Mapping[tuple[str, str], int], embedder: Embedder, route_set: RouteSet
) -> tuple[Observation, ...]:
    """One observation per scored run: quality from the score, the run's cost, tokens and latency, the embedding of
    the task's embedded part (``settings.embedding.part``) and the structural features of its whole text."""
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
