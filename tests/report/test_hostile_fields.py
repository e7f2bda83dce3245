"""Reports are safe to open: stored text chosen by a caller (route and model names, validator kinds, error classes,
labels) cannot start a spreadsheet formula, drive a terminal, or add markup to the HTML page (issue 17)."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from semroute.report._safe_text import printable, spreadsheet_cell
from tests.report.conftest import HOSTILE, MARKUP, KnownStore, run_report

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
# Raw control characters (newline aside: it ends the lines of every format) and bidirectional overrides.
UNPRINTABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred", "\\x1b[31mred"),
        ("a\tb\r\nc\x00\x7f\x9b", "a\\x09b\\x0d\\x0ac\\x00\\x7f\\x9b"),
        ("\u202eevil", "\\u202eevil"),
        ("gpt-5.2 é 模型", "gpt-5.2 é 模型"),
    ],
)
def test_printable_shows_control_characters_as_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "-1.5"])
def test_spreadsheet_cell_quotes_what_would_start_a_formula(text: str) -> None:
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["json", "gpt-5-mini", "a=b", "", "'quoted"])
def test_spreadsheet_cell_keeps_other_text(text: str) -> None:
    assert spreadsheet_cell(text) == text


def test_csv_cells_start_no_formula(hostile_store: KnownStore, default_index_path: Path) -> None:
    output = run_report(hostile_store, default_index_path, "--format", "csv")
    lines = list(csv.reader(io.StringIO(output)))
    header, *rows = lines
    cells = [cell for row in rows for cell in row]
    dangerous = [cell for cell in cells if cell.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(cell)]
    assert dangerous == []
    keys = {row[header.index("key")] for row in rows if row[0] == "route"}
    assert '\'=HYPERLINK("http://x")' in keys and "'-2+3" in keys and "'@SUM(A1)" in keys
    assert any(cell.startswith("-") and PLAIN_NUMBER.fullmatch(cell) for cell in cells)  # negative savings: numbers
    assert not UNPRINTABLE.search(output)


def test_table_prints_no_control_characters(hostile_store: KnownStore, default_index_path: Path) -> None:
    output = run_report(hostile_store, default_index_path)
    assert not UNPRINTABLE.search(output)
    assert "\\x1b[31mred\\x1b[0m" in output and "\\u202eevil" in output  # shown, not dropped


def test_json_escapes_control_characters_and_keeps_the_names(
    hostile_store: KnownStore, default_index_path: Path
) -> None:
    output = run_report(hostile_store, default_index_path, "--format", "json")
    assert not UNPRINTABLE.search(output)
    report = json.loads(output)
    assert {row["key"] for row in report["routes"]} == set(HOSTILE)  # exact, for a program that reads them
    assert {row["policy"] for row in report["model_choice"]} == set(HOSTILE)
    assert set(report["total"]["current"]["validation_failures"]) == set(HOSTILE)


class _Page(HTMLParser):
    """Every element's tag and attributes, and the text of every table cell."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "td":
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None:
            self.cells.append("".join(self._cell))
            self._cell = None


def parsed(page: str) -> _Page:
    found = _Page()
    found.feed(page)
    found.close()
    return found


def assert_no_injected_markup(page: _Page, shipped_tags: set[str]) -> None:
    """No script, no event handler, no javascript: URL, no link off the page, no element the report never ships."""
    tags = {tag for tag, _ in page.elements}
    assert "script" not in tags and tags <= shipped_tags, tags - shipped_tags
    for tag, attributes in page.elements:
        assert not [name for name in attributes if name.startswith("on")], (tag, attributes)
        assert not any("javascript:" in (value or "").lower() for value in attributes.values()), (tag, attributes)
        links = [value or "" for name, value in attributes.items() if name in ("href", "xlink:href", "src")]
        assert all(link.startswith("#") for link in links), (tag, attributes)  # the SVG's glyphs, nothing else


def html_reports(hostile: KnownStore, clean: KnownStore, index: Path, folder: Path) -> tuple[Path, Path]:
    """The HTML report of the hostile store, and of the clean one (whose tags are what the report ships)."""
    pages = folder / "hostile.html", folder / "clean.html"
    for store, page in zip((hostile, clean), pages, strict=True):
        run_report(store, index, "--format", "html", "--out", str(page))
    return pages


def test_html_carries_stored_markup_as_text(
    hostile_store: KnownStore, known_store: KnownStore, default_index_path: Path, tmp_path: Path
) -> None:
    hostile, clean = html_reports(hostile_store, known_store, default_index_path, tmp_path)
    text = hostile.read_text(encoding="utf-8")
    page = parsed(text)
    assert_no_injected_markup(page, {tag for tag, _ in parsed(clean.read_text(encoding="utf-8")).elements})
    assert set(MARKUP) <= set(page.cells)  # every route and validator shown, as the text it is
    assert not UNPRINTABLE.search(text)


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no {CHROMIUM}: the page is only checked with html.parser")
def test_html_in_headless_chromium_has_no_injected_element(
    hostile_store: KnownStore, known_store: KnownStore, default_index_path: Path, tmp_path: Path
) -> None:
    hostile, clean = html_reports(hostile_store, known_store, default_index_path, tmp_path)
    dumped = [dump_dom(page, tmp_path / f"profile-{page.stem}") for page in (hostile, clean)]
    page = parsed(dumped[0])
    assert_no_injected_markup(page, {tag for tag, _ in parsed(dumped[1]).elements})
    assert set(MARKUP) <= set(page.cells)


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM headless Chromium builds from ``page``, with no network and a throwaway profile."""
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--dump-dom",
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
