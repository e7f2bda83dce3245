"""The report over the outcome store: cost, acceptance, escalation and savings per task type and per model.

The flow: :func:`read_decisions` (store rows -> records) -> :func:`build_report` (pure figures, this window and the
previous one) -> a renderer (table, CSV, JSON, or a self-contained HTML page with charts). ``semroute report`` is
:mod:`semroute.report.cli`.
"""

from semroute.report._counterfactuals import Counterfactuals, counterfactuals, most_capable_model, top_frontier_model
from semroute.report._figures import report_json
from semroute.report._html import render_html
from semroute.report._metrics import Metrics, Report, Row, WeeklyCost, build_report, measure
from semroute.report._records import DecisionRecord, read_decisions
from semroute.report._text import render_csv, render_json, render_table

__all__ = [
    "Counterfactuals",
    "DecisionRecord",
    "Metrics",
    "Report",
    "Row",
    "WeeklyCost",
    "build_report",
    "counterfactuals",
    "measure",
    "most_capable_model",
    "read_decisions",
    "render_csv",
    "render_html",
    "render_json",
    "render_table",
    "report_json",
    "top_frontier_model",
]
