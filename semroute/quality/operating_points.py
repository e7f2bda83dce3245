"""Operating points: in-scope accuracy and out-of-scope recall of route choices, and how they trade off.

Works on route indices from :class:`.sweep.Sweep`, so that a fit can score thousands of settings in seconds.
The definitions are those of :mod:`semroute.quality.evaluation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from semroute.errors import DatasetError
from semroute.quality.evaluation import expected_routes
from semroute.quality.sweep import Indices, Sweep
from semroute.schema import FittedParameters

# Threshold shifts of the trade-off curve: fine near the operating point, coarse far from it.
CURVE_SHIFTS = tuple(
    sorted({round(float(x), 3) for x in np.r_[np.linspace(-0.4, 0.4, 41), np.linspace(-0.1, 0.1, 41)]})
)


@dataclass(frozen=True)
class Targets:
    """Expected route index of each item and which items are out of scope."""

    expected: Indices
    oos: npt.NDArray[np.bool_]
    default: int

    @classmethod
    def of(cls, sweep: Sweep, labels: Sequence[str], oos_label: str, source: str) -> Targets:
        """Map labels to route indices of ``sweep``.

        Raises:
            DatasetError: a label names no route of the index.
        """
        names = {name: number for number, name in enumerate(sweep.names)}
        default = names[sweep.policy.settings.default_route]
        expected = expected_routes(labels, sweep.policy.settings.default_route, oos_label)
        unknown = sorted({route for route in expected if route not in names})
        if unknown:
            raise DatasetError(
                f"{source}: labels {', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''} name no route of the "
                f"index (routes: {', '.join(sorted(names)[:8])} ...); is --oos-label right?"
            )
        oos = np.asarray([label == oos_label for label in labels], dtype=bool)
        return cls(np.asarray([names[route] for route in expected], dtype=np.int64), oos, default)

    def rows(self, selected: Indices) -> Targets:
        """The targets of the selected items only."""
        return Targets(self.expected[selected], self.oos[selected], self.default)


@dataclass(frozen=True)
class Outcome:
    """Quality of one setting on a labelled set; ``oos_recall`` is None without out-of-scope items."""

    accuracy: float
    in_scope_accuracy: float
    oos_recall: float | None
    oos_rejected: int
    oos_items: int


@dataclass(frozen=True)
class CurvePoint:
    """One point of the trade-off curve: every threshold moved by ``shift``."""

    shift: float
    score_threshold: float
    in_scope_accuracy: float
    oos_recall: float | None


def outcome(chosen: Indices, targets: Targets) -> Outcome:
    """Accuracy, in-scope accuracy and out-of-scope recall of chosen route indices."""
    right = chosen == targets.expected
    in_scope = right[~targets.oos]
    rejected = int(np.sum(chosen[targets.oos] == targets.default))
    items = int(targets.oos.sum())
    return Outcome(
        accuracy=float(right.mean()) if len(right) else 0.0,
        in_scope_accuracy=float(in_scope.mean()) if len(in_scope) else 0.0,
        oos_recall=rejected / items if items else None,
        oos_rejected=rejected,
        oos_items=items,
    )


def shifted(sweep: Sweep, parameters: FittedParameters, shift: float) -> FittedParameters:
    """``parameters`` with the global and every route's threshold moved by ``shift`` (kept within [-1, 1])."""
    base = sweep.thresholds(parameters)
    global_threshold = parameters.score_threshold
    if global_threshold is None:
        global_threshold = sweep.policy.settings.score_threshold
    routes = {name: _clip(float(value) + shift) for name, value in zip(sweep.table.routes, base, strict=True)}
    return parameters.model_copy(
        update={"score_threshold": _clip(global_threshold + shift), "route_thresholds": routes}
    )


def tradeoff_curve(
    sweep: Sweep, targets: Targets, parameters: FittedParameters, shifts: Sequence[float] = CURVE_SHIFTS
) -> list[CurvePoint]:
    """In-scope accuracy and out-of-scope recall as every threshold moves together; shift 0 is ``parameters``."""
    scored = sweep.scored(parameters.blend)
    points = []
    for shift in shifts:
        moved = shifted(sweep, parameters, shift)
        result = outcome(sweep.routes(moved, scored), targets)
        assert moved.score_threshold is not None
        points.append(CurvePoint(shift, moved.score_threshold, result.in_scope_accuracy, result.oos_recall))
    return points


def _clip(value: float) -> float:
    return round(min(1.0, max(-1.0, value)), 6)
