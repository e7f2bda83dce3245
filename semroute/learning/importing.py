"""Benchmark tables of labelled per-model results turned into observations (``semroute outcomes import``).

A table is CSV, TSV or JSON Lines (by extension), one row per task:

- the text: column ``text``, else ``prompt`` (RouterBench). A cell holding a Python list literal of strings (as
  RouterBench's ``prompt`` cells do) is those strings joined with newlines;
- optionally an id (``sample_id``, else ``id``; without one, the text's SHA-256) and a route (``route``);
- per model a quality column ``<model>`` and a cost column ``<model>|total_cost`` or ``<model>|cost``: a column is a
  model's when its cost column is there (or a model map names it).

RouterBench's other columns (``eval_name``, ``oracle_model_to_route_to``, ``<model>|model_response``) are skipped; any
other column is an error naming it and, where a near name tells, what it probably should be (a misspelled cost header
would otherwise drop its model silently), unless the caller leaves it out by name (``--ignore-column``).

Rows sharing a task id are one task when they hold the same text, once repeats are dropped, and the same route, and
no model is graded on both: RouterBench splits some tasks so, the prompt sent twice (a list of two equal strings) on
the row of some models and once on the row of the others; the first row's text is kept. A model without a quality
for a task (a blank cell: RouterBench has some) is skipped for that task, counted per model. Qualities are 0-1 as
they are, or 1-5 scores mapped with :func:`~semroute.learning.observations.quality_of_score`; the ``auto`` scale
takes 1-5 when every value is an integer from 1 to 5 and some value is above 1, 0-1 when some value is not such an
integer, and refuses a table whose every value is 1 (every task a success, or every task the worst score: nothing
tells which). A model map (YAML, ``source name:
catalog name``, ``null`` to drop a model) renames models; with a map, a model it does not mention is an error, so a
typo never drops data silently.

:func:`read_outcome_table` parses and checks a table without any model (fast to test); :func:`import_outcomes` also
embeds each task's embedded part (:func:`~semroute.task_part.part_to_embed`: the part whose vector the router keeps for
a served task, the whole text with ``best_part``, which scores several parts but keeps one vector) and returns one
observation per task and model, with the structural features of the whole text and propensity 1 (every model ran on
every task).

The observations' source (:func:`import_source`) is ``import:`` and the file's resolved path, or a name the caller
gives: re-importing a source replaces all of its rows, so two files that share a name are two sources, and a file
imported again after a change of its model map leaves none of its earlier rows behind.
"""

from __future__ import annotations

import ast
import csv
import difflib
import hashlib
import io
import json
import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import yaml

from semroute.embedding import Embedder, embed_texts
from semroute.errors import DatasetError
from semroute.features import structural_features
from semroute.learning.observations import Observation, quality_of_score
from semroute.route_files import RouteSet
from semroute.task_part import EmbedPart, part_to_embed

QualityScale = Literal["auto", "0-1", "1-5"]
QUALITY_SCALES: tuple[str, ...] = get_args(QualityScale)
TEXT_COLUMNS = ("text", "prompt")  # the first one present is the text
ID_COLUMNS = ("sample_id", "id")
ROUTE_COLUMN = "route"
COST_SUFFIXES = ("|total_cost", "|cost")  # the first one present is the model's cost
SKIPPED_COLUMNS = ("eval_name", "oracle_model_to_route_to")  # RouterBench's, not read
SKIPPED_SUFFIXES = ("|model_response",)  # RouterBench's output of a model, not read
SOURCE_PREFIX = "import:"
MAX_TASK_ID_CHARS = 128  # the store's limit
MAX_SOURCE_CHARS = 256  # the store's limit
_DELIMITERS = {".csv": ",", ".tsv": "\t"}
_JSON_LINES = (".jsonl", ".ndjson")
_MAX_CELL_CHARS = 64 * 1024 * 1024  # csv's default limit (128 KiB) is below a long task's text


@dataclass(frozen=True)
class ModelMap:
    """Model names of a source table -> catalog names (None: leave that model out), and the file they came from."""

    names: Mapping[str, str | None]
    path: str


@dataclass(frozen=True)
class LabelledTask:
    """One task of a table and every model's result on it.

    Attributes:
        task_id: The table's id of the task, or the SHA-256 of its text.
        text: The whole text (a list of strings joined with newlines).
        route: The route it belongs to.
        results: Catalog model -> (quality 0-1, cost in USD or None when the table has none).
    """

    task_id: str
    text: str
    route: str
    results: Mapping[str, tuple[float, float | None]]


@dataclass(frozen=True)
class OutcomeTable:
    """A table read and checked: its tasks, its models (catalog names, in column order), the blank quality cells
    skipped per model, and the columns the caller left out (in column order)."""

    path: Path
    tasks: tuple[LabelledTask, ...]
    models: tuple[str, ...]
    skipped: Mapping[str, int]
    ignored: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportResult:
    """What importing a table gives.

    Attributes:
        source: The observations' source (:func:`import_source`).
        observations: One per task and model with a quality.
        texts: Task id -> whole text of every task observed (for the store, only when the operator opts in).
        tasks: Tasks in the table.
        models: Catalog names of the models, in column order.
        skipped: Blank quality cells skipped, per model (models with none are left out).
        mean_quality: Mean quality (0-1) per model.
        ignored: Columns the caller left out.
    """

    source: str
    observations: tuple[Observation, ...]
    texts: Mapping[str, str]
    tasks: int
    models: tuple[str, ...]
    skipped: Mapping[str, int]
    mean_quality: Mapping[str, float]
    ignored: tuple[str, ...] = ()

    @property
    def skipped_cells(self) -> int:
        """Blank quality cells skipped in all."""
        return sum(self.skipped.values())


@dataclass(frozen=True)
class _Record:
    """One row of a table: its place (data row from 1, and the file line it ends on) and its cells by column."""

    row: int
    line: int
    cells: Mapping[str, Any]


@dataclass(frozen=True)
class _RowTask:
    """The task of one row, the parts its text was joined from, and the row."""

    task: LabelledTask
    parts: tuple[str, ...]
    row: int


@dataclass(frozen=True)
class _Layout:
    """Which column holds what; ``models`` maps a quality column to (catalog name, cost column or None)."""

    text: str
    task_id: str | None
    route: str | None
    models: Mapping[str, tuple[str, str | None]]


def load_model_map(path: Path) -> ModelMap:
    """Read a model map: a YAML mapping of source model names to catalog names, ``null`` leaving a model out.

    Raises:
        DatasetError: the file cannot be read, or is not such a mapping (naming the file and the entry).
    """
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise DatasetError(f"model map {path}: not readable ({error})") from None
    if not isinstance(loaded, dict) or not loaded:
        raise DatasetError(f"model map {path}: expected a mapping 'source name: catalog name' (or null to drop one)")
    for source, target in loaded.items():
        if not isinstance(source, str) or not (target is None or (isinstance(target, str) and target.strip())):
            raise DatasetError(
                f"model map {path}, entry {source!r}: expected 'source name: catalog name' or 'source name: null', "
                f"got {target!r}"
            )
    return ModelMap({source: target.strip() if target else None for source, target in loaded.items()}, str(path))


def read_outcome_table(
    path: Path,
    *,
    route: str | None = None,
    model_map: ModelMap | Path | None = None,
    quality_scale: QualityScale = "auto",
    ignore_columns: Collection[str] = (),
) -> list[LabelledTask]:
    """The tasks of a table with every model's result (see :func:`load_outcome_table`)."""
    table = load_outcome_table(
        path, route=route, model_map=model_map, quality_scale=quality_scale, ignore_columns=ignore_columns
    )
    return list(table.tasks)


def load_outcome_table(
    path: Path,
    *,
    route: str | None = None,
    model_map: ModelMap | Path | None = None,
    quality_scale: QualityScale = "auto",
    ignore_columns: Collection[str] = (),
) -> OutcomeTable:
    """Read and check a table of labelled per-model results.

    Args:
        path: A ``.csv``, ``.tsv`` or ``.jsonl`` file.
        route: The route of every task; without it, the table's ``route`` column.
        model_map: Source model names -> catalog names (or a YAML file of them); without it names are kept.
        quality_scale: ``0-1``, ``1-5`` (scores), or ``auto``.
        ignore_columns: Columns left out (each must be a column of the table, and not a model's quality column);
            any other column the importer does not read is an error.

    Raises:
        DatasetError: naming the file, and the row and column or the model, that is wrong.
    """
    if quality_scale not in QUALITY_SCALES:
        raise DatasetError(f"quality scale {quality_scale!r}: expected one of {', '.join(QUALITY_SCALES)}")
    if route is not None and not route.strip():
        raise DatasetError("the route given for every task is empty")
    names = load_model_map(model_map) if isinstance(model_map, Path) else model_map
    records, columns = _read_records(path)
    layout = _layout(path, columns, route, names, ignore_columns)
    raw = [_raw_results(path, record, layout) for record in records]
    scale = _scale(
        quality_scale, [quality for results in raw for quality, _ in results.values() if quality is not None]
    )
    rows: dict[str, _RowTask] = {}
    for record, results in zip(records, raw, strict=True):
        row = _task(path, record, layout, route, results, scale or "0-1")  # every quality 1 is valid on either scale
        earlier = rows.get(row.task.task_id)
        rows[row.task.task_id] = row if earlier is None else _merge(path, earlier, row)
    if scale is None:  # refused once the rows are known to be good, so that a malformed row is reported first
        raise DatasetError(
            f"{path}: every quality is 1: a success on the 0-1 scale, the worst score on the 1-5 scale, and no other "
            "value tells which; give the scale: --quality-scale 0-1 or --quality-scale 1-5"
        )
    models = tuple(model for model, _ in layout.models.values())
    tasks = tuple(
        replace(row.task, results={model: row.task.results[model] for model in models if model in row.task.results})
        for row in rows.values()
    )
    skipped = {model: sum(model not in task.results for task in tasks) for model in models}
    skipped = {model: count for model, count in skipped.items() if count}
    return OutcomeTable(path, tasks, models, skipped, tuple(column for column in columns if column in ignore_columns))


def check_against_route_set(
    table: OutcomeTable, route_set: RouteSet, *, model_map: ModelMap | None = None, routes: str = "the route set"
) -> None:
    """Check that every route of the table is a route of ``route_set`` and every model is in its catalog.

    Args:
        routes: How messages name the route set (e.g. its folder).

    Raises:
        DatasetError: naming the unknown routes or models, and what the route set has.
    """
    known_routes = {spec.name for spec in route_set.routes}
    unknown_routes = sorted({task.route for task in table.tasks} - known_routes)
    if unknown_routes:
        raise DatasetError(
            f"{table.path}: {_listed('route', unknown_routes)} not in {routes}; its routes are: "
            f"{', '.join(sorted(known_routes))}"
        )
    unknown_models = [model for model in table.models if model not in route_set.models]
    if not unknown_models:
        return
    if model_map is None:
        fix = "map the table's names to catalog names with a model map (--map FILE)"
    else:
        sources = {target: source for source, target in model_map.names.items() if target is not None}
        mapped = ", ".join(f"{sources.get(model, model)!r} -> {model!r}" for model in unknown_models)
        fix = f"the model map {model_map.path} maps {mapped}"
    raise DatasetError(
        f"{table.path}: {_listed('model', unknown_models)} not in the catalog of {routes} (router.yaml); {fix}. "
        f"The catalog has: {', '.join(sorted(route_set.models))}"
    )


def import_outcomes(
    path: Path,
    *,
    embedder: Embedder,
    part: EmbedPart,
    route: str | None = None,
    model_map: ModelMap | Path | None = None,
    quality_scale: QualityScale = "auto",
    progress: bool = True,
    route_set: RouteSet | None = None,
    source: str | None = None,
    ignore_columns: Collection[str] = (),
) -> ImportResult:
    """Read a table (:func:`load_outcome_table`), check it against ``route_set`` when one is given, and turn it into
    observations (:func:`observe`) of the source ``source`` names (:func:`import_source`).

    Raises:
        DatasetError: the table, the map, the source name, or a route or model not in ``route_set``.
    """
    names = load_model_map(model_map) if isinstance(model_map, Path) else model_map
    source_name = import_source(path, source)
    table = load_outcome_table(
        path, route=route, model_map=names, quality_scale=quality_scale, ignore_columns=ignore_columns
    )
    if route_set is not None:
        check_against_route_set(table, route_set, model_map=names)
    return observe(table, embedder=embedder, part=part, progress=progress, source=source_name)


def import_source(path: Path, name: str | None = None) -> str:
    """The source of the observations imported from ``path``: ``import:`` and ``name`` when one is given (a name
    already starting with ``import:`` is kept as it is), else ``import:`` and the file's resolved path, so that two
    files sharing a name are two sources and re-importing one replaces only its own rows.

    Raises:
        DatasetError: the name is empty, or the source is longer than the store keeps.
    """
    if name is None:
        source = SOURCE_PREFIX + str(path.resolve())
    elif not name.strip() or name.strip() == SOURCE_PREFIX:
        raise DatasetError("the source name is empty")
    else:
        name = name.strip()
        source = name if name.startswith(SOURCE_PREFIX) else SOURCE_PREFIX + name
    if len(source) > MAX_SOURCE_CHARS:
        raise DatasetError(
            f"the source {source[:60]!r}... is {len(source)} characters, over the store's limit of "
            f"{MAX_SOURCE_CHARS} characters: name it with --source NAME"
        )
    return source


def observe(
    table: OutcomeTable, *, embedder: Embedder, part: EmbedPart, progress: bool = True, source: str | None = None
) -> ImportResult:
    """One observation per task and model of ``table``: the embedding of the task's ``part`` (its
    :func:`~semroute.task_part.part_to_embed`, the vector serving keeps for the learned choice; in batches, with a
    progress bar), the structural features of its whole text, propensity 1, source ``source`` (default: the table's
    :func:`import_source`)."""
    source = source if source is not None else import_source(table.path)
    observed = [task for task in table.tasks if task.results]
    vectors = embed_texts(embedder, [part_to_embed(task.text, part) for task in observed], progress=progress)
    found: list[Observation] = []
    for task, vector in zip(observed, vectors, strict=True):
        features = structural_features(task.text)
        for model, (quality, cost) in task.results.items():
            found.append(
                Observation(
                    task_id=task.task_id,
                    route=task.route,
                    model=model,
                    quality=quality,
                    embedding=vector,
                    features=features,
                    propensity=1.0,  # every model ran on every task
                    cost_usd=cost,
                    source=source,
                )
            )
    means = {
        model: float(np.mean(qualities))
        for model in table.models
        if (qualities := [item.quality for item in found if item.model == model])
    }
    texts = {task.task_id: task.text for task in observed}
    return ImportResult(
        source, tuple(found), texts, len(table.tasks), table.models, table.skipped, means, table.ignored
    )


def _read_records(path: Path) -> tuple[list[_Record], list[str]]:
    suffix = path.suffix.lower()
    if suffix in _DELIMITERS:
        records, columns = _read_delimited(path, _DELIMITERS[suffix])
    elif suffix in _JSON_LINES:
        records, columns = _read_json_lines(path)
    else:
        raise DatasetError(f"{path}: unsupported outcome table; expected .csv, .tsv or .jsonl")
    if not records:
        raise DatasetError(f"{path}: no rows")
    return records, columns


def _read_delimited(path: Path, delimiter: str) -> tuple[list[_Record], list[str]]:
    reader = csv.reader(io.StringIO(_read_text(path), newline=""), delimiter=delimiter)
    records: list[_Record] = []
    with _cell_limit():
        try:
            header = next(reader, [])
            duplicated = sorted({column for column in header if header.count(column) > 1})
            if duplicated:
                raise DatasetError(f"{path}: the header names {_quoted(duplicated)} more than once")
            for cells in reader:
                if not cells:
                    continue  # a blank line
                if len(cells) != len(header):
                    raise DatasetError(
                        f"{path}, row {len(records) + 1} (line {reader.line_num}): {len(cells)} cells, but the "
                        f"header has {len(header)} columns"
                    )
                records.append(_Record(len(records) + 1, reader.line_num, dict(zip(header, cells, strict=True))))
        except csv.Error as error:
            raise DatasetError(f"{path}, line {reader.line_num}: not readable ({error})") from None
    return records, header


def _read_json_lines(path: Path) -> tuple[list[_Record], list[str]]:
    records: list[_Record] = []
    # Split on newlines only: JSON allows U+2028 and friends inside strings, and str.splitlines() would cut there.
    for line, content in enumerate(_read_text(path).split("\n"), start=1):
        if not content.strip():
            continue
        try:
            cells = json.loads(content)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path}, line {line}: not valid JSON ({error.msg})") from None
        if not isinstance(cells, dict):
            raise DatasetError(f"{path}, line {line}: expected an object, found {type(cells).__name__}")
        records.append(_Record(len(records) + 1, line, cells))
    columns = dict.fromkeys(column for record in records for column in record.cells)
    return records, list(columns)


@contextmanager
def _cell_limit() -> Iterator[None]:
    previous = csv.field_size_limit(_MAX_CELL_CHARS)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheet exports often start with a byte order mark
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: not readable ({error})") from None


def _layout(
    path: Path,
    columns: Sequence[str],
    route: str | None,
    model_map: ModelMap | None,
    ignore_columns: Collection[str],
) -> _Layout:
    missing = [column for column in ignore_columns if column not in columns]
    if missing:
        raise DatasetError(
            f"--ignore-column {_quoted(missing)} {'is not a column' if len(missing) == 1 else 'are not columns'} of "
            f"{path}; its columns are: {', '.join(columns)}"
        )
    read = [column for column in columns if column not in ignore_columns]
    reserved = {column for column in (*TEXT_COLUMNS, *ID_COLUMNS, ROUTE_COLUMN) if column in read}
    mapped = model_map.names if model_map is not None else {}
    model_columns = [
        column
        for column in read
        if column not in reserved and (column in mapped or any(column + suffix in read for suffix in COST_SUFFIXES))
    ]
    ignored_models = [
        column
        for column in ignore_columns
        if column in mapped or any(column + suffix in read for suffix in COST_SUFFIXES)
    ]
    if ignored_models:
        raise DatasetError(
            f"--ignore-column {_quoted(ignored_models)} is a model's quality column (it has a cost column, or the "
            "model map names it); leave a model out with a model map instead (--map FILE, 'name: null')"
        )
    _check_understood(path, read, reserved, model_columns)
    text = next((column for column in TEXT_COLUMNS if column in read), None)
    if text is None:
        raise DatasetError(f"{path}: no text column ('text' or 'prompt'); its columns are: {', '.join(columns)}")
    task_id = next((column for column in ID_COLUMNS if column in read), None)
    route_column = ROUTE_COLUMN if ROUTE_COLUMN in read else None
    if route is None and route_column is None:
        raise DatasetError(
            f"{path}: no route for its tasks: give one for every task (--route NAME) or a 'route' column"
        )
    if not model_columns:
        raise DatasetError(
            f"{path}: no model columns: a model needs a quality column '<model>' and a cost column "
            f"'<model>|total_cost' or '<model>|cost'; its columns are: {', '.join(columns)}"
        )
    models: dict[str, tuple[str, str | None]] = {}
    for column in model_columns:
        catalog = mapped.get(column, column)
        if catalog is None:
            continue  # the map leaves this model out
        cost = next((column + suffix for suffix in COST_SUFFIXES if column + suffix in read), None)
        models[column] = (catalog, cost)
    if model_map is not None:
        _check_mapped(path, model_columns, models, model_map)
    return _Layout(text, task_id, route_column, models)


def _check_understood(path: Path, columns: Sequence[str], reserved: Collection[str], models: Sequence[str]) -> None:
    """Refuse a column the importer does not read, saying what it probably should be.

    Raises:
        DatasetError: naming every such column, with a guess where a near name tells, and the layout read.
    """
    companions = {model + suffix for model in models for suffix in (*COST_SUFFIXES, *SKIPPED_SUFFIXES)}
    known = {*reserved, *SKIPPED_COLUMNS, *models, *companions}
    unknown = [column for column in columns if column not in known]
    if not unknown:
        return
    guesses = [f"  {column!r}: {guess}" for column in unknown if (guess := _guess(column, columns, unknown))]
    raise DatasetError(
        "\n".join(
            [
                f"{path}: {_listed('column', unknown)} not understood" + (":" if guesses else ""),
                *guesses,
                "The importer reads a text column ('text' or 'prompt'), optionally an id ('sample_id' or 'id') and "
                "a 'route', and per model a quality column '<model>' with a cost column '<model>|total_cost' or "
                "'<model>|cost' (or a quality column a model map names); RouterBench's 'eval_name', "
                "'oracle_model_to_route_to' and '<model>|model_response' are skipped. Rename the column, or leave "
                "it out with --ignore-column NAME.",
            ]
        )
    )


def _guess(column: str, columns: Sequence[str], unknown: Sequence[str]) -> str | None:
    """What a column not understood probably should be, when a near name tells; None when nothing does."""
    model, bar, suffix = column.rpartition("|")
    orphans = [name.rpartition("|")[0] for name in unknown if "|" + name.rpartition("|")[2] in COST_SUFFIXES]
    if bar and "|" + suffix in COST_SUFFIXES:  # a cost column whose quality column is not there
        near = _closest(model, [name for name in unknown if "|" not in name])
        return f"a cost column without its quality column {model!r}" + (f" (is it {near!r}?)" if near else "")
    if bar and model in columns:
        near = _closest("|" + suffix, (*COST_SUFFIXES, *SKIPPED_SUFFIXES))
        return f"did you mean {model + near!r}?" if near else None
    if any(name.startswith(column + "|") for name in columns):
        return f"a quality column without its cost column ({column + '|total_cost'!r} or {column + '|cost'!r})"
    near = _closest(column, (*TEXT_COLUMNS, *ID_COLUMNS, ROUTE_COLUMN, *SKIPPED_COLUMNS, *orphans))
    return f"did you mean {near!r}?" if near else None


def _closest(name: str, candidates: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
    return found[0] if found else None


def _check_mapped(
    path: Path, columns: Sequence[str], models: Mapping[str, tuple[str, str | None]], model_map: ModelMap
) -> None:
    unmapped = [column for column in columns if column not in model_map.names]
    if unmapped:
        raise DatasetError(
            f"{path}: {_listed('model', unmapped)} not in the model map {model_map.path}; add 'name: catalog name' to "
            "import a model, or 'name: null' to leave it out"
        )
    if not models:
        raise DatasetError(f"{path}: the model map {model_map.path} leaves out every model of the table")
    seen: dict[str, str] = {}
    for column, (catalog, _) in models.items():
        if catalog in seen:
            raise DatasetError(
                f"model map {model_map.path}: {seen[catalog]!r} and {column!r} both map to {catalog!r}; a task would "
                "have two results for one model"
            )
        seen[catalog] = column


def _raw_results(path: Path, record: _Record, layout: _Layout) -> dict[str, tuple[float | None, float | None]]:
    """Quality column -> (quality as written or None when blank, cost or None), checked to be numbers."""
    results: dict[str, tuple[float | None, float | None]] = {}
    for column, (_, cost_column) in layout.models.items():
        quality = _number(record.cells.get(column), _at(path, record, column), "quality")
        cost = None
        if cost_column is not None:
            cost = _number(record.cells.get(cost_column), _at(path, record, cost_column), "cost")
            if cost is not None and cost < 0:
                raise DatasetError(f"{_at(path, record, cost_column)}: cost {cost:g} is negative")
        results[column] = (quality, cost)
    return results


def _scale(requested: QualityScale, qualities: Sequence[float]) -> Literal["0-1", "1-5"] | None:
    """The scale requested, or the one the values tell (None: every value is 1, and nothing tells)."""
    if requested != "auto":
        return requested
    if qualities and all(value == 1 for value in qualities):
        return None
    scores = all(value.is_integer() and 1 <= value <= 5 for value in qualities)
    return "1-5" if qualities and scores else "0-1"


def _task(
    path: Path,
    record: _Record,
    layout: _Layout,
    route: str | None,
    raw: Mapping[str, tuple[float | None, float | None]],
    scale: Literal["0-1", "1-5"],
) -> _RowTask:
    parts = _text_parts(record.cells.get(layout.text), _at(path, record, layout.text))
    text = "\n".join(parts)
    task_id = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if layout.task_id is not None:
        task_id = _name(record.cells.get(layout.task_id), _at(path, record, layout.task_id), "task id")
        if len(task_id) > MAX_TASK_ID_CHARS:
            where = _at(path, record, layout.task_id)
            raise DatasetError(f"{where}: the task id is {len(task_id)} characters, over {MAX_TASK_ID_CHARS}")
    if route is None:
        assert layout.route is not None  # _layout refuses a table without either
        route = _name(record.cells.get(layout.route), _at(path, record, layout.route), "route")
    results = {
        layout.models[column][0]: (_quality(quality, scale, _at(path, record, column)), cost)
        for column, (quality, cost) in raw.items()
        if quality is not None
    }
    return _RowTask(LabelledTask(task_id, text, route.strip(), results), parts, record.row)


def _merge(path: Path, earlier: _RowTask, later: _RowTask) -> _RowTask:
    """Two rows of one task as one (see the module's docstring)."""
    where = f"{path}, rows {earlier.row} and {later.row}: task id {earlier.task.task_id!r}"
    if tuple(dict.fromkeys(earlier.parts)) != tuple(dict.fromkeys(later.parts)):
        raise DatasetError(f"{where} is on both, with different texts")
    if earlier.task.route != later.task.route:
        raise DatasetError(f"{where} is on both, with routes {earlier.task.route!r} and {later.task.route!r}")
    both = [model for model in earlier.task.results if model in later.task.results]
    if both:
        raise DatasetError(f"{where} is on both, and both grade {_quoted(both)}")
    results = {**earlier.task.results, **later.task.results}
    return replace(earlier, task=replace(earlier.task, results=results))


def _quality(value: float, scale: Literal["0-1", "1-5"], where: str) -> float:
    if scale == "1-5":
        if not (value.is_integer() and 1 <= value <= 5):
            raise DatasetError(f"{where}: quality {value:g} is not a 1-5 score (an integer from 1 to 5)")
        return quality_of_score(int(value))
    if not 0 <= value <= 1:
        raise DatasetError(
            f"{where}: quality {value:g} is outside the 0-1 scale (a table of 1-5 scores: use the 1-5 quality scale)"
        )
    return value


def _text_parts(value: Any, where: str) -> tuple[str, ...]:
    """The strings a text cell holds: itself, or the items of a list of strings (joined with newlines later)."""
    items = value if isinstance(value, list) else _list_literal(value) if isinstance(value, str) else None
    if items is not None and all(isinstance(item, str) for item in items):
        parts = tuple(items)
    elif isinstance(value, str):
        parts = (value,)
    elif value is None:
        raise DatasetError(f"{where}: no text")
    else:
        raise DatasetError(f"{where}: expected a text (or a list of strings), found {type(value).__name__}")
    if not "".join(parts).strip():
        raise DatasetError(f"{where}: the text is empty")
    return parts


def _list_literal(cell: str) -> list[Any] | None:
    """The list a cell such as ``['Write a function ...']`` spells out; None when it spells out no list."""
    stripped = cell.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return None
    try:
        parsed = ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return parsed if isinstance(parsed, list) else None


def _name(value: Any, where: str, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: the {what} is empty")
    return value.strip()


def _number(value: Any, where: str, what: str) -> float | None:
    """A cell as a number; None when it is blank (empty, missing, JSON null)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool | int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise DatasetError(f"{where}: {what} {value!r} is not a number") from None
    else:
        raise DatasetError(f"{where}: {what} must be a number, found {type(value).__name__}")
    if not math.isfinite(number):
        raise DatasetError(f"{where}: {what} {value!r} is not a finite number")
    return number


def _at(path: Path, record: _Record, column: str) -> str:
    return f"{path}, row {record.row} (line {record.line}), column {column!r}"


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _listed(noun: str, names: Sequence[str]) -> str:
    """E.g. ``model 'a' is`` or ``models 'a', 'b' are``."""
    return f"{noun} {_quoted(names)} is" if len(names) == 1 else f"{noun}s {_quoted(names)} are"
