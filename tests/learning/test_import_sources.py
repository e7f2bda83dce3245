"""Re-importing a source replaces all of its rows, and only its own: a source is the file's resolved path (or the
name given with ``--source``), so two files sharing a name are two sources; the command says what it replaced, and
``outcomes list`` / ``outcomes forget`` show and delete a source's observations. The store's half runs against SQLite
and a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from semroute.cli import main
from semroute.embedding import FastEmbedEmbedder
from semroute.errors import DatasetError
from semroute.features import structural_features
from semroute.learning.importing import import_outcomes, import_source, load_outcome_table, observe
from semroute.learning.observations import Observation
from semroute.store import OutcomeDatabase, sqlite_url
from semroute.task_part import EmbedPart
from tests.learning import test_importing
from tests.learning.test_importing import write_jsonl, write_map
from tests.store import conftest as store_fixtures

# The store's fixtures (an SQLite file, and a database on a real PostgreSQL), and the importer's route set.
store_url = store_fixtures.store_url
postgres_server = store_fixtures.postgres_server
database = store_fixtures.database
routes_dir = test_importing.routes_dir


def observation(
    task_id: str, model: str, quality: float = 1.0, *, source: str = "import:/a/results.jsonl"
) -> Observation:
    return Observation(
        task_id=task_id,
        route="general",
        model=model,
        quality=quality,
        embedding=np.ones(8, dtype=np.float32) / np.sqrt(8),
        features=structural_features(f"task {task_id}"),
        source=source,
    )


def results_rows(count: int, *, failed_every: int = 3) -> list[dict[str, Any]]:
    """``count`` tasks (ids 0..count-1) graded for models gpt-4 (failing every ``failed_every``-th) and gpt-3.5."""
    return [
        {"id": str(i), "text": f"question number {i}: what is {i} + {i}?", "route": "general"}
        | {"gpt-4": int(i % failed_every != 0), "gpt-4|cost": 0.01, "gpt-3.5": 0, "gpt-3.5|cost": 0.001}
        for i in range(count)
    ]


def folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def run(*arguments: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, ["outcomes", *arguments], input=input, catch_exceptions=False)


def stored(url: str) -> list[Observation]:
    database = OutcomeDatabase(url)
    try:
        return database.observations()
    finally:
        database.close()


# --- the store ----------------------------------------------------------------------------------------------------


def test_replacing_a_source_deletes_all_its_rows_and_keeps_the_others(database: OutcomeDatabase) -> None:
    database.insert_observations([observation(str(i), "small") for i in range(3)] + [observation("0", "big")])
    other = observation("0", "small", 0.0, source="import:/b/results.jsonl")
    database.insert_observations([other])

    written, replaced = database.replace_source("import:/a/results.jsonl", [observation("9", "big", 0.5)])

    assert (written, replaced) == (1, 4)
    found = {(item.source, item.task_id, item.model): item.quality for item in database.observations()}
    assert found == {("import:/a/results.jsonl", "9", "big"): 0.5, ("import:/b/results.jsonl", "0", "small"): 0.0}


def test_replacing_a_source_with_a_bad_batch_keeps_its_rows(database: OutcomeDatabase) -> None:
    database.insert_observations([observation("0", "small"), observation("1", "small")])

    with pytest.raises(ValueError, match=r"quality must be"):
        database.replace_source("import:/a/results.jsonl", [observation("0", "big", 2.0)])
    with pytest.raises(
        ValueError, match=r"observations\[0\] .*source 'import:/b/x.csv', not 'import:/a/results.jsonl'"
    ):
        database.replace_source("import:/a/results.jsonl", [observation("0", "big", source="import:/b/x.csv")])

    assert database.count("observations") == 2


def test_a_source_is_listed_and_forgotten(database: OutcomeDatabase) -> None:
    database.insert_observations([observation("0", "small"), observation("0", "big"), observation("1", "small")])
    database.insert_observations([observation("0", "small", source="evaluate-models")])

    sources = {summary.source: summary for summary in database.observation_sources()}

    assert list(sources) == ["evaluate-models", "import:/a/results.jsonl"]
    summary = sources["import:/a/results.jsonl"]
    assert (summary.observations, summary.tasks, summary.models, summary.routes) == (
        3,
        2,
        ("big", "small"),
        ("general",),
    )
    assert database.forget_source("import:/a/results.jsonl") == 3
    assert database.forget_source("import:/a/results.jsonl") == 0
    assert [item.source for item in database.observations()] == ["evaluate-models"]


# --- the source of an import --------------------------------------------------------------------------------------


def test_two_files_sharing_a_name_are_two_sources(tmp_path: Path) -> None:
    first = write_jsonl(folder(tmp_path / "a") / "results.jsonl", results_rows(2))
    second = write_jsonl(folder(tmp_path / "b") / "results.jsonl", results_rows(2))

    assert import_source(first) == f"import:{first.resolve()}"
    assert import_source(first) != import_source(second)
    assert import_source(first, "arc-train") == import_source(second, "arc-train") == "import:arc-train"
    assert import_source(first, "import:arc-train") == "import:arc-train"
    with pytest.raises(DatasetError, match=r"the source name is empty"):
        import_source(first, "  ")
    with pytest.raises(DatasetError, match=r"over the store's limit of 256 characters: name it with --source NAME"):
        import_source(first, "x" * 250)


def test_an_import_names_its_source(tmp_path: Path, embedder: FastEmbedEmbedder) -> None:
    path = write_jsonl(tmp_path / "results.jsonl", results_rows(1))

    table = load_outcome_table(path)
    default = observe(table, embedder=embedder, part=EmbedPart.WHOLE, progress=False)
    named = import_outcomes(path, embedder=embedder, part=EmbedPart.WHOLE, progress=False, source="arc")

    assert default.source == f"import:{path.resolve()}"
    assert {item.source for item in default.observations} == {default.source}
    assert named.source == "import:arc" and {item.source for item in named.observations} == {"import:arc"}


# --- the command --------------------------------------------------------------------------------------------------


def test_a_file_sharing_another_files_name_does_not_replace_its_rows(
    tmp_path: Path, routes_dir: Path, embedder: FastEmbedEmbedder
) -> None:
    first = write_jsonl(folder(tmp_path / "a") / "results.jsonl", results_rows(30))
    second = write_jsonl(folder(tmp_path / "b") / "results.jsonl", results_rows(15))
    map_path = write_map(tmp_path / "map.yaml", {"gpt-4": "big", "gpt-3.5": "small"})
    url = sqlite_url(tmp_path / "outcomes.db")
    common = ["--routes", str(routes_dir), "--store", url, "--map", str(map_path)]

    assert run("import", str(first), *common).exit_code == 0
    result = run("import", str(second), *common)

    assert result.exit_code == 0, result.output
    assert "observations  30 written to sqlite:///" in result.output
    assert "replaced      0 (no earlier import of this source)" in result.output
    assert f"note          import:{first.resolve()} (60 observations) also comes from a file named results.jsonl" in (
        result.output
    )
    assert f"semroute outcomes forget import:{first.resolve()}" in result.output
    found = stored(url)
    assert len(found) == 90
    assert {item.source for item in found} == {f"import:{first.resolve()}", f"import:{second.resolve()}"}


def test_a_reimport_replaces_every_row_of_its_source(
    tmp_path: Path, routes_dir: Path, embedder: FastEmbedEmbedder
) -> None:
    path = write_jsonl(tmp_path / "arc_challenge_train.jsonl", results_rows(20))
    url = sqlite_url(tmp_path / "outcomes.db")
    common = [str(path), "--routes", str(routes_dir), "--store", url]
    wrong = write_map(tmp_path / "wrong.yaml", {"gpt-4": "small", "gpt-3.5": None})
    right = write_map(tmp_path / "right.yaml", {"gpt-4": "big", "gpt-3.5": None})
    assert run("import", *common, "--map", str(wrong)).exit_code == 0

    result = run("import", *common, "--map", str(right))

    assert result.exit_code == 0, result.output
    assert "observations  20 written to sqlite:///" in result.output
    assert "replaced      20 observations of an earlier import of this source" in result.output
    assert "note" not in result.output
    assert {(item.model, item.source) for item in stored(url)} == {("big", f"import:{path.resolve()}")}
    assert len(stored(url)) == 20


def test_a_named_source_is_replaced_whichever_file_it_comes_from(
    tmp_path: Path, routes_dir: Path, embedder: FastEmbedEmbedder
) -> None:
    first = write_jsonl(tmp_path / "run1.jsonl", results_rows(10))
    second = write_jsonl(tmp_path / "run2.jsonl", results_rows(5, failed_every=1))
    url = sqlite_url(tmp_path / "outcomes.db")
    common = [
        "--routes",
        str(routes_dir),
        "--store",
        url,
        "--map",
        str(write_map(tmp_path / "m.yaml", {"gpt-4": "big", "gpt-3.5": "small"})),
    ]
    assert run("import", str(first), *common, "--source", "nightly").exit_code == 0

    result = run("import", str(second), *common, "--source", "nightly")

    assert result.exit_code == 0, result.output
    assert "source        import:nightly" in result.output
    assert "replaced      20 observations of an earlier import of this source" in result.output
    assert len(stored(url)) == 10 and {item.source for item in stored(url)} == {"import:nightly"}


def test_outcomes_list_and_forget(tmp_path: Path, routes_dir: Path, embedder: FastEmbedEmbedder) -> None:
    path = write_jsonl(tmp_path / "results.jsonl", results_rows(3))
    url = sqlite_url(tmp_path / "outcomes.db")
    map_path = write_map(tmp_path / "m.yaml", {"gpt-4": "big", "gpt-3.5": "small"})
    assert run("import", str(path), "--routes", str(routes_dir), "--store", url, "--map", str(map_path)).exit_code == 0
    source = f"import:{path.resolve()}"

    listed = run("list", "--store", url)

    assert listed.exit_code == 0, listed.output
    assert source in listed.output and "big, small" in listed.output
    assert [line.split()[1:4] for line in listed.output.splitlines() if line.startswith(source)] == [
        ["6", "3", "general"]
    ]

    unknown = run("forget", "import:nothing", "--store", url, "--yes")
    assert unknown.exit_code == 2
    assert "no observations of source 'import:nothing' in sqlite:///" in unknown.output
    assert source in unknown.output  # the sources it has

    declined = run("forget", source, "--store", url, input="n\n")
    assert declined.exit_code == 1 and len(stored(url)) == 6

    forgotten = run("forget", source, "--store", url, "--yes")
    assert forgotten.exit_code == 0, forgotten.output
    assert f"forgot 6 observations of {source}" in forgotten.output
    assert stored(url) == []
    assert "no imported or evaluated observations" in run("list", "--store", url).output


def test_rows_an_earlier_version_wrote_under_the_file_name_are_pointed_at(
    tmp_path: Path, routes_dir: Path, embedder: FastEmbedEmbedder
) -> None:
    path = write_jsonl(tmp_path / "results.jsonl", results_rows(4))
    url = sqlite_url(tmp_path / "outcomes.db")
    database = OutcomeDatabase(url)
    database.migrate()
    database.insert_observations([observation("0", "big", source="import:results.jsonl")])  # source: the file name
    database.close()
    map_path = write_map(tmp_path / "m.yaml", {"gpt-4": "big", "gpt-3.5": "small"})

    result = run("import", str(path), "--routes", str(routes_dir), "--store", url, "--map", str(map_path))

    assert result.exit_code == 0, result.output
    assert "note          import:results.jsonl (1 observation) also comes from a file named results.jsonl" in (
        result.output
    )
    assert "semroute outcomes forget import:results.jsonl" in result.output
    again = run(
        "import",
        str(path),
        "--routes",
        str(routes_dir),
        "--store",
        url,
        "--map",
        str(map_path),
        "--source",
        "results.jsonl",
    )
    assert "replaced      1 observation of an earlier import of this source" in again.output
