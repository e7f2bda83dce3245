"""``semroute learn``: fit the model choice on the outcome store's outcomes and write ``learned.zip``, which
``semroute index`` (``make index``) puts into the index artifact."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import click

from semroute.cli_options import ROUTES_OPTION, STORE_OPTION
from semroute.environment import default_learned_path, default_routes_dir
from semroute.learning.choice import ChoicePolicy
from semroute.learning.learning import (
    DEFAULT_HOLDOUT,
    MIN_AUC_OUTCOMES,
    LearningResult,
    ModelReport,
    learn_and_measure,
)


@click.command(name="learn")
@ROUTES_OPTION
@STORE_OPTION
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write what was learned [default: $SEMROUTE_HOME/learned.zip, where `semroute index` looks].",
)
@click.option(
    "--holdout",
    type=click.FloatRange(0.0, 0.9),
    default=DEFAULT_HOLDOUT,
    show_default=True,
    help="Share of the tasks held out to measure the estimates (AUC, calibration) before the final fit on all.",
)
@click.option(
    "--min-evidence",
    type=click.IntRange(2),
    default=None,
    help="Outcomes a model needs on a route to get an estimate [default: 20].",
)
@click.option("--json", "as_json", is_flag=True, help="Print the measurements as JSON.")
def learn_command(
    routes_dir: Path | None,
    store_url: str,
    out: Path | None,
    holdout: float,
    min_evidence: int | None,
    as_json: bool,
) -> None:
    """Learn, per route and model of the route's chain, P(success | task) from the recorded outcomes (served
    completions, `semroute outcomes import`, `semroute evaluate-models`), report how well it holds on held-out
    tasks, and write it for `semroute index`. Routes use it with `choice: {policy: learned, ...}`."""
    from semroute.embedding import FastEmbedEmbedder
    from semroute.learning.artifact import to_members, write_learned
    from semroute.learning.estimator import LearnerSettings
    from semroute.route_files import load_route_set
    from semroute.store import OutcomeDatabase

    _require_existing_store(store_url)  # a mistyped path is an error, not a new empty store
    route_set = load_route_set(routes_dir or default_routes_dir())
    # the embedding model the outcomes' vectors must match, checked before minutes of learning, not after
    identity = FastEmbedEmbedder(route_set.settings.embedding).identity
    database = OutcomeDatabase(store_url)
    try:
        database.migrate()
        observations = database.observations(routes=[route.name for route in route_set.routes])
    finally:
        database.close()
    if not observations:
        raise click.ClickException(
            f"the outcome store {database.where} holds no outcomes for the routes of this route set; serve and "
            "report outcomes, or run `semroute outcomes import` / `semroute evaluate-models` first"
        )
    settings = LearnerSettings()
    if min_evidence is not None:
        settings = replace(settings, min_evidence=min_evidence)
    click.echo(f"learning from {len(observations):,} outcomes in {database.where} ...", err=True)
    chains = {route.name: {route.model, *route.fallbacks, *route.cascade} for route in route_set.routes}
    result = learn_and_measure(observations, settings, holdout, chains)
    path = out or default_learned_path()
    summary = _summary(result)
    write_learned(path, to_members(result.learned, identity, summary))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(_table(result))
    learned_routes = {route.name for route in route_set.routes if route.choice.policy is ChoicePolicy.LEARNED}
    unused = sorted(set(result.learned.routes) - learned_routes)
    click.echo(f"wrote {path}: estimates for {_count(result)} (route, model) pairs", err=True)
    outside = [f"{report.model} on {report.route}" for report in result.models if not report.in_chain]
    if outside:
        click.echo(
            f"note: not learned, outside the route's chain (the choice never leaves it): {', '.join(outside)}; their "
            "outcomes still count toward the route's pooled difficulty. To estimate a model on a route, add it to the "
            "route's fallbacks or cascade and learn again",
            err=True,
        )
    if unused:
        click.echo(
            f"note: {', '.join(unused)} keep their static choice until their route file sets "
            "`choice: {policy: learned, max_quality_loss: ...}`",
            err=True,
        )
    click.echo("next: `semroute index` (or `make index`) puts it into the index; a running server reloads it", err=True)


def _require_existing_store(url: str) -> None:
    """Refuse an SQLite store that does not exist (as ``semroute report`` does) before anything creates it.

    Raises:
        StoreError: no file at the SQLite URL or path ``url`` names.
    """
    import sqlalchemy as sa

    from semroute.errors import StoreError
    from semroute.store import engine_url

    parsed = sa.make_url(engine_url(url))
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:" and not Path(database).exists():
        raise StoreError(
            f"no outcome store at {database} (nothing was created there). A store holds no outcomes until "
            "`semroute serve --store ...` records served ones, or `semroute outcomes import FILE --store ...` / "
            "`semroute evaluate-models --store ...` writes some; give --store the path of one of these"
        )


def _count(result: LearningResult) -> int:
    return sum(len(models) for models in result.learned.routes.values())


def _summary(result: LearningResult) -> dict[str, Any]:
    return {
        "observations": result.observations,
        "tasks": result.tasks,
        "models": [_model_json(report) for report in result.models],
    }


def _model_json(report: ModelReport) -> dict[str, Any]:
    quality = asdict(report.held_out) if report.held_out else None
    if quality is not None:
        quality["bins"] = [dict(item) for item in quality["bins"]]
        quality["auc_note"] = report.auc_note  # why AUC is null although the estimates were measured
    return {
        "route": report.route,
        "model": report.model,
        "in_chain": report.in_chain,
        "observations": report.observations,
        "success_rate": round(report.success_rate, 4),
        "held_out": quality,
    }


def _table(result: LearningResult) -> str:
    lines = [
        f"{'route':<22} {'model':<28} {'outcomes':>8} {'success':>8} {'held-out':>8} {'AUC':>6} {'ECE':>6} {'Brier':>6}"
    ]
    for report in result.models:
        row = f"{report.route:<22} {report.model:<28} {report.observations:>8,} {report.success_rate:>8.1%} "
        quality = report.held_out
        if not report.in_chain:
            lines.append(f"{row}  outside the chain: not learned, never chosen")
            continue
        if quality is None:
            lines.append(f"{row}{report.held_out_successes + report.held_out_failures:>8,} {'-':>6} {'-':>6} {'-':>6}")
            continue
        auc = f"{quality.auc:.3f}" if quality.auc is not None else "n/a"
        row += f"{quality.outcomes:>8,} {auc:>6} {quality.ece:>6.3f} {quality.brier:>6.3f}"
        lines.append(f"{row}  {report.auc_note}" if report.auc_note else row)
    lines.append(
        "AUC: chance a held-out success is rated above a failure (0.5 = no skill), given from at least "
        f"{MIN_AUC_OUTCOMES} held-out successes and {MIN_AUC_OUTCOMES} failures; ECE: mean |predicted - observed| "
        "over probability bins (0 = calibrated)"
    )
    return "\n".join(lines)
