"""The typed manifest: what it writes reads back the same, and an inconsistent artifact is refused at load time."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from semroute.errors import IndexArtifactError
from semroute.index import load_index, read_manifest
from semroute.manifest import Manifest


def rewrite(source: Path, target: Path, manifest: Callable[[dict[str, Any]], None], rows: Any = None) -> Path:
    """A copy of the artifact at ``source`` with its manifest (and optionally its utterance rows) edited."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "manifest.json":
                edited = json.loads(data)
                manifest(edited)
                data = json.dumps(edited).encode()
            if item.filename == "utterances.json" and rows is not None:
                utterances = json.loads(data)
                utterances["routes"] = rows(utterances["routes"])
                data = json.dumps(utterances).encode()
            copy.writestr(item, data)
    return target


def test_the_manifest_round_trips(default_index_path: Path) -> None:
    manifest = read_manifest(default_index_path)
    assert manifest is not None

    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.policy().routes.keys() == {target.name for target in manifest.routes}


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda m: m.pop("counts"), "counts"),
        (lambda m: m.update(built_at="yesterday"), "built_at"),
        (lambda m: m["catalog"].pop(m["routes"][0]["model"]), "catalog lacks"),
        (lambda m: m["counts"].update(routes=99), "counts"),
        (lambda m: m["settings"].update(default_route="nowhere"), "default route"),
        (lambda m: m.update(unexpected=1), "unexpected"),
    ],
)
def test_an_inconsistent_manifest_is_refused_at_load(
    default_index_path: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], None], named: str
) -> None:
    broken = rewrite(default_index_path, tmp_path / "broken.zip", edit)

    with pytest.raises(IndexArtifactError, match=f"inconsistent.*{named}"):
        load_index(broken)


def test_a_route_number_out_of_range_is_refused_at_load(default_index_path: Path, tmp_path: Path) -> None:
    broken = rewrite(default_index_path, tmp_path / "rows.zip", lambda m: None, rows=lambda r: [*r[:-1], 10_000])

    with pytest.raises(IndexArtifactError, match="route numbers outside"):
        load_index(broken)
