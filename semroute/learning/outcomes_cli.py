"""``semroute outcomes``: recorded outcomes. ``semroute outcomes import FILE`` turns a benchmark table of labelled
per-model results (RouterBench's layout among others; :mod:`semroute.learning.importing`) into observations in the
outcome store, where the learner reads them beside served traffic."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from semroute.cli_options import ROUTES_OPTION, store_option
from semroute.environment import default_routes_dir
from semroute.errors import SemrouteError, StoreUnavailableError
from semroute.learning.importing import (
    QUALITY_SCALES,
    ImportResult,
    QualityScale,
    check_against_route_set,
    load_model_map,
    load_outcome_table,
    observe,
)
from semroute.store import OutcomeDatabase
from semroute.task_part import EmbedPart


@click.group()
def outcomes() -> None:
    """Recorded outcomes: import labelled per-model results into the outcome store."""


@outcomes.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@ROUTES_OPTION
@store_option("Outcome store the observations are written to")
@click.option(
    "--map",
    "map_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML file of 'source model name: catalog name' ('name: null' leaves a model out); every model of the "
    "table must be in it [default: names are kept].",
)
@click.option("--route", default=None, help="Route of every task [default: the table's 'route' column].")
@click.option(
    "--embed-part",
    type=click.Choice([part.value for part in EmbedPart]),
    default=None,
    help="Part of each text embedded [default: the route set's settings.embedding.part].",
)
@click.option(
    "--quality-scale",
    type=click.Choice(QUALITY_SCALES),
    default="auto",
    show_default=True,
    help="0-1 qualities, 1-5 scores, or auto: 1-5 when every value is an integer from 1 to 5 and some is above 1.",
)
@click.option("--store-text", is_flag=True, help="Also store the task texts (default: only ids, embeddings, features).")
@click.pass_context
def import_command(
    ctx: click.Context,
    path: Path,
    routes_dir: Path | None,
    store_url: str,
    map_path: Path | None,
    route: str | None,
    embed_part: str | None,
    quality_scale: QualityScale,
    store_text: bool,
) -> None:
    """Import FILE, a CSV, TSV or JSON Lines table of per-model results: a text column (text or prompt), an optional
    id (sample_id or id) and route column, and per model a quality column MODEL and a cost column MODEL|total_cost or
    MODEL|cost. Routes and models are checked against the route set; one observation per task and model is written.
    """
    try:
        result = _import(path, routes_dir or default_routes_dir(), map_path, route, embed_part, quality_scale)
        written, where = _write(result, store_url, store_text)
    except SemrouteError as error:  # as the `semroute` group does, also when this command runs on its own
        click.echo(f"Error: {error}", err=True)
        ctx.exit(error.exit_code)
    click.echo(render_summary(result, written, where))


def _import(
    path: Path,
    routes_dir: Path,
    map_path: Path | None,
    route: str | None,
    embed_part: str | None,
    quality_scale: QualityScale,
) -> ImportResult:
    from semroute.embedding import FastEmbedEmbedder
    from semroute.route_files import load_route_set

    route_set = load_route_set(routes_dir)
    model_map = load_model_map(map_path) if map_path is not None else None
    table = load_outcome_table(path, route=route, model_map=model_map, quality_scale=quality_scale)
    check_against_route_set(table, route_set, model_map=model_map, routes=str(routes_dir))
    part = EmbedPart(embed_part) if embed_part is not None else route_set.settings.embedding.part
    embedder = FastEmbedEmbedder(route_set.settings.embedding)  # loaded only once the table is known to be good
    return observe(table, embedder=embedder, part=part)


def _write(result: ImportResult, store_url: str, store_text: bool) -> tuple[int, str]:
    """Write the observations (the texts only with ``store_text``); how many, and where (without a password).

    Raises:
        StoreVersionError: the store was written by a newer semroute.
        StoreUnavailableError: the store cannot be reached or written.
    """
    database = OutcomeDatabase(store_url)
    try:
        database.migrate()
        written = database.insert_observations(result.observations, texts=result.texts if store_text else None)
    except sa.exc.SQLAlchemyError as error:
        raise StoreUnavailableError(f"outcome store {database.where}: {error}") from None
    finally:
        database.close()
    return written, database.where


def render_summary(result: ImportResult, written: int, where: str) -> str:
    """What an import did: tasks, models, observations written, blank cells skipped, mean quality per model."""
    skipped = ", ".join(f"{model} x{count}" for model, count in result.skipped.items())
    width = max(len(model) for model in result.models)
    lines = [
        f"source        {result.source}",
        f"tasks         {result.tasks}",
        f"models        {len(result.models)}",
        f"observations  {written} written to {where}",
        f"skipped       {result.skipped_cells} blank quality cells" + (f" ({skipped})" if skipped else ""),
        "mean quality",
        *(
            f"  {model:{width}s}  {result.mean_quality[model]:.3f}"
            if model in result.mean_quality
            else f"  {model:{width}s}  - (every cell blank)"
            for model in result.models
        ),
    ]
    return "\n".join(lines)
