"""``semroute outcomes``: recorded outcomes. ``semroute outcomes import FILE`` turns a benchmark table of labelled
per-model results (RouterBench's layout among others; :mod:`semroute.learning.importing`) into observations in the
outcome store, where the learner reads them beside served traffic, replacing every row an earlier import of the same
source wrote; ``outcomes list`` shows the store's sources and ``outcomes forget SOURCE`` deletes one."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click
import sqlalchemy as sa

from semroute.cli_options import ROUTES_OPTION, store_option
from semroute.environment import default_routes_dir
from semroute.errors import DatasetError, SemrouteError, StoreUnavailableError
from semroute.learning.importing import (
    QUALITY_SCALES,
    SOURCE_PREFIX,
    ImportResult,
    QualityScale,
    check_against_route_set,
    import_source,
    load_model_map,
    load_outcome_table,
    observe,
)
from semroute.store import OutcomeDatabase
from semroute.store._database import SourceSummary
from semroute.task_part import EmbedPart

T = TypeVar("T")


@click.group()
def outcomes() -> None:
    """Recorded outcomes: import labelled per-model results into the outcome store, list and forget its sources."""


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
    "--source",
    "source_name",
    default=None,
    help="Name of the import (source import:NAME): re-importing a source replaces all of its rows "
    "[default: the file's resolved path].",
)
@click.option(
    "--ignore-column",
    "ignore_columns",
    multiple=True,
    help="Leave this column of the table out (repeatable); any other column the importer does not read is an error.",
)
@click.option(
    "--embed-part",
    type=click.Choice([part.value for part in EmbedPart]),
    default=None,
    help="Part of each text embedded; must be the route set's settings.embedding.part [default: that part].",
)
@click.option(
    "--quality-scale",
    type=click.Choice(QUALITY_SCALES),
    default="auto",
    show_default=True,
    help="0-1 qualities, 1-5 scores, or auto: 1-5 when every value is an integer from 1 to 5 and some is above 1, "
    "0-1 when some value is not such an integer; a table whose every value is 1 needs the scale given.",
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
    source_name: str | None,
    ignore_columns: tuple[str, ...],
    embed_part: str | None,
    quality_scale: QualityScale,
    store_text: bool,
) -> None:
    """Import FILE, a CSV, TSV or JSON Lines table of per-model results: a text column (text or prompt), an optional
    id (sample_id or id) and route column, and per model a quality column MODEL and a cost column MODEL|total_cost or
    MODEL|cost. Routes and models are checked against the route set; one observation per task and model is written,
    replacing every row an earlier import of the same source wrote.
    """
    try:
        source = import_source(path, source_name)
        result = _import(
            path, routes_dir or default_routes_dir(), map_path, route, embed_part, quality_scale, source, ignore_columns
        )
        written = _write(result, store_url, store_text)
    except SemrouteError as error:  # as the `semroute` group does, also when this command runs on its own
        click.echo(f"Error: {error}", err=True)
        ctx.exit(error.exit_code)
    click.echo(render_summary(result, written, path.name))


@outcomes.command("list")
@store_option("Outcome store read")
@click.pass_context
def list_command(ctx: click.Context, store_url: str) -> None:
    """List the sources of the store's observations (imports and evaluations) with their rows, tasks, routes and
    models. Served traffic is read from the decisions and is not listed."""
    try:
        sources, where = _in_store(store_url, lambda database: database.observation_sources())
    except SemrouteError as error:
        click.echo(f"Error: {error}", err=True)
        ctx.exit(error.exit_code)
    click.echo(render_sources(sources, where))


@outcomes.command("forget")
@click.argument("source")
@store_option("Outcome store written")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def forget_command(ctx: click.Context, source: str, store_url: str, yes: bool) -> None:
    """Delete every observation of SOURCE (as `semroute outcomes list` names it) from the store."""
    try:
        sources, where = _in_store(store_url, lambda database: database.observation_sources())
        found = next((summary for summary in sources if summary.source == source), None)
        if found is None:
            known = ", ".join(summary.source for summary in sources) or "none"
            click.echo(f"Error: no observations of source {source!r} in {where}; its sources are: {known}", err=True)
            ctx.exit(2)
            return
        if not yes:
            click.confirm(f"Forget {_counted(found.observations, 'observation')} of {source} in {where}?", abort=True)
        forgotten, _ = _in_store(store_url, lambda database: database.forget_source(source))
    except SemrouteError as error:
        click.echo(f"Error: {error}", err=True)
        ctx.exit(error.exit_code)
    click.echo(f"forgot {_counted(forgotten, 'observation')} of {source} in {where}")


def _import(
    path: Path,
    routes_dir: Path,
    map_path: Path | None,
    route: str | None,
    embed_part: str | None,
    quality_scale: QualityScale,
    source: str,
    ignore_columns: Sequence[str],
) -> ImportResult:
    from semroute.embedding import FastEmbedEmbedder
    from semroute.route_files import load_route_set

    route_set = load_route_set(routes_dir)
    model_map = load_model_map(map_path) if map_path is not None else None
    table = load_outcome_table(
        path, route=route, model_map=model_map, quality_scale=quality_scale, ignore_columns=ignore_columns
    )
    check_against_route_set(table, route_set, model_map=model_map, routes=str(routes_dir))
    part = route_set.settings.embedding.part
    if embed_part is not None and EmbedPart(embed_part) is not part:
        # the learner compares a served task's vector with these: embedded otherwise, they would not be comparable
        raise DatasetError(
            f"--embed-part {embed_part}: the route set in {routes_dir} embeds the {part.value} of each task it routes, "
            "and observations must be embedded the same way for the learner to compare them with served tasks; set "
            f"`embedding: part: {embed_part}` in {routes_dir / 'router.yaml'} (then `make index`), or leave "
            "--embed-part out"
        )
    embedder = FastEmbedEmbedder(route_set.settings.embedding)  # loaded only once the table is known to be good
    return observe(table, embedder=embedder, part=part, source=source)


@dataclass(frozen=True)
class Written:
    """What writing an import did: rows written, rows of an earlier import of its source replaced, the store (without
    a password), and the store's other sources (to tell the ones from a file of the same name)."""

    observations: int
    replaced: int
    where: str
    others: tuple[SourceSummary, ...]


def _write(result: ImportResult, store_url: str, store_text: bool) -> Written:
    """Replace the source's rows with the observations (the texts only with ``store_text``).

    Raises:
        StoreVersionError: the store was written by a newer semroute.
        StoreUnavailableError: the store cannot be reached or written.
    """
    texts = result.texts if store_text else None

    def write(database: OutcomeDatabase) -> Written:
        written, replaced = database.replace_source(result.source, result.observations, texts=texts)
        others = tuple(summary for summary in database.observation_sources() if summary.source != result.source)
        return Written(written, replaced, database.where, others)

    return _in_store(store_url, write)[0]


def _in_store(store_url: str, use: Callable[[OutcomeDatabase], T]) -> tuple[T, str]:
    """``use`` on the store at ``store_url`` (migrated first); what it returned, and where (without a password).

    Raises:
        StoreVersionError: the store was written by a newer semroute.
        StoreUnavailableError: the store cannot be reached or written.
    """
    database = OutcomeDatabase(store_url)
    try:
        database.migrate()
        return use(database), database.where
    except sa.exc.SQLAlchemyError as error:
        raise StoreUnavailableError(f"outcome store {database.where}: {error}") from None
    finally:
        database.close()


def render_summary(result: ImportResult, written: Written, file_name: str) -> str:
    """What an import did: tasks, models, observations written and replaced, blank cells skipped, columns ignored,
    mean quality per model, and a note per other source imported from a file named ``file_name``."""
    skipped = ", ".join(f"{model} x{count}" for model, count in result.skipped.items())
    width = max(len(model) for model in result.models)
    replaced = (
        f"{_counted(written.replaced, 'observation')} of an earlier import of this source"
        if written.replaced
        else "0 (no earlier import of this source)"
    )
    lines = [
        f"source        {result.source}",
        f"tasks         {result.tasks}",
        f"models        {len(result.models)}",
        f"observations  {written.observations} written to {written.where}",
        f"replaced      {replaced}",
        f"skipped       {result.skipped_cells} blank quality cells" + (f" ({skipped})" if skipped else ""),
    ]
    if result.ignored:
        lines.append(f"ignored       {len(result.ignored)} columns: {', '.join(map(repr, result.ignored))}")
    lines += [
        "mean quality",
        *(
            f"  {model:{width}s}  {result.mean_quality[model]:.3f}"
            if model in result.mean_quality
            else f"  {model:{width}s}  - (every cell blank)"
            for model in result.models
        ),
    ]
    for other in written.others:
        if _file_name(other.source) == file_name:
            lines.append(
                f"note          {other.source} ({_counted(other.observations, 'observation')}) also comes from a "
                f"file named {file_name}; kept. If it is an earlier copy of this file, its rows count twice: "
                f"semroute outcomes forget {shlex.quote(other.source)}"
            )
    return "\n".join(lines)


def render_sources(sources: Sequence[SourceSummary], where: str) -> str:
    """The store's sources as a table, or a line saying it has none."""
    if not sources:
        return f"no imported or evaluated observations in {where} (served traffic is read from its decisions)"
    header = ("source", "observations", "tasks", "routes", "models", "last recorded (UTC)")
    rows = [
        (
            summary.source,
            str(summary.observations),
            str(summary.tasks),
            ", ".join(summary.routes),
            ", ".join(summary.models),
            summary.recorded_at.strftime("%Y-%m-%d %H:%M"),
        )
        for summary in sources
    ]
    widths = [max(len(row[column]) for row in (header, *rows)) for column in range(len(header))]
    numeric = {1, 2}
    return "\n".join(
        "  ".join(
            cell.rjust(widths[column]) if column in numeric else cell.ljust(widths[column])
            for column, cell in enumerate(row)
        ).rstrip()
        for row in (header, *rows)
    )


def _file_name(source: str) -> str | None:
    """The file name an ``import:`` source names (its last path component); None for another source."""
    if not source.startswith(SOURCE_PREFIX):
        return None
    return source.removeprefix(SOURCE_PREFIX).replace("\\", "/").rsplit("/", 1)[-1]


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
