"""The report as one self-contained HTML page: inline CSS, tables, and the charts inlined as SVG, so that the file
can be mailed around and opened anywhere without the files beside it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from semroute.report._charts import Chart
from semroute.report._figures import (
    CHANGE_COLUMNS,
    COLUMNS,
    money,
    number,
    percent,
    savings_columns,
    signed_percent,
    validation_rows,
)
from semroute.report._metrics import Report, Row, relative_change
from semroute.report._safe_text import printable

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#0f172a;margin:32px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
p.window{color:#475569;margin:0 0 18px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:150px}
.card .label{color:#64748b;font-size:12px}.card .value{font-size:20px;font-weight:600}
.card .delta{color:#64748b;font-size:12px}
.wide{overflow-x:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin-bottom:4px;font-size:13px}
th,td{padding:4px 8px;border-bottom:1px solid #e2e8f0;text-align:right;white-space:nowrap}
th{background:#f8fafc;font-weight:600}th:first-child,td:first-child{text-align:left}
tr.total td{font-weight:600;border-top:2px solid #94a3b8}
figure{margin:8px 0 20px}figure svg{max-width:100%;height:auto}
figcaption{font-weight:600;margin-bottom:4px}
.notes{color:#475569;font-size:12px;max-width:900px}
"""

_TOTAL = ' class="total"'  # the last row of each table is the total
Columns = Sequence[tuple[str, Callable[[Row], str]]]


def render_html(report: Report, charts: Sequence[Chart]) -> str:
    """The page: heading, headline figures, charts, and the tables of the terminal report."""
    rows = (*report.by_route, report.total)
    body = [
        "<h1>semroute report</h1>",
        f'<p class="window">{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC, compared with '
        f"the window of the same length before it (from {report.previous_start:%Y-%m-%d %H:%M}).</p>",
        _cards(report),
        *(_figure(chart) for chart in charts),
        *([] if charts else ["<p class=\"notes\">Charts need matplotlib: pip install 'semroute[eval]'.</p>"]),
        "<h2>By route (task type)</h2>",
        _table("routes", "route", COLUMNS, rows),
        "<h2>By model (the model each decision chose)</h2>",
        _table("models", "model", COLUMNS, (*report.by_model, report.total)),
        "<h2>Savings against the counterfactuals</h2>",
        _table("savings", "route", savings_columns(report), rows),
        "<h2>Validation failures</h2>",
        _validation_table(report),
        "<h2>This window against the previous one</h2>",
        _table("change", "route", CHANGE_COLUMNS, rows),
        _notes(),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>semroute report {report.end:%Y-%m-%d}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def _cards(report: Report) -> str:
    current, previous = report.total.current, report.total.previous
    cards = [
        ("requests", number(current.requests), relative_change(current.requests, previous.requests)),
        ("completions", number(current.completions), relative_change(current.completions, previous.completions)),
        ("accepted", percent(current.accepted_rate), None),
        ("cost", money(current.cost_usd), relative_change(current.cost_usd, previous.cost_usd)),
        ("cost per completion", money(current.cost_per_completion_usd), None),
        ("saved vs most capable", money(current.savings_vs_most_capable_usd), None),
        ("saved vs top frontier", money(current.savings_vs_top_frontier_usd), None),
    ]
    return '<div class="cards">' + "".join(_card(*card) for card in cards) + "</div>"


def _card(label: str, value: str, change: float | None) -> str:
    delta = f'<div class="delta">{escape(signed_percent(change))} w/w</div>' if change is not None else ""
    key = label.replace(" ", "-")
    return (
        f'<div class="card" id="card-{key}"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div>{delta}</div>'
    )


def _figure(chart: Chart) -> str:
    return f'<figure id="chart-{chart.name}"><figcaption>{escape(chart.title)}</figcaption>{chart.svg}</figure>'


def _table(table_id: str, first: str, columns: Columns, rows: Sequence[Row]) -> str:
    header = "".join(f"<th>{escape(name)}</th>" for name in (first, *(name for name, _ in columns)))
    lines = [
        f"<tr{_TOTAL if row is rows[-1] else ''}><td>{_stored_text(row.key)}</td>"
        + "".join(f"<td>{_stored_text(cell(row))}</td>" for _, cell in columns)
        + "</tr>"
        for row in rows
    ]
    table = f'<table id="{table_id}"><thead><tr>{header}</tr></thead><tbody>{"".join(lines)}</tbody></table>'
    return f'<div class="wide">{table}</div>'  # a narrow window scrolls the table, not the page


def _validation_table(report: Report) -> str:
    found = validation_rows(report)
    if not found:
        return '<p id="validation">None in this window.</p>'
    lines = "".join(f"<tr><td>{_stored_text(r)}</td><td>{_stored_text(v)}</td><td>{n:,}</td></tr>" for r, v, n in found)
    return (
        '<table id="validation"><thead><tr><th>route</th><th>validator</th><th>failures</th></tr></thead>'
        f"<tbody>{lines}</tbody></table>"
    )


def _stored_text(text: str) -> str:
    # names from the store (route, model, validator) are caller-chosen: no markup, and no terminal escapes when the
    # page is printed to stdout
    return escape(printable(text))


def _notes() -> str:
    return (
        '<div class="notes"><h2>How the figures are defined</h2><ul>'
        "<li><b>requests</b>: decisions made in the window; <b>completions</b>: those whose outcome was reported.</li>"
        "<li><b>accepted</b>: completions with an accepted output. <b>escalated</b>: completions in which an output "
        "failed a validator and another model was tried. <b>fell back</b>: completions in which a provider error was "
        "followed by another attempt.</li>"
        "<li><b>latency</b>: per accepted completion, the sum of its attempts' latencies; p50/p95 across them.</li>"
        "<li><b>tokens</b> and <b>cost</b>: every attempt, at the prices recorded with it.</li>"
        "<li><b>savings</b>: what one call per completion with the accepted attempt's tokens (else the last output's) "
        "would have cost on the route's most capable model (highest tier of model, fallbacks and cascade; list price "
        "breaks ties) or on the catalog's most expensive frontier model, minus the recorded cost.</li>"
        "<li><b>w/w</b>: this window against the previous window of the same length.</li></ul></div>"
    )
