"""The plot files are written: non-empty PNGs."""

from __future__ import annotations

from pathlib import Path

from semroute.quality.operating_points import CurvePoint
from semroute.quality.plots import plot_confusion, plot_tradeoff, plots_available

PNG = b"\x89PNG\r\n\x1a\n"


def test_matplotlib_is_there_for_the_dev_install() -> None:
    assert plots_available()


def test_tradeoff_curve_png(tmp_path: Path) -> None:
    curve = [CurvePoint(s / 10, 0.5 + s / 10, 0.95 - 0.05 * s, min(1.0, 0.6 + 0.1 * s)) for s in range(-3, 4)]
    path = plot_tradeoff(curve, tmp_path / "plots" / "tradeoff.png", title="t", min_oos_recall=0.8)
    assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5_000


def test_confusion_png(tmp_path: Path) -> None:
    expected = ["a", "a", "b", "b", "c", "general"]
    chosen = ["a", "b", "b", "a", "general", "general"]
    path = plot_confusion(expected, chosen, tmp_path / "confusion.png", title="c")
    assert path.read_bytes().startswith(PNG) and path.stat().st_size > 5_000
