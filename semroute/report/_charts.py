"""The report's charts, drawn with matplotlib when it is installed (``semroute[eval]``): cost per task type per week
and escalation rate per route, each as SVG (inlined in the HTML page) and PNG (written beside it)."""

from __future__ import annotations

import importlib.util
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from semroute.report._metrics import Report
from semroute.report._safe_text import printable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PALETTE = (
    "#2563eb",
    "#f59e0b",
    "#10b981",
    "#ef4444",
    "#8b5cf6",
    "#06b6d4",
    "#84cc16",
    "#ec4899",
    "#64748b",
    "#a16207",
    "#0f766e",
    "#7c3aed",
)


@dataclass(frozen=True)
class Chart:
    """One chart: a file stem, a title, and the drawing as SVG text and PNG bytes."""

    name: str
    title: str
    svg: str
    png: bytes


def charts_available() -> bool:
    """Whether matplotlib is installed here."""
    return importlib.util.find_spec("matplotlib") is not None


def draw_charts(report: Report) -> list[Chart]:
    """Both charts of ``report``; empty without matplotlib."""
    if not charts_available():
        return []
    return [
        _chart("cost-per-week", "Cost per task type per week (USD)", _cost_per_week(report)),
        _chart("escalation-rate", "Escalation rate per route (this window)", _escalation_rate(report)),
    ]


def _cost_per_week(report: Report) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.6), layout="constrained")
    axes = figure.add_subplot()
    labels = [f"{week.start:%b %d}" for week in report.weekly_cost]
    routes = sorted({route for week in report.weekly_cost for route in week.cost_by_route})
    bottoms = [0.0] * len(labels)
    for number, route in enumerate(routes):
        costs = [week.cost_by_route.get(route, 0.0) for week in report.weekly_cost]
        axes.bar(labels, costs, bottom=bottoms, label=_label(route), color=PALETTE[number % len(PALETTE)])
        bottoms = [bottom + cost for bottom, cost in zip(bottoms, costs, strict=True)]
    axes.set_ylabel("USD")
    axes.set_xlabel("week starting (UTC)")
    if routes:
        axes.legend(fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    _tidy(axes)
    return figure


def _escalation_rate(report: Report) -> Figure:
    from matplotlib.figure import Figure

    rows = [row for row in report.by_route if row.current.completions]
    figure = Figure(figsize=(9, 0.45 * max(len(rows), 2) + 0.9), layout="constrained")
    axes = figure.add_subplot()
    rates = [100 * (row.current.escalation_rate or 0.0) for row in rows]
    axes.barh([_label(row.key) for row in rows], rates, color=PALETTE[1])
    for position, rate in enumerate(rates):
        axes.annotate(
            f"{rate:.1f}%", (rate, position), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8
        )
    axes.invert_yaxis()
    axes.set_xlim(0, max([*rates, 10.0]) * 1.15)
    axes.set_xlabel("% of completions that escalated after a failed validation")
    _tidy(axes)
    return figure


def _label(name: str) -> str:
    # A stored route name is drawn as it reads: "$" would start matplotlib's mathtext, where "$\\foo$" stops the
    # whole report with a parse error, and control characters have no glyph.
    return printable(name).replace("$", r"\$")


def _tidy(axes: object) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)  # type: ignore[attr-defined]


def _chart(name: str, title: str, figure: Figure) -> Chart:
    svg, png = io.BytesIO(), io.BytesIO()
    figure.savefig(svg, format="svg", metadata={"Date": None})
    figure.savefig(png, format="png", dpi=144)
    text = svg.getvalue().decode("utf-8")
    return Chart(name, title, text[text.index("<svg") :], png.getvalue())
