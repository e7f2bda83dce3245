"""The report's figures as plain JSON values and as display text: shared by every output format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from semroute.report._metrics import Metrics, Report, Row, relative_change

RATES = ("accepted_rate", "escalation_rate", "fallback_rate")
RELATIVE = ("requests", "completions", "cost_usd", "cost_per_completion_usd")


def metrics_json(metrics: Metrics) -> dict[str, Any]:
    """Every figure of ``metrics``, derived ones included (USD, milliseconds, rates in 0..1)."""
    return {
        "requests": metrics.requests,
        "completions": metrics.completions,
        "accepted": metrics.accepted,
        "accepted_rate": metrics.accepted_rate,
        "escalated": metrics.escalated,
        "escalation_rate": metrics.escalation_rate,
        "fell_back": metrics.fell_back,
        "fallback_rate": metrics.fallback_rate,
        "validation_failures": dict(sorted(metrics.validation_failures.items())),
        "mean_quality": metrics.mean_quality,
        "quality_scores": metrics.quality_scores,
        "latency_p50_ms": metrics.latency_p50_ms,
        "latency_p95_ms": metrics.latency_p95_ms,
        "input_tokens": metrics.input_tokens,
        "output_tokens": metrics.output_tokens,
        "cost_usd": metrics.cost_usd,
        "cost_per_completion_usd": metrics.cost_per_completion_usd,
        "most_capable_cost_usd": metrics.most_capable_cost_usd,
        "savings_vs_most_capable_usd": metrics.savings_vs_most_capable_usd,
        "top_frontier_cost_usd": metrics.top_frontier_cost_usd,
        "savings_vs_top_frontier_usd": metrics.savings_vs_top_frontier_usd,
    }


def change_json(row: Row) -> dict[str, float | None]:
    """Week over week: relative change of counts and costs, difference (in rate units) of the rates."""
    current, previous = metrics_json(row.current), metrics_json(row.previous)
    changes = {name: relative_change(current[name], previous[name]) for name in RELATIVE}
    for name in RATES:
        both = current[name] is not None and previous[name] is not None
        changes[name] = current[name] - previous[name] if both else None
    return changes


def row_json(row: Row) -> dict[str, Any]:
    """A row: its key, this window's figures, the previous window's, and the change."""
    return {
        "key": row.key,
        "current": metrics_json(row.current),
        "previous": metrics_json(row.previous),
        "change": change_json(row),
    }


def report_json(report: Report) -> dict[str, Any]:
    """The whole report as one JSON object (what ``--format json`` prints)."""
    counterfactuals = report.counterfactuals
    return {
        "window": {"start": report.start.isoformat(), "end": report.end.isoformat()},
        "previous_window": {"start": report.previous_start.isoformat(), "end": report.start.isoformat()},
        "counterfactuals": {
            "most_capable": {route: model.name for route, model in sorted(counterfactuals.most_capable.items())},
            "top_frontier": counterfactuals.top_frontier.name if counterfactuals.top_frontier else None,
        },
        "total": row_json(report.total),
        "routes": [row_json(row) for row in report.by_route],
        "models": [row_json(row) for row in report.by_model],
        "weekly_cost": [
            {"start": week.start.isoformat(), "cost_by_route": dict(sorted(week.cost_by_route.items()))}
            for week in report.weekly_cost
        ],
        "model_choice": [
            {
                "route": row.route,
                "model": row.model,
                "policy": row.policy,
                "requests": row.requests,
                "share": round(row.share, 4),
            }
            for row in report.choices
        ],
    }


def money(value: float | None) -> str:
    """USD, the sign before the dollar: 4 decimals below $100, cents above."""
    if value is None:
        return "-"
    digits = f"{abs(value):,.2f}" if abs(value) >= 100 else f"{abs(value):,.4f}"
    return f"-${digits}" if value < 0 and digits.strip("0.,") else f"${digits}"


def percent(rate: float | None) -> str:
    """A rate in 0..1 as a percentage."""
    return "-" if rate is None else f"{rate * 100:.1f}%"


def signed_percent(change: float | None) -> str:
    """A relative change as a signed percentage."""
    return "-" if change is None else f"{change * 100:+.1f}%"


def points(difference: float | None) -> str:
    """A difference of rates in percentage points."""
    return "-" if difference is None else f"{difference * 100:+.1f} pp"


def number(value: float | None, decimals: int = 0) -> str:
    """A count or measure with thousands separators."""
    return "-" if value is None else f"{value:,.{decimals}f}"


# The columns of the per-route and per-model tables, in every human-readable format.
COLUMNS: tuple[tuple[str, Callable[[Row], str]], ...] = (
    ("requests", lambda row: number(row.current.requests)),
    ("completions", lambda row: number(row.current.completions)),
    ("accepted", lambda row: percent(row.current.accepted_rate)),
    ("escalated", lambda row: percent(row.current.escalation_rate)),
    ("fell back", lambda row: percent(row.current.fallback_rate)),
    ("quality", lambda row: number(row.current.mean_quality, 2)),
    ("p50 ms", lambda row: number(row.current.latency_p50_ms)),
    ("p95 ms", lambda row: number(row.current.latency_p95_ms)),
    ("tokens in", lambda row: number(row.current.input_tokens)),
    ("tokens out", lambda row: number(row.current.output_tokens)),
    ("cost", lambda row: money(row.current.cost_usd)),
    ("$/completion", lambda row: money(row.current.cost_per_completion_usd)),
    ("cost w/w", lambda row: signed_percent(relative_change(row.current.cost_usd, row.previous.cost_usd))),
)

# This window against the previous one.
CHANGE_COLUMNS: tuple[tuple[str, Callable[[Row], str]], ...] = (
    ("requests", lambda row: f"{row.previous.requests:,} -> {row.current.requests:,}"),
    ("change", lambda row: signed_percent(change_json(row)["requests"])),
    ("completions", lambda row: f"{row.previous.completions:,} -> {row.current.completions:,}"),
    ("accepted", lambda row: f"{percent(row.previous.accepted_rate)} -> {percent(row.current.accepted_rate)}"),
    ("change", lambda row: points(change_json(row)["accepted_rate"])),
    ("cost", lambda row: f"{money(row.previous.cost_usd)} -> {money(row.current.cost_usd)}"),
    ("change", lambda row: signed_percent(change_json(row)["cost_usd"])),
    ("$/completion", lambda row: signed_percent(change_json(row)["cost_per_completion_usd"])),
)


def savings_columns(report: Report) -> tuple[tuple[str, Callable[[Row], str]], ...]:
    """The savings table's columns: recorded cost against both counterfactuals."""
    top = report.counterfactuals.top_frontier
    top_name = top.name if top else "(no frontier model)"

    def most_capable_name(row: Row) -> str:
        model = report.counterfactuals.most_capable.get(row.key)
        return model.name if model else "-"

    return (
        ("cost", lambda row: money(row.current.cost_usd)),
        ("most capable", most_capable_name),
        ("its cost", lambda row: money(row.current.most_capable_cost_usd)),
        ("saved", lambda row: money(row.current.savings_vs_most_capable_usd)),
        (
            "saved %",
            lambda row: percent(_share(row.current.savings_vs_most_capable_usd, row.current.most_capable_cost_usd)),
        ),
        (f"{top_name} cost", lambda row: money(row.current.top_frontier_cost_usd)),
        ("saved", lambda row: money(row.current.savings_vs_top_frontier_usd)),
        (
            "saved %",
            lambda row: percent(_share(row.current.savings_vs_top_frontier_usd, row.current.top_frontier_cost_usd)),
        ),
    )


def validation_rows(report: Report) -> list[tuple[str, str, int]]:
    """(route, validator, failures) for every validator that refused an output in the window."""
    return [
        (row.key, validator, count)
        for row in report.by_route
        for validator, count in sorted(row.current.validation_failures.items())
    ]


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole else None
