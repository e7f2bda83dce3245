"""The report as a terminal table, as CSV and as JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence

from semroute.report._figures import (
    CHANGE_COLUMNS,
    COLUMNS,
    change_json,
    metrics_json,
    report_json,
    savings_columns,
    validation_rows,
)
from semroute.report._metrics import Report, Row
from semroute.report._safe_text import printable, spreadsheet_cell

Columns = Sequence[tuple[str, Callable[[Row], str]]]


def render_json(report: Report) -> str:
    """The report as one indented JSON object."""
    # ensure_ascii escapes every control character (and everything beyond ASCII) as \uXXXX: stored names stay
    # exact for a program that reads the JSON, and printing it cannot drive a terminal.
    return json.dumps(report_json(report), indent=2, ensure_ascii=True)


def render_csv(report: Report) -> str:
    """One CSV line per group (``scope`` total, route or model) with every figure, the previous window's prefixed
    ``previous_`` and the changes ``change_``; validation failures as ``validator=count`` pairs."""
    rows = [("total", report.total), *(("route", r) for r in report.by_route), *(("model", r) for r in report.by_model)]
    lines = [_csv_line(scope, row) for scope, row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(lines[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(lines)
    return buffer.getvalue()


def render_table(report: Report) -> str:
    """The report for a terminal: the window, per-route and per-model figures, savings, validation failures, and
    this window against the previous one."""
    total_and = (*report.by_route, report.total)
    sections = [
        _heading(report),
        _table("route", COLUMNS, total_and),
        _table("model", COLUMNS, (*report.by_model, report.total)),
        "savings against the counterfactuals (tokens of each completion's accepted attempt at the model's prices)\n"
        + _table("route", savings_columns(report), total_and),
        "validation failures\n" + _validation_table(report),
        f"this window against the previous {_span_text(report)}\n" + _table("route", CHANGE_COLUMNS, total_and),
        "model choice (the model each decision started at, and what chose it)\n" + _choice_table(report),
    ]
    return "\n\n".join(sections) + "\n"


def _heading(report: Report) -> str:
    return (
        f"semroute report: {report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC ({_span_text(report)}); "
        f"previous window from {report.previous_start:%Y-%m-%d %H:%M}"
    )


def _span_text(report: Report) -> str:
    seconds = int(report.span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _table(first: str, columns: Columns, rows: Sequence[Row]) -> str:
    header = [first, *(name for name, _ in columns)]
    body = [[row.key, *(cell(row) for _, cell in columns)] for row in rows]
    return _aligned([header, *body])


def _validation_table(report: Report) -> str:
    found = validation_rows(report)
    if not found:
        return "(none)"
    return _aligned([["route", "validator", "failures"], *([r, v, f"{n:,}"] for r, v, n in found)])


def _aligned(lines: Sequence[Sequence[str]]) -> str:
    cells = [[printable(cell) for cell in line] for line in lines]  # route, model and validator names are stored text
    widths = [max(len(line[column]) for line in cells) for column in range(len(cells[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in cells
    )


def _csv_line(scope: str, row: Row) -> dict[str, object]:
    line: dict[str, object] = {"scope": scope, "key": _csv_text(row.key)}
    for prefix, figures in (("", metrics_json(row.current)), ("previous_", metrics_json(row.previous))):
        for name, value in figures.items():
            line[prefix + name] = _csv_value(value)
    line.update({f"change_{name}": _csv_value(value) for name, value in change_json(row).items()})
    return line


def _csv_value(value: object) -> object:
    if isinstance(value, dict):
        return _csv_text(" ".join(f"{key}={count}" for key, count in value.items()))
    if isinstance(value, float) and not math.isfinite(value):
        return _csv_text(str(value))  # "-inf" is no number to a spreadsheet, but a formula
    return "" if value is None else value


def _csv_text(text: str) -> str:
    # Only text is neutralised: every text cell holds stored names (the key, the validator kinds) or a fixed word.
    # Numbers stay numbers: a cell that is a plain number, such as a negative saving written "-1.5e-05", is read as
    # that number, never as a formula (OWASP), and a leading quote would turn it into text that sums to nothing.
    return spreadsheet_cell(printable(text))


def _choice_table(report: Report) -> str:
    lines = [f"{'route':<24} {'model':<28} {'chosen by':<10} {'requests':>9} {'share':>7}"]
    lines += [
        f"{printable(row.route):<24} {printable(row.model):<28} {printable(row.policy):<10} {row.requests:>9,} "
        f"{row.share:>7.1%}"
        for row in report.choices
    ]
    return "\n".join(lines)
