"""Loading labelled data: CLINC150 layout splits, JSON Lines and CSV tables, and errors that name the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semroute.errors import DatasetError
from semroute.quality.datasets import load_labelled, route_name, select_splits, split_names

CLINC_LIKE = {
    "train": [["book a table", "restaurant"], ["what's my balance", "balance"]],
    "oos_train": [["how tall is everest", "oos"]],
    "val": [["reserve a table for two", "restaurant"]],
    "oos_val": [["who won the cup", "oos"]],
    "test": [["table for four", "restaurant"]],
}


def test_clinc_layout_joins_the_named_splits(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(CLINC_LIKE))
    data = load_labelled(path, "val+oos_val")
    assert data.texts == ("reserve a table for two", "who won the cup")
    assert data.labels == ("restaurant", "oos")
    assert data.source == f"{path}:val+oos_val"


def test_only_the_named_splits_are_touched() -> None:
    class Guarded(dict):  # type: ignore[type-arg]
        def __getitem__(self, key: str) -> object:
            if "test" in key:
                raise AssertionError("the test split was read")
            return super().__getitem__(key)

    assert len(select_splits(Guarded(CLINC_LIKE), ["val", "oos_val"], "guarded")) == 2


def test_jsonl_and_csv_tables_with_custom_columns(tmp_path: Path) -> None:
    jsonl = tmp_path / "val.jsonl"
    jsonl.write_text('{"q": "hi there", "intent": "greet"}\n\n{"q": "bye", "intent": "leave"}\n')
    assert load_labelled(jsonl, text_column="q", label_column="intent").labels == ("greet", "leave")
    table = tmp_path / "val.csv"
    table.write_text('text,label\n"hello, you",greet\nbye,leave\n')
    assert load_labelled(table).texts == ("hello, you", "bye")


@pytest.mark.parametrize(
    ("name", "content", "split", "message"),
    [
        ("d.json", json.dumps(CLINC_LIKE), "dev", r"no split 'dev'; it has: oos_train, oos_val, test, train, val"),
        ("d.json", json.dumps(CLINC_LIKE), None, "name one with --split"),
        ("d.json", json.dumps({"val": [["only text"]]}), "val", r"split 'val', item 0: expected \[text, label\]"),
        ("d.jsonl", '{"text": "a", "label": "x"}\n{oops\n', None, "line 2: not valid JSON"),
        ("d.jsonl", '{"text": "a"}\n', None, "row 1: column 'label' is missing or empty"),
        ("d.csv", "text,label\n", None, "no labelled rows"),
        ("d.txt", "", None, "unsupported data file"),
    ],
)
def test_errors_name_file_and_place(tmp_path: Path, name: str, content: str, split: str | None, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError, match=message) as caught:
        load_labelled(path, split)
    assert str(path) in str(caught.value)


def test_split_specs_and_route_names() -> None:
    assert split_names("val+oos_val") == ("val", "oos_val")
    with pytest.raises(DatasetError):
        split_names("val++oos_val")
    assert route_name("Pin Change") == "pin_change"
    assert route_name("401k-rollover") == "r_401k_rollover"
    with pytest.raises(DatasetError, match="no letter or digit"):
        route_name("???")
