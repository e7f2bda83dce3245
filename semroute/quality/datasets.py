"""Labelled text data for evaluation, fitting and building routes from a dataset.

Two layouts are read:

- the CLINC150 JSON layout, one object ``{split: [[text, label], ...]}`` per file; a *split spec* names one split or
  several joined with ``+`` (``val+oos_val``), and only the named splits are ever looked at;
- a table, one file per split: JSON Lines (one object per line) or CSV with a header, with configurable text and label
  columns (``text`` and ``label`` by default).

Both layouts check every item and report every invalid one (empty or non-string text or label, a row that is not an
object, a line that is not JSON) in one :class:`~semroute.errors.DatasetError`, or, with ``skip_invalid``, leave them
out and count them. A table lacking the text or label column altogether is one whole-file error naming its columns.

Labels become route names through :func:`route_name`, so a dataset's labels and the routes built from it always match.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semroute.errors import DatasetError

DEFAULT_OOS_LABEL = "oos"
DEFAULT_TEXT_COLUMN = "text"
DEFAULT_LABEL_COLUMN = "label"
MAX_LISTED_ITEMS = 20  # invalid items listed in an error; the rest are counted
_TABLE_SUFFIXES = (".jsonl", ".csv")


@dataclass(frozen=True)
class LabelledSet:
    """Texts with their expected labels, and where they came from (``file:split``).

    ``skipped`` counts the invalid items that ``skip_invalid`` left out, and ``skipped_reasons`` says why, as
    ``(reason, items)`` pairs, most frequent first.
    """

    source: str
    texts: tuple[str, ...]
    labels: tuple[str, ...]
    skipped: int = 0
    skipped_reasons: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{self.source}: {len(self.texts)} texts but {len(self.labels)} labels")
        if self.skipped_reasons and sum(count for _, count in self.skipped_reasons) != self.skipped:
            raise ValueError(f"{self.source}: the skipped reasons do not add up to {self.skipped} items")

    def __len__(self) -> int:
        return len(self.texts)

    def head(self, count: int) -> LabelledSet:
        """The first ``count`` items (a quick look at a large set); the skipped count stays that of the file."""
        return LabelledSet(
            f"{self.source}[:{count}]", self.texts[:count], self.labels[:count], self.skipped, self.skipped_reasons
        )

    def skipped_summary(self) -> str:
        """How many invalid items were skipped and why, e.g. ``2 invalid items skipped (empty text x2)``; or ``""``."""
        if not self.skipped:
            return ""
        reasons = ", ".join(f"{reason} x{count}" for reason, count in self.skipped_reasons)
        return f"{_count(self.skipped, 'invalid item')} skipped" + (f" ({reasons})" if reasons else "")


@dataclass(frozen=True)
class InvalidItem:
    """One item that cannot be used: where it is (file and line, or file, split and item) and what is wrong."""

    where: str
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" + (f" ({self.detail})" if self.detail else "")


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
    skip_invalid: bool = False,
) -> LabelledSet:
    """Read a labelled set: splits of a CLINC150-layout ``.json`` file, or a whole ``.jsonl``/``.csv`` table.

    Args:
        path: the data file.
        split: split spec for a ``.json`` file (required there, refused for a table, which is one split).
        text_column: column (table) holding the text.
        label_column: column (table) holding the label.
        skip_invalid: leave out invalid items (counted in ``skipped``) instead of refusing the file.

    Raises:
        DatasetError: naming the file, split, line or column that is wrong; listing every invalid item (unless
            ``skip_invalid``, or when no valid item is left).
    """
    if path.suffix == ".json":
        if split is None:
            raise DatasetError(f"{path}: a CLINC150-layout .json file holds several splits; name one with --split")
        return select_splits(_read_json(path), split_names(split), str(path), skip_invalid=skip_invalid)
    if path.suffix in _TABLE_SUFFIXES:
        if split is not None:
            raise DatasetError(f"{path}: a {path.suffix} file is one split; --split applies to .json files only")
        rows, columns = _read_jsonl(path) if path.suffix == ".jsonl" else _read_csv(path)
        _require_columns(path, columns, text_column, label_column)
        return _from_rows(path, rows, text_column, label_column, skip_invalid)
    raise DatasetError(f"{path}: unsupported data file; expected .json (CLINC150 layout), .jsonl or .csv")


def select_splits(
    splits: Mapping[str, Any], names: Sequence[str], source: str, *, skip_invalid: bool = False
) -> LabelledSet:
    """Join the named splits of a CLINC150-layout mapping, touching no other split.

    Raises:
        DatasetError: a split is missing or is not a list; or items are not ``[text, label]`` pairs of non-empty
            strings (every one listed, unless ``skip_invalid``).
    """
    items = _Items()
    for name in names:
        if name not in splits:
            raise DatasetError(f"{source}: no split {name!r}; it has: {', '.join(sorted(splits))}")
        for position, pair in enumerate(_as_list(splits[name], f"{source}, split {name!r}")):
            where = f"{source}, split {name!r}, item {position}"
            if isinstance(pair, list | tuple) and len(pair) == 2:
                items.add(where, pair[0], pair[1], ("text", "label"))
            else:
                items.reject(where, "expected [text, label]", f"found {pair!r:.80}")
    return items.labelled_set(f"{source}:{'+'.join(names)}", skip_invalid)


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


@dataclass(frozen=True)
class _Row:
    """One record of a table, the line it is on, and the parser's complaint when the line is not JSON."""

    line: int
    value: Any
    not_json: str = ""


@dataclass
class _Items:
    """The items read so far: the valid ones, and each invalid one with its place, in file order."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    invalid: list[InvalidItem] = field(default_factory=list)

    def add(self, where: str, text: Any, label: Any, names: tuple[str, str]) -> None:
        """Keep the item, or note why it is invalid (its text checked first, ``names`` naming both in messages)."""
        problem = _value_problem(text, names[0]) or _value_problem(label, names[1])
        if problem:
            self.reject(where, *problem)
            return
        self.texts.append(text)
        self.labels.append(label.strip())

    def reject(self, where: str, reason: str, detail: str = "") -> None:
        """Note an invalid item."""
        self.invalid.append(InvalidItem(where, reason, detail))

    def labelled_set(self, source: str, skip_invalid: bool) -> LabelledSet:
        """The valid items, when there are no invalid ones or ``skip_invalid`` leaves some valid ones.

        Raises:
            DatasetError: listing the invalid items.
        """
        invalid = _count(len(self.invalid), "invalid item")
        if self.invalid and not skip_invalid:
            raise DatasetError(_listing(f"{source}: {invalid}; fix them or pass --skip-invalid", self))
        if self.invalid and not self.texts:
            raise DatasetError(_listing(f"{source}: no valid items, {invalid}", self))
        reasons = tuple(Counter(item.reason for item in self.invalid).most_common())
        return LabelledSet(source, tuple(self.texts), tuple(self.labels), len(self.invalid), reasons)


def _listing(headline: str, items: _Items) -> str:
    listed = [f"  {item}" for item in items.invalid[:MAX_LISTED_ITEMS]]
    hidden = len(items.invalid) - len(listed)
    return "\n".join([f"{headline}:", *listed, *([f"  ... and {hidden} more"] if hidden else [])])


def _value_problem(value: Any, name: str) -> tuple[str, str] | None:
    """``(reason, detail)`` when ``value`` is not a non-blank string; ``name`` says what it is."""
    if value is None:
        return f"{name} is missing", ""
    if not isinstance(value, str):
        return f"{name} is not a string", f"found {type(value).__name__}"
    if not value.strip():
        return f"{name} is empty", ""
    return None


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _read_json(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected an object of splits at the top level, found {type(data).__name__}")
    return data


def _read_jsonl(path: Path) -> tuple[list[_Row], list[str]]:
    """The records of a JSON Lines file and the keys its objects use, in order of first use."""
    rows: list[_Row] = []
    # Split on newlines only: JSON allows U+2028 and friends inside strings, and str.splitlines() would cut there.
    for number, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            rows.append(_Row(number, json.loads(line)))
        except json.JSONDecodeError as exc:
            rows.append(_Row(number, None, exc.msg))
    columns = dict.fromkeys(key for row in rows if isinstance(row.value, dict) for key in row.value)
    return rows, list(columns)


def _read_csv(path: Path) -> tuple[list[_Row], list[str]]:
    """The records of a CSV file, each with the line it ends on, and its header."""
    reader = csv.DictReader(io.StringIO(_read_text(path), newline=""))
    rows: list[_Row] = []
    try:
        for record in reader:
            rows.append(_Row(reader.line_num, record))
    except csv.Error as exc:
        raise DatasetError(f"{path}, line {reader.line_num}: not readable CSV ({exc})") from None
    return rows, list(reader.fieldnames or [])


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheet exports often start with a byte order mark
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not readable ({exc})") from None


def _require_columns(path: Path, columns: Sequence[str], text_column: str, label_column: str) -> None:
    """Refuse a table whose header (or whose every object) lacks the text or label column.

    Raises:
        DatasetError: naming the columns the file has and the option that names the column.
    """
    missing = [
        (kind, column, option)
        for kind, column, option in (("text", text_column, "--text-column"), ("label", label_column, "--label-column"))
        if column not in columns
    ]
    if not columns or not missing:
        return  # a table without any column is "no labelled rows", or has only invalid rows, each reported
    absent = " and ".join(f"no column {column!r}" for _, column, _ in missing)
    options = " and the ".join(f"{kind} column with {option}" for kind, _, option in missing)
    raise DatasetError(f"{path}: {absent}; its columns are: {', '.join(columns)}. Name the {options}")


def _from_rows(path: Path, rows: list[_Row], text_column: str, label_column: str, skip_invalid: bool) -> LabelledSet:
    if not rows:
        raise DatasetError(f"{path}: no labelled rows")
    items = _Items()
    names = (f"column {text_column!r}", f"column {label_column!r}")
    for row in rows:
        where = f"{path}, line {row.line}"
        if row.not_json:
            items.reject(where, "not valid JSON", row.not_json)
        elif not isinstance(row.value, dict):
            expected = f"expected an object with {text_column!r} and {label_column!r}"
            items.reject(where, expected, f"found {type(row.value).__name__}")
        else:
            items.add(where, row.value.get(text_column), row.value.get(label_column), names)
    return items.labelled_set(str(path), skip_invalid)


def _as_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise DatasetError(f"{where}: expected a list of [text, label] pairs, found {type(value).__name__}")
    return value


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
