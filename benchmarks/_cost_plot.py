"""The cost-quality plot of ``benchmarks/cost.py``: per family a panel with the single models (labelled), the zero
router's hull, the learned router's sweep and hull, its operating point, the logistic-regression baseline's hull and
GPT-4 marked; on MBPP also the cascade."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks._cost_math import Point, frontier

_ROUTER = "#1f5fbf"
_ZERO = "#888888"
_BASELINE = "#d98c1f"
_GPT4 = "#c0392b"
_CASCADE = "#2e8b57"


@dataclass(frozen=True)
class Panel:
    """What one family's panel shows (costs in USD per prompt, qualities 0-1)."""

    title: str
    models: Sequence[str]
    singles: Sequence[Point]
    router: Sequence[Point]  # every setting of the sweep
    operating: Point
    operating_label: str
    baseline: Sequence[Point]
    reference: str  # the model marked as the reference (GPT-4)
    cascades: Sequence[tuple[str, Point]] = ()


def plot(panels: Sequence[Panel], path: Path, summary: Sequence[str]) -> Path:
    """Write the figure as a PNG: a panel per family in a 2 x 2 grid, the last cell holding the legend and
    ``summary`` (one line each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, grid = plt.subplots(2, 2, figsize=(14, 11))
    cells = list(grid.flat)
    for axis, panel in zip(cells, panels, strict=False):
        _panel(axis, panel)
    handles: list[object] = []
    labels: list[str] = []
    for axis in cells[: len(panels)]:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    spare = cells[len(panels)]
    spare.axis("off")
    spare.legend(handles, labels, loc="upper left", frameon=False, fontsize=10)
    spare.text(0.0, 0.38, "\n".join(summary), transform=spare.transAxes, fontsize=10, va="top", family="monospace")
    for axis in cells[len(panels) + 1 :]:
        axis.axis("off")
    figure.suptitle("RouterBench subset, test split: cost and quality of the learned model choice", fontsize=13)
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _panel(axis: object, panel: Panel) -> None:
    from matplotlib.axes import Axes

    assert isinstance(axis, Axes)
    zero = [panel.singles[i] for i in frontier(panel.singles)]
    axis.plot(*_xy(_flat_end(zero, panel.singles)), color=_ZERO, linestyle="--", linewidth=1.4, label="zero router")
    baseline = [panel.baseline[i] for i in frontier(panel.baseline)]
    axis.plot(
        *_xy(_flat_end(baseline, panel.singles)),
        color=_BASELINE,
        linewidth=1.2,
        label="plain logistic regression per model (hull)",
    )
    axis.scatter(*_xy(panel.router), s=7, color=_ROUTER, alpha=0.35, label="learned router: each setting")
    hull = [panel.router[i] for i in frontier(panel.router)]
    axis.plot(*_xy(_flat_end(hull, panel.singles)), color=_ROUTER, linewidth=2.0, label="learned router (hull)")
    for name, point in zip(panel.models, panel.singles, strict=True):
        reference = name == panel.reference
        axis.scatter(
            [point.cost],
            [point.quality * 100],
            s=60 if reference else 22,
            marker="D" if reference else "o",
            color=_GPT4 if reference else "black",
            zorder=5,
            label="GPT-4 alone" if reference else None,
        )
        axis.annotate(name, (point.cost, point.quality * 100), textcoords="offset points", xytext=(4, -9), fontsize=7)
    axis.scatter(
        [panel.operating.cost],
        [panel.operating.quality * 100],
        s=170,
        marker="*",
        color=_ROUTER,
        edgecolor="black",
        zorder=6,
        label="operating point (chosen on validation)",
    )
    axis.annotate(
        panel.operating_label,
        (panel.operating.cost, panel.operating.quality * 100),
        textcoords="offset points",
        xytext=(-10, -16),
        fontsize=7.5,
        color=_ROUTER,
        ha="right",
    )
    for label, point in panel.cascades:
        learned = "learned" in label
        axis.scatter(
            [point.cost],
            [point.quality * 100],
            s=190 if learned else 110,
            marker="s" if learned else "P",
            facecolor="none" if learned else _CASCADE,
            edgecolor=_CASCADE if learned else "black",
            linewidth=1.6,
            zorder=6,
            label=label,
        )
    axis.set_xscale("log")
    axis.set_xlabel("mean cost per prompt, USD (log scale)")
    axis.set_ylabel("quality, % of prompts correct")
    axis.set_title(panel.title, fontsize=12)
    axis.grid(True, which="both", alpha=0.25)


def _flat_end(hull: Sequence[Point], singles: Sequence[Point]) -> list[Point]:
    """The hull drawn to the dearest single model's cost (flat past its last point, as AIQ counts it)."""
    dearest = max(point.cost for point in singles)
    return [*hull, Point(dearest, hull[-1].quality)] if hull[-1].cost < dearest else list(hull)


def _xy(points: Sequence[Point]) -> tuple[list[float], list[float]]:
    return [point.cost for point in points], [point.quality * 100 for point in points]
