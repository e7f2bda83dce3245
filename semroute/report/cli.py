"""``semroute report``: what each task type costs, how often its outputs are accepted, escalated or fell back, and
what the routing saved, from the outcome store."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from semroute.cli_options import INDEX_OPTION, STORE_OPTION
from semroute.environment import default_index_path
from semroute.report._charts import Chart, draw_charts
from semroute.report._counterfactuals import Counterfactuals, counterfactuals
from semroute.report._html import render_html
from semroute.report._metrics import Report, build_report
from semroute.report._records import read_decisions
from semroute.report._text import render_csv, render_json, render_table

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class Duration(click.ParamType):  # type: ignore[type-arg]
    """A length of time such as ``90m``, ``24h``, ``7d`` or ``2w``."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        """Parse ``value``; a timedelta passes through."""
        if isinstance(value, timedelta):
            return value
        found = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", str(value))
        if found is None or int(found[1]) == 0:
            self.fail(f"{value!r} is not a duration such as 90m, 24h, 7d or 2w", param, ctx)
        return timedelta(**{_UNITS[found[2]]: int(found[1])})


@click.command()
@click.option("--since", type=Duration(), default="7d", show_default=True, help="Length of the window reported.")
@click.option(
    "--until",
    type=click.DateTime(),
    default=None,
    help="End of the window, UTC (e.g. 2026-03-02 or 2026-03-02T09:00:00) [default: now].",
)
@STORE_OPTION
@INDEX_OPTION
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json", "html"]),
    default="table",
    show_default=True,
    help="Output format; html is one self-contained page with charts (PNG copies beside it when --out is given).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here, not to stdout.")
def report(
    since: timedelta,
    until: datetime | None,
    store_url: str,
    index_path: Path | None,
    output_format: str,
    out: Path | None,
) -> None:
    """Per route and per model: requests, completions, accepted, escalation and fallback rates, validation failures,
    quality, latency, tokens, cost, the change against the previous window, and the savings against always using the
    route's most capable model or the catalog's top frontier model.

    Prices of the counterfactual models come from the index's catalog.
    """
    end = until or datetime.now(UTC).replace(tzinfo=None)
    records = read_decisions(store_url, end - 2 * since, end)
    built = build_report(records, _counterfactuals(index_path or default_index_path()), end, since)
    text = _render(built, output_format, out)
    if out is None:
        click.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}", err=True)


def _counterfactuals(index_path: Path) -> Counterfactuals:
    from semroute.index import load_index  # faiss and friends: only once the arguments are known to be good

    manifest = load_index(index_path).manifest
    return counterfactuals(manifest.routes, manifest.catalog)


def _render(built: Report, output_format: str, out: Path | None) -> str:
    if output_format == "json":
        return render_json(built) + "\n"
    if output_format == "csv":
        return render_csv(built)
    if output_format == "table":
        return render_table(built)
    charts = draw_charts(built)
    if out is not None:
        _write_pngs(charts, out)
    return render_html(built, charts)


def _write_pngs(charts: list[Chart], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    for chart in charts:
        path = out.with_name(f"{out.stem}-{chart.name}.png")
        path.write_bytes(chart.png)
        click.echo(f"wrote {path}", err=True)
