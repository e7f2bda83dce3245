"""Loading labelled data: CLINC150 layout splits, JSON Lines and CSV tables, and errors that name the place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semroute.errors import DatasetError
from semroute.quality.datasets import MAX_LISTED_ITEMS, load_labelled, route_name, select_splits, split_names

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
        ("d.jsonl", '{"text": "a", "label": "x"}\n{"text": "b"}\n', None, "line 2: column 'label' is missing"),
        ("d.jsonl", '{"text": "a", "label": "x"}\n[1, 2]\n', None, "line 2: expected an object"),
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


def test_every_invalid_item_is_listed_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "val.jsonl"
    rows = [
        {"text": "fine", "label": "greet"},
        {"text": "", "label": "greet"},
        {"text": "no label", "label": "  "},
        {"text": 42, "label": "greet"},
        {"text": "no label column"},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + '\n{"text": "broken"\n')
    with pytest.raises(DatasetError) as caught:
        load_labelled(path)
    message = str(caught.value)
    assert "5 invalid items" in message and "--skip-invalid" in message
    for line, problem in [
        (2, "column 'text' is empty"),
        (3, "column 'label' is empty"),
        (4, "column 'text' is not a string"),
        (5, "column 'label' is missing"),
        (6, "not valid JSON"),
    ]:
        assert f"{path}, line {line}: {problem}" in message


def test_every_invalid_pair_of_a_clinc_layout_file_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_text(json.dumps({"val": [["ok", "a"], ["", "a"], ["no label", ""]], "oos_val": [["x"]]}))
    with pytest.raises(DatasetError) as caught:
        load_labelled(path, "val+oos_val")
    lines = str(caught.value).splitlines()[1:]
    assert [line.strip() for line in lines] == [
        f"{path}, split 'val', item 1: text is empty",
        f"{path}, split 'val', item 2: label is empty",
        f"{path}, split 'oos_val', item 0: expected [text, label] (found ['x'])",
    ]


def test_the_listing_is_capped(tmp_path: Path) -> None:
    path = tmp_path / "val.csv"
    path.write_text("text,label\nfine,greet\n" + ",greet\n" * 30)
    with pytest.raises(DatasetError) as caught:
        load_labelled(path)
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 + MAX_LISTED_ITEMS + 1
    assert lines[-1].strip() == f"... and {30 - MAX_LISTED_ITEMS} more"
    assert f"{path}, line 3: column 'text' is empty" in lines[1]


@pytest.mark.parametrize(
    ("name", "content", "split"),
    [
        ("val.jsonl", '{"text": "hi", "label": "greet"}\n{"text": " ", "label": "greet"}\n{"text": "x"}\n', None),
        ("val.csv", "text,label\nhi,greet\n,greet\nx,\n", None),
        ("data.json", json.dumps({"val": [["hi", "greet"], ["", "greet"]], "oos_val": [["x", ""]]}), "val+oos_val"),
    ],
)
def test_skip_invalid_keeps_the_valid_items_and_counts_the_rest(
    tmp_path: Path, name: str, content: str, split: str | None
) -> None:
    path = tmp_path / name
    path.write_text(content)
    data = load_labelled(path, split, skip_invalid=True)
    assert (data.texts, data.labels, data.skipped) == (("hi",), ("greet",), 2)
    assert sum(count for _, count in data.skipped_reasons) == 2
    assert "2 invalid items skipped" in data.skipped_summary()
    assert data.head(1).skipped == 2


def test_skip_invalid_still_refuses_a_file_with_no_valid_item(tmp_path: Path) -> None:
    path = tmp_path / "val.csv"
    path.write_text("text,label\n,greet\n")
    with pytest.raises(DatasetError, match=r"no valid items[\s\S]*line 2: column 'text' is empty"):
        load_labelled(path, skip_invalid=True)


@pytest.mark.parametrize(
    ("name", "content", "columns", "message"),
    [
        (
            "data.csv",
            "utterance,intent\nhi,greet\n",
            {"label_column": "intent"},
            "no column 'text'; its columns are: utterance, intent. Name the text column with --text-column",
        ),
        (
            "data.csv",
            "utterance,intent\nhi,greet\n",
            {"text_column": "utterance"},
            "no column 'label'; its columns are: utterance, intent. Name the label column with --label-column",
        ),
        (
            "data.jsonl",
            '{"q": "hi", "intent": "greet"}\n{"q": "bye", "intent": "leave", "lang": "en"}\n',
            {"text_column": "q"},
            "no column 'label'; its columns are: q, intent, lang. Name the label column with --label-column",
        ),
        (
            "data.jsonl",
            '{"utterance": "hi", "intent": "greet"}\n',
            {},
            "no column 'text' and no column 'label'; its columns are: utterance, intent. Name the text column with "
            "--text-column and the label column with --label-column",
        ),
    ],
)
def test_a_missing_column_is_reported_once_with_the_columns_and_the_option(
    tmp_path: Path, name: str, content: str, columns: dict[str, str], message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError) as caught:
        load_labelled(path, skip_invalid=True, **columns)
    assert str(caught.value) == f"{path}: {message}"


def test_a_byte_order_mark_and_unicode_line_separators_are_read_as_text(tmp_path: Path) -> None:
    table = tmp_path / "val.csv"
    table.write_text("\ufefftext,label\nhi,greet\n", encoding="utf-8")
    assert load_labelled(table).texts == ("hi",)
    lines = tmp_path / "val.jsonl"
    lines.write_text(json.dumps({"text": "one\u2028two", "label": "x"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_labelled(lines).texts == ("one\u2028two",)
