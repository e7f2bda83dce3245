"""``semroute eval``, ``semroute fit`` and ``semroute routes-from-dataset``: measure and tune routing quality."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from semroute.cli_options import INDEX_OPTION
from semroute.environment import default_index_path, default_routes_dir, semroute_home
from semroute.quality.batch import DEFAULT_BATCH, RoutedSet, route_labelled
from semroute.quality.dataset_routes import DEFAULT_ROUTE, write_dataset_routes
from semroute.quality.datasets import (
    DEFAULT_LABEL_COLUMN,
    DEFAULT_OOS_LABEL,
    DEFAULT_TEXT_COLUMN,
    LabelledSet,
    load_labelled,
    refuse_test_split,
)
from semroute.quality.evaluation import QualityReport, expected_routes
from semroute.quality.fitting import (
    DEFAULT_CONFIDENCE,
    DEFAULT_MIN_OOS_RECALL,
    FitResult,
    FitSearch,
    Objective,
    current_parameters,
)
from semroute.quality.operating_points import CurvePoint, Outcome, Targets, tradeoff_curve
from semroute.quality.plots import PLOTS_HINT, plot_confusion, plot_tradeoff, plots_available
from semroute.quality.runs import fit_routed, load_router, report_of, require_built_from
from semroute.route_files import load_route_set, write_fitted
from semroute.router import Router


@dataclass(frozen=True)
class DataSource:
    """Where a command's labelled data comes from and how to read it (the options of :func:`_data_options`)."""

    path: Path
    split: str | None
    text_column: str
    label_column: str
    oos_label: str
    skip_invalid: bool

    def load(self) -> LabelledSet:
        """The labelled set, saying on stderr how many invalid items were skipped and why."""
        data = load_labelled(
            self.path,
            self.split,
            text_column=self.text_column,
            label_column=self.label_column,
            skip_invalid=self.skip_invalid,
        )
        if data.skipped:
            click.echo(f"{data.source}: {data.skipped_summary()}", err=True)
        return data


def _data_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The data options, handed to ``command`` as one ``source`` (:class:`DataSource`) argument."""

    @functools.wraps(command)
    def with_source(
        *args: Any,
        data_path: Path,
        split: str | None,
        text_column: str,
        label_column: str,
        oos_label: str,
        skip_invalid: bool,
        **kwargs: Any,
    ) -> Any:
        source = DataSource(data_path, split, text_column, label_column, oos_label, skip_invalid)
        return command(*args, source=source, **kwargs)

    options = [
        click.option("--data", "data_path", type=click.Path(path_type=Path), required=True, help="Labelled data file."),
        click.option("--split", default=None, help="Splits of a CLINC150-layout .json file, e.g. 'val+oos_val'."),
        click.option("--text-column", default=DEFAULT_TEXT_COLUMN, show_default=True, help="Text column (table)."),
        click.option("--label-column", default=DEFAULT_LABEL_COLUMN, show_default=True, help="Label column (table)."),
        click.option(
            "--oos-label", default=DEFAULT_OOS_LABEL, show_default=True, help="Label meaning 'no route should claim'."
        ),
        click.option(
            "--skip-invalid",
            is_flag=True,
            help="Leave out invalid items (empty, missing or non-string text or label; unreadable lines), "
            "counted and reported, instead of stopping at them.",
        ),
    ]
    decorated: Callable[..., Any] = with_source
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


_BATCH = click.option("--batch-size", type=click.IntRange(1, 4096), default=DEFAULT_BATCH, show_default=True)


@click.command("eval")
@_data_options
@INDEX_OPTION
@_BATCH
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Evaluate the first N items only.")
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path), default=None, help="Folder for the PNG plots.")
@click.option("--no-plots", is_flag=True, help="Write no plots.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary.")
def eval_command(
    source: DataSource,
    index_path: Path | None,
    batch_size: int,
    limit: int | None,
    plots_dir: Path | None,
    no_plots: bool,
    as_json: bool,
) -> None:
    """Route a labelled dataset as the service would and report accuracy, OOS recall and confusions."""
    data = source.load()
    data = data.head(limit) if limit else data
    router = load_router(index_path)
    routed = route_labelled(router, data, batch_size=batch_size)
    sweep = routed.sweep(router)
    targets = Targets.of(sweep, data.labels, source.oos_label, data.source)
    report = report_of(routed, router, source.oos_label)
    curve = tradeoff_curve(sweep, targets, current_parameters(sweep)) if report.oos_items else []
    folder = plots_dir or semroute_home() / "eval"
    message, written = (
        ("plots: skipped (--no-plots)", [])
        if no_plots
        else _eval_plots(routed, router, source.oos_label, curve, folder)
    )
    if as_json:
        summary = {
            "source": data.source,
            "skipped_invalid": data.skipped,
            "curve": _curve_json(curve),
            "plots": written,
        }
        click.echo(json.dumps({**report.to_json(), **summary}))
        return
    click.echo(render_report(report, data.source))
    click.echo(message)


def _eval_plots(
    routed: RoutedSet, router: Router, oos_label: str, curve: list[CurvePoint], folder: Path
) -> tuple[str, list[str]]:
    if not plots_available():
        return f"plots: none ({PLOTS_HINT})", []
    default_route = router.artifact.policy.settings.default_route
    expected = expected_routes(routed.data.labels, default_route, oos_label)
    written = [
        plot_confusion(
            expected,
            [d.route for d in routed.decisions],
            folder / "confusion.png",
            title=f"Most confused routes: {routed.data.source}",
        )
    ]
    if curve:
        title = f"Threshold trade-off: {routed.data.source}"
        written.append(plot_tradeoff(curve, folder / "tradeoff.png", title=title))
    return "plots: " + ", ".join(str(path) for path in written), [str(path) for path in written]


@click.command("fit")
@_data_options
@click.option("--routes", "routes_dir", type=click.Path(path_type=Path), default=None, help="Routes folder to fit.")
@INDEX_OPTION
@_BATCH
@click.option("--min-oos-recall", type=click.FloatRange(0, 1), default=DEFAULT_MIN_OOS_RECALL, show_default=True)
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.999),
    default=DEFAULT_CONFIDENCE,
    show_default=True,
    help="The OOS recall counted is a one-sided lower confidence bound at this level.",
)
@click.option("--blend/--no-blend", default=True, show_default=True, help="Fit the blend weights of the signals.")
@click.option("--margin/--no-margin", default=True, show_default=True, help="Fit the margin.")
@click.option("--per-route/--no-per-route", default=True, show_default=True, help="Try per-route thresholds.")
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path), default=None, help="Write tradeoff.png here.")
@click.option("--dry-run", is_flag=True, help="Report the fit without writing fitted.yaml.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the summary.")
def fit_command(
    source: DataSource,
    routes_dir: Path | None,
    index_path: Path | None,
    batch_size: int,
    min_oos_recall: float,
    confidence: float,
    blend: bool,
    margin: bool,
    per_route: bool,
    plots_dir: Path | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Fit threshold, margin, blend and per-route thresholds on VALIDATION data; write ROUTES/fitted.yaml."""
    refuse_test_split(source.path, source.split)
    folder = routes_dir or default_routes_dir()
    route_set = load_route_set(folder)
    data = source.load()
    path = index_path or default_index_path()
    router = load_router(path)
    require_built_from(router.artifact, route_set, path, folder)
    routed = route_labelled(router, data, batch_size=batch_size, progress=not as_json)
    objective = Objective(min_oos_recall, confidence)
    result = fit_routed(routed, router, route_set, source.oos_label, objective, FitSearch(blend, margin, per_route))
    written = None if dry_run else write_fitted(folder, result.parameters)
    if plots_dir is not None and result.curve and plots_available():
        title = f"Threshold trade-off on {data.source} (fitted)"
        plot_tradeoff(result.curve, plots_dir / "tradeoff.png", title=title, min_oos_recall=min_oos_recall)
    if as_json:
        click.echo(json.dumps({**_fit_json(result, written), "skipped_invalid": data.skipped}))
        return
    click.echo(render_fit(result, written))


@click.command("routes-from-dataset")
@_data_options
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="New routes folder to write.")
@click.option("--default-route", default=DEFAULT_ROUTE, show_default=True, help="Name of the default route.")
@click.option(
    "--oos-utterances/--no-oos-utterances",
    default=True,
    show_default=True,
    help="Out-of-scope texts become the default route's utterances.",
)
@click.option("--embedding-path", type=click.Path(path_type=Path), default=None, help="settings.embedding.path")
def routes_from_dataset(
    source: DataSource,
    out: Path,
    default_route: str,
    oos_utterances: bool,
    embedding_path: Path | None,
) -> None:
    """Write a routes folder from labelled TRAINING data: one route per label, its texts as utterances."""
    data = source.load()
    settings = {"embedding": {"path": str(embedding_path)}} if embedding_path else None
    written = write_dataset_routes(
        data,
        out,
        oos_label=source.oos_label,
        default_route=default_route,
        oos_utterances=oos_utterances,
        settings=settings,
    )
    click.echo(
        f"wrote {written.folder}: {written.routes} routes, {written.utterances} utterances "
        f"({written.default_utterances} on the default route, {written.duplicates_dropped} repeats dropped); "
        f"next: semroute index --routes {written.folder} --out INDEX"
    )


def render_report(report: QualityReport, source: str) -> str:
    """The human summary of an evaluation."""
    recall = "n/a (no out-of-scope items)" if report.oos_recall is None else f"{report.oos_recall:.1%}"
    lines = [
        f"data                 {source}: {report.items} items ({report.oos_items} out of scope)",
        f"accuracy             {report.accuracy:.1%}",
        f"in-scope accuracy    {report.in_scope_accuracy:.1%}   (an in-scope item sent to the default route is wrong)",
        f"out-of-scope recall  {recall}",
        f"false rejections     {report.false_rejection_rate:.1%}",
        f"ambiguous            {report.ambiguous_rate:.1%}",
        "overrides            " + (", ".join(f"{k} x{v}" for k, v in report.overrides.items()) or "(none fired)"),
        "most confused        "
        + (", ".join(f"{p.expected}->{p.chosen} x{p.count}" for p in report.confused_pairs) or "(none)"),
        "per route            precision  recall  f1     support",
        *(
            f"  {name:32.32s} {q.precision:6.1%}  {q.recall:6.1%}  {q.f1:6.1%}  {q.support}"
            for name, q in report.per_route.items()
        ),
    ]
    return "\n".join(lines)


def render_fit(result: FitResult, written: Path | None) -> str:
    """The human summary of a fit."""
    p = result.parameters
    lines = [
        f"objective      {p.objective}",
        f"before         {_outcome_text(result.before)}",
        f"fitted         {_outcome_text(result.fitted)}",
        f"threshold      {_threshold_text(result)}",
        f"margin         {p.margin}",
        f"blend          {p.blend.model_dump() if p.blend else '(unchanged)'}",
        f"per-route      {_per_route_text(result)}",
    ]
    for name, gate in result.gates.items():
        verdict = "adopted" if gate.adopted else "not adopted"
        lines.append(
            f"{name + ' fit':14s} {verdict}; held-out folds without: {_outcome_text(gate.without)}; "
            f"with: {_outcome_text(gate.with_it)}"
        )
    lines.append(f"wrote {written}; rebuild the index to apply it" if written else "dry run: nothing written")
    return "\n".join(lines)


def _threshold_text(result: FitResult) -> str:
    if result.kept_threshold is None:
        return str(result.parameters.score_threshold)
    return f"not fitted: the validation data has no out-of-scope items; kept at {result.kept_threshold:g}"


def _per_route_text(result: FitResult) -> str:
    count = len(result.parameters.route_thresholds)
    if result.thresholds_fitted:
        return f"{count} routes"
    return "not fitted" + (f"; {count} kept from fitted.yaml" if count else "")


def _outcome_text(result: Outcome) -> str:
    recall = "" if result.oos_recall is None else f", OOS recall {result.oos_recall:.1%}"
    return f"in-scope {result.in_scope_accuracy:.1%}{recall}, overall {result.accuracy:.1%}"


def _fit_json(result: FitResult, written: Path | None) -> dict[str, Any]:
    return {
        "parameters": result.parameters.model_dump(mode="json", exclude_none=True),
        "validation_before": _outcome_json(result.before),
        "validation_fitted": _outcome_json(result.fitted),
        "adopted": {name: gate.adopted for name, gate in result.gates.items()},
        "thresholds_fitted": result.thresholds_fitted,
        "kept_score_threshold": result.kept_threshold,
        "written": str(written) if written else None,
    }


def _outcome_json(result: Outcome) -> dict[str, Any]:
    return {
        "accuracy": round(result.accuracy, 6),
        "in_scope_accuracy": round(result.in_scope_accuracy, 6),
        "oos_recall": None if result.oos_recall is None else round(result.oos_recall, 6),
    }


def _curve_json(curve: list[CurvePoint]) -> list[dict[str, Any]]:
    return [
        {
            "shift": p.shift,
            "score_threshold": p.score_threshold,
            "in_scope_accuracy": p.in_scope_accuracy,
            "oos_recall": p.oos_recall,
        }
        for p in curve
    ]
