"""``semroute report`` on a store whose figures are known, in every format (tests/report/conftest.py writes it)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.report._figures import money
from semroute.types import ResolvedModel
from tests.report.conftest import KnownStore, call_cost, run_report

ATOL = 1e-9


def expected(catalog: Mapping[str, ResolvedModel]) -> dict[str, float]:
    """The figures of the scenario, from the catalog's prices."""
    sonnet, gpt, mini, flash = (catalog[n] for n in ("claude-sonnet-4-6", "gpt-5.2", "gpt-5-mini", "gemini-3-flash"))
    deepseek, opus = catalog["deepseek-v3.2"], catalog["claude-opus-4-6"]
    code_change = call_cost(sonnet, 1000, 500) + call_cost(gpt, 2000, 1000)
    summarization = sum(
        call_cost(m, i, o) for m, i, o in [(mini, 4000, 800), (flash, 4000, 600), (mini, 3000, 900), (flash, 3000, 700)]
    )
    references = [(1000, 500), (2000, 1000), (4000, 600), (3000, 700)]  # accepted attempt, else the last output
    most_capable = call_cost(gpt, 1000, 500) + call_cost(gpt, 2000, 1000)
    most_capable += call_cost(deepseek, 4000, 600) + call_cost(deepseek, 3000, 700)
    return {
        "cost": code_change + summarization,
        "code_change_cost": code_change,
        "previous_cost": call_cost(sonnet, 1000, 1000),
        "most_capable": most_capable,
        "top_frontier": sum(call_cost(opus, i, o) for i, o in references),
    }


def test_the_counterfactual_models_follow_tier_then_price(catalog: Mapping[str, ResolvedModel]) -> None:
    # the scenario's expectations rest on these: read them off the real catalog rather than assume them
    assert catalog["gpt-5.2"].tier.value == "frontier" and catalog["deepseek-v3.2"].tier.value == "mid"
    frontier = [m for m in catalog.values() if m.tier.value == "frontier"]
    top = max(frontier, key=lambda m: m.input_cost_per_mtok + m.output_cost_per_mtok)
    assert top.name == "claude-opus-4-6"


def test_json_totals_match_the_known_figures(known_store: KnownStore, default_index_path: Path) -> None:
    report = json.loads(run_report(known_store, default_index_path, "--format", "json"))
    want = expected(known_store.catalog)
    total, previous, change = report["total"]["current"], report["total"]["previous"], report["total"]["change"]
    assert (total["requests"], total["completions"], total["accepted"]) == (5, 4, 3)
    assert total["accepted_rate"] == 0.75 and total["escalation_rate"] == 0.5 and total["fallback_rate"] == 0.25
    assert total["validation_failures"] == {"json": 2, "max_chars": 1}
    assert total["mean_quality"] == 3.0 and total["quality_scores"] == 2
    assert total["latency_p50_ms"] == pytest.approx(1200) and total["latency_p95_ms"] == pytest.approx(1380)
    assert (total["input_tokens"], total["output_tokens"]) == (17000, 4500)
    assert total["cost_usd"] == pytest.approx(want["cost"], abs=ATOL)
    assert total["cost_per_completion_usd"] == pytest.approx(want["cost"] / 4, abs=ATOL)
    assert total["most_capable_cost_usd"] == pytest.approx(want["most_capable"], abs=ATOL)
    assert total["savings_vs_most_capable_usd"] == pytest.approx(want["most_capable"] - want["cost"], abs=ATOL)
    assert total["savings_vs_top_frontier_usd"] == pytest.approx(want["top_frontier"] - want["cost"], abs=ATOL)
    assert (previous["requests"], previous["completions"], previous["accepted_rate"]) == (2, 1, 1.0)
    assert previous["cost_usd"] == pytest.approx(want["previous_cost"], abs=ATOL)
    assert change["requests"] == pytest.approx(1.5) and change["accepted_rate"] == pytest.approx(-0.25)
    assert change["cost_usd"] == pytest.approx(want["cost"] / want["previous_cost"] - 1)
    assert report["counterfactuals"]["most_capable"]["code_change"] == "gpt-5.2"
    assert report["counterfactuals"]["most_capable"]["summarization"] == "deepseek-v3.2"
    assert report["counterfactuals"]["top_frontier"] == "claude-opus-4-6"


def test_json_rows_per_route_and_model(known_store: KnownStore, default_index_path: Path) -> None:
    report = json.loads(run_report(known_store, default_index_path, "--format", "json"))
    routes = {row["key"]: row["current"] for row in report["routes"]}
    assert routes["code_change"]["cost_usd"] == pytest.approx(expected(known_store.catalog)["code_change_cost"])
    assert routes["code_change"]["fallback_rate"] == 0.5 and routes["code_change"]["escalation_rate"] == 0.0
    assert routes["summarization"]["requests"] == 3 and routes["summarization"]["accepted_rate"] == 0.5
    assert routes["summarization"]["validation_failures"] == {"json": 2, "max_chars": 1}
    models = {row["key"]: row["current"]["requests"] for row in report["models"]}
    assert models == {"claude-sonnet-4-6": 2, "gpt-5-mini": 3}
    weeks = report["weekly_cost"]
    assert len(weeks) == 2 and sum(sum(w["cost_by_route"].values()) for w in weeks) == pytest.approx(
        expected(known_store.catalog)["cost"] + expected(known_store.catalog)["previous_cost"]
    )


def test_csv_total_line(known_store: KnownStore, default_index_path: Path) -> None:
    lines = list(csv.DictReader(io.StringIO(run_report(known_store, default_index_path, "--format", "csv"))))
    total = next(line for line in lines if line["scope"] == "total")
    assert (total["requests"], total["completions"], total["accepted_rate"]) == ("5", "4", "0.75")
    assert float(total["cost_usd"]) == pytest.approx(expected(known_store.catalog)["cost"], abs=ATOL)
    assert float(total["change_requests"]) == pytest.approx(1.5)
    assert {(line["scope"], line["key"]) for line in lines} >= {("route", "summarization"), ("model", "gpt-5-mini")}
    summarization = next(line for line in lines if line["key"] == "summarization")
    assert summarization["validation_failures"] == "json=2 max_chars=1"


def test_table_shows_the_totals(known_store: KnownStore, default_index_path: Path) -> None:
    text = run_report(known_store, default_index_path)
    want = expected(known_store.catalog)
    total_line = next(line for line in text.splitlines() if line.startswith("total"))
    assert total_line.split()[1:6] == ["5", "4", "75.0%", "50.0%", "25.0%"]
    assert f"${want['cost']:,.4f}" in total_line
    assert money(want["most_capable"] - want["cost"]) in text and money(want["top_frontier"] - want["cost"]) in text
    assert "+150.0%" in text and "-25.0 pp" in text


class _Tables(HTMLParser):
    """Every table's cells by the table's id, every card's value by its id, and the ids of the figures."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.cards: dict[str, str] = {}
        self.figures: list[str] = []
        self._table: str | None = None
        self._card: str | None = None
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found: dict[str, Any] = dict(attrs)
        if tag == "table":
            self._table = found["id"]
            self.tables[found["id"]] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") or (tag == "div" and found.get("class") == "value"):
            self._text = []
        elif tag == "div" and str(found.get("id", "")).startswith("card-"):
            self._card = found["id"][5:]
        elif tag == "figure":
            self.figures.append(found["id"])

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._text is not None:
            self.tables[self._table][-1].append("".join(self._text))
            self._text = None
        elif tag == "div" and self._card and self._text is not None:
            self.cards[self._card] = "".join(self._text)
            self._text, self._card = None, None
        elif tag == "table":
            self._table = None


def test_html_page_numbers_and_charts(known_store: KnownStore, default_index_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "mail" / "report.html"
    run_report(known_store, default_index_path, "--format", "html", "--out", str(out))
    page = _Tables()
    page.feed(out.read_text(encoding="utf-8"))
    want = expected(known_store.catalog)
    header, *rows = page.tables["routes"]
    total = dict(zip(header, rows[-1], strict=True))
    assert (total["route"], total["requests"], total["completions"], total["accepted"]) == ("total", "5", "4", "75.0%")
    assert total["cost"] == f"${want['cost']:,.4f}"
    assert (
        page.cards["requests"] == "5"
        and page.cards["saved-vs-top-frontier"] == f"${want['top_frontier'] - want['cost']:,.4f}"
    )
    assert [row[0] for row in page.tables["validation"][1:]] == ["summarization", "summarization"]
    assert page.figures == ["chart-cost-per-week", "chart-escalation-rate"]
    assert "<link" not in out.read_text() and 'src="http' not in out.read_text()  # self-contained
    for name in ("cost-per-week", "escalation-rate"):
        assert (out.parent / f"report-{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_missing_store_is_an_error_not_a_new_file(default_index_path: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    result = CliRunner().invoke(main, ["report", "--store", str(missing), "--index", str(default_index_path)])
    assert result.exit_code == 1 and "no outcome store" in result.output and not missing.exists()


def test_since_must_be_a_duration(known_store: KnownStore, default_index_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", "--since", "week", "--store", known_store.url])
    assert result.exit_code == 2 and "not a duration" in result.output
