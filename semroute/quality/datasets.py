"""Labelled text data for evaluation, fitting and building routes from a dataset.

Two layouts are read:

- the CLINC150 JSON layout, one object ``{split: [[text, label], ...]}`` per file; a *split spec* names one split or
  several joined with ``+`` (``val+oos_val``), and only the named splits are ever looked at;
- a table, one file per split: JSON Lines (one object per line) or CSV with a header, with configurable text and label
  columns (``text`` and ``label`` by default).

Labels become route names through :func:`route_name`, so a dataset's labels and the routes built from it always match.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semroute.errors import DatasetError

DEFAULT_OOS_LABEL = "oos"
DEFAULT_TEXT_COLUMN = "text"
DEFAULT_LABEL_COLUMN = "label"
_TABLE_SUFFIXES = (".jsonl", ".csv")


@dataclass(frozen=True)
class LabelledSet:
    """Texts with their expected labels, and where they came from (``file:split``)."""

    source: str
    texts: tuple[str, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{self.source}: {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, count: int) -> LabelledSet:
        """The first ``count`` items (a quick look at a large set)."""
        return LabelledSet(f"{self.source}[:{count}]", self.texts[:count], self.labels[:count])


def split_names(spec: str) -> tuple[str, ...]:
    """The split names of a spec such as ``val+oos_val``.

    Raises:
        DatasetError: the spec is empty or names a split twice.
    """
    names = tuple(part.strip() for part in spec.split("+"))
    if not spec.strip() or any(not name for name in names):
        raise DatasetError(f"split spec {spec!r}: give split names joined with '+', e.g. 'val+oos_val'")
    if len(set(names)) != len(names):
        raise DatasetError(f"split spec {spec!r} names a split twice")
    return names


def load_labelled(
    path: Path,
    split: str | None = None,
    *,
    text_column: str = DEFAULT_TEXT_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
) -> LabelledSet:
    """Read a labelled set: splits of a CLINC150-layout ``.json`` file, or a whole ``.jsonl``/``.csv`` table.

    Args:
        path: the data file.
        split: split spec for a ``.json`` file (required there, refused for a table, which is one split).
        text_column: column (table) holding the text.
        label_column: column (table) holding the label.

    Raises:
        DatasetError: naming the file, split, line or column that is wrong.
    """
    if path.suffix == ".json":
        if split is None:
            raise DatasetError(f"{path}: a CLINC150-layout .json file holds several splits; name one with --split")
        return select_splits(_read_json(path), split_names(split), str(path))
    if path.suffix in _TABLE_SUFFIXES:
        if split is not None:
            raise DatasetError(f"{path}: a {path.suffix} file is one split; --split applies to .json files only")
        rows = _read_jsonl(path) if path.suffix == ".jsonl" else _read_csv(path)
        return _from_rows(path, rows, text_column, label_column)
    raise DatasetError(f"{path}: unsupported data file; expected .json (CLINC150 layout), .jsonl or .csv")


def select_splits(splits: Mapping[str, Any], names: Sequence[str], source: str) -> LabelledSet:
    """Join the named splits of a CLINC150-layout mapping, touching no other split.

    Raises:
        DatasetError: a split is missing or is not a list of ``[text, label]`` pairs.
    """
    texts: list[str] = []
    labels: list[str] = []
    for name in names:
        if name not in splits:
            raise DatasetError(f"{source}: no split {name!r}; it has: {', '.join(sorted(splits))}")
        for position, pair in enumerate(_as_list(splits[name], f"{source}, split {name!r}")):
            text, label = _pair(pair, f"{source}, split {name!r}, item {position}")
            texts.append(text)
            labels.append(label)
    return LabelledSet(f"{source}:{'+'.join(names)}", tuple(texts), tuple(labels))


def route_name(label: str) -> str:
    """The route name a label becomes: lower-case, non-alphanumerics as ``_``, starting with a letter.

    Raises:
        DatasetError: the label has no letter or digit.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")
    if not slug:
        raise DatasetError(f"label {label!r} cannot become a route name: it has no letter or digit")
    if not slug[0].isalpha():
        slug = f"r_{slug}"
    return slug[:64]


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected an object of splits at the top level, found {type(data).__name__}")
    return data


def _read_jsonl(path: Path) -> list[Any]:
    rows: list[Any] = []
    for number, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}, line {number}: not valid JSON ({exc.msg})") from None
    return rows


def _read_csv(path: Path) -> list[Any]:
    return list(csv.DictReader(_read_lines(path)))


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not readable ({exc})") from None


def _from_rows(path: Path, rows: list[Any], text_column: str, label_column: str) -> LabelledSet:
    texts: list[str] = []
    labels: list[str] = []
    for number, row in enumerate(rows, start=1):
        where = f"{path}, row {number}"
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: expected an object with {text_column!r} and {label_column!r}")
        for column in (text_column, label_column):
            if not isinstance(row.get(column), str) or not row[column].strip():
                raise DatasetError(f"{where}: column {column!r} is missing or empty")
        texts.append(row[text_column])
        labels.append(row[label_column].strip())
    if not texts:
        raise DatasetError(f"{path}: no labelled rows")
    return LabelledSet(str(path), tuple(texts), tuple(labels))


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise DatasetError(f"{where}: expected a list of [text, label] pairs, found {type(value).__name__}")
    return value


def _pair(value: Any, where: str) -> tuple[str, str]:
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise DatasetError(f"{where}: expected [text, label], found {value!r:.80}")
    text, label = value
    if not text.strip() or not label.strip():
        raise DatasetError(f"{where}: empty text or label")
    return text, label.strip()


def refuse_test_split(path: Path, split: str | None) -> None:
    """Refuse any data that names a test split: fitting on it would make every test figure meaningless.

    Raises:
        DatasetError: a split name (or, for a table, the file name) contains ``test``.
    """
    named = split_names(split) if split is not None else (path.stem,)
    tests = [name for name in named if "test" in name.lower()]
    if tests:
        raise DatasetError(
            f"{path}: fit never reads a test split (got {', '.join(tests)}); fit on validation data and measure "
            "the test split with `semroute eval`"
        )
