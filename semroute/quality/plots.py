"""Pictures of routing quality (PNG, matplotlib's Agg backend): the threshold trade-off and the worst confusions.

matplotlib is an optional dependency (``pip install 'semroute[eval]'``); :func:`plots_available` says whether it is
installed, and the metrics never need it.
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semroute.quality.evaluation import confusion_counts
from semroute.quality.operating_points import CurvePoint

PLOTS_HINT = "install matplotlib for plots: pip install 'semroute[eval]'"
CONFUSION_ROUTES_SHOWN = 15


def plots_available() -> bool:
    """Whether matplotlib is installed."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_tradeoff(curve: Sequence[CurvePoint], path: Path, *, title: str, min_oos_recall: float | None = None) -> Path:
    """Draw in-scope accuracy against out-of-scope recall as the thresholds move; the point at shift 0 is marked.

    Args:
        curve: points from :func:`semroute.quality.operating_points.tradeoff_curve`.
        path: the PNG to write (its folder is created).
        title: the figure title.
        min_oos_recall: draws the recall target as a vertical line when given.
    """
    points = [p for p in curve if p.oos_recall is not None]
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 5), dpi=110)
    xs = [p.oos_recall for p in points]
    axes.plot(xs, [p.in_scope_accuracy for p in points], "-o", markersize=3, color="tab:blue", label="threshold sweep")
    chosen = min(points, key=lambda p: abs(p.shift), default=None)
    if chosen is not None and chosen.oos_recall is not None:
        axes.plot([chosen.oos_recall], [chosen.in_scope_accuracy], "*", markersize=16, color="tab:red", zorder=3)
        axes.annotate(
            f"chosen: threshold {chosen.score_threshold:.3f}\n"
            f"in-scope {chosen.in_scope_accuracy:.1%}, OOS recall {chosen.oos_recall:.1%}",
            (chosen.oos_recall, chosen.in_scope_accuracy),
            textcoords="offset points",
            xytext=(-210, -50) if chosen.oos_recall > 0.5 else (20, -50),  # keep the label inside the axes
            arrowprops={"arrowstyle": "->", "color": "tab:red"},
        )
    if min_oos_recall is not None:
        axes.axvline(min_oos_recall, color="grey", linestyle="--", label=f"OOS recall target {min_oos_recall:.0%}")
    axes.set_xlabel("out-of-scope recall (share sent to the default route)")
    axes.set_ylabel("in-scope accuracy (rejections count as wrong)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower left")
    return _save(plt, figure, path)


def plot_confusion(
    expected: Sequence[str],
    chosen: Sequence[str],
    path: Path,
    *,
    title: str,
    shown: int = CONFUSION_ROUTES_SHOWN,
) -> Path:
    """Heat map of (expected, chosen) counts over the ``shown`` routes involved in the most mistakes."""
    mistakes: Counter[str] = Counter()
    for e, c in zip(expected, chosen, strict=True):
        if e != c:
            mistakes.update((e, c))
    routes = [name for name, _ in mistakes.most_common(shown)] or sorted(set(expected))[:shown]
    matrix = confusion_counts(expected, chosen, routes)
    plt = _pyplot()
    size = max(5.0, 0.45 * len(routes) + 2.5)
    figure, axes = plt.subplots(figsize=(size + 1.5, size), dpi=110)
    # colour by share of each expected route's items, so the default route's hundreds do not wash out the rest
    shares = [[count / max(1, sum(row)) for count in row] for row in matrix]
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the row (expected route)")
    axes.set_xticks(range(len(routes)), labels=routes, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(routes)), labels=routes, fontsize=8)
    axes.set_xlabel("chosen route")
    axes.set_ylabel("expected route")
    for row, values in enumerate(matrix):
        for column, count in enumerate(values):
            if count:
                colour = "white" if shares[row][column] > 0.5 else "black"
                axes.text(column, row, str(count), ha="center", va="center", fontsize=7, color=colour)
    axes.set_title(title)
    return _save(plt, figure, path)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window, work with no display
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
