"""Routing quality metrics (pure: labels and decisions in, numbers out).

A label equal to the *out-of-scope label* (``oos`` by default) means "no route should claim this": such an item is
right when it lands on the default route. Every other label is the name of the route that should be chosen (see
:func:`semroute.quality.datasets.route_name`). The metrics:

- ``accuracy``: share of all items on their expected route;
- ``in_scope_accuracy``: the same over in-scope items only; an in-scope item sent to the default route is wrong;
- ``oos_recall``: share of out-of-scope items that land on the default route;
- ``false_rejection_rate``: share of in-scope items expected elsewhere that land on the default route;
- per route: precision, recall and F1 with out-of-scope items counted under the default route;
- the most confused (expected, chosen) route pairs, the ambiguous rate and how often each override rule fired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from semroute.quality.datasets import DEFAULT_OOS_LABEL, route_name

CONFUSED_PAIRS_SHOWN = 10


@dataclass(frozen=True)
class RouteQuality:
    """Precision, recall and F1 of one route, and how many items expected it (support)."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ConfusedPair:
    """How often items expected on one route were sent to another."""

    expected: str
    chosen: str
    count: int


@dataclass(frozen=True)
class QualityReport:
    """Every metric of one evaluation; ``oos_recall`` is None when the data has no out-of-scope item."""

    items: int
    in_scope_items: int
    oos_items: int
    accuracy: float
    in_scope_accuracy: float
    oos_recall: float | None
    false_rejection_rate: float
    ambiguous_rate: float
    per_route: dict[str, RouteQuality]
    confused_pairs: tuple[ConfusedPair, ...]
    overrides: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (what ``semroute eval --json`` prints)."""
        return {
            "items": self.items,
            "in_scope_items": self.in_scope_items,
            "oos_items": self.oos_items,
            "accuracy": _round(self.accuracy),
            "in_scope_accuracy": _round(self.in_scope_accuracy),
            "oos_recall": None if self.oos_recall is None else _round(self.oos_recall),
            "false_rejection_rate": _round(self.false_rejection_rate),
            "ambiguous_rate": _round(self.ambiguous_rate),
            "per_route": {
                name: {
                    "precision": _round(q.precision),
                    "recall": _round(q.recall),
                    "f1": _round(q.f1),
                    "support": q.support,
                }
                for name, q in self.per_route.items()
            },
            "confused_pairs": [
                {"expected": p.expected, "chosen": p.chosen, "count": p.count} for p in self.confused_pairs
            ],
            "overrides": dict(self.overrides),
        }


def expected_routes(labels: Sequence[str], default_route: str, oos_label: str = DEFAULT_OOS_LABEL) -> list[str]:
    """The route each label expects: the default route for the out-of-scope label, else the label's route name."""
    return [default_route if label == oos_label else route_name(label) for label in labels]


def evaluate(
    labels: Sequence[str],
    chosen: Sequence[str],
    default_route: str,
    *,
    oos_label: str = DEFAULT_OOS_LABEL,
    ambiguous: Sequence[bool] | None = None,
    rules: Sequence[Sequence[str]] | None = None,
) -> QualityReport:
    """Score chosen routes against labels.

    Args:
        labels: expected label of each item (the out-of-scope label or a route's label).
        chosen: route each item was sent to.
        default_route: where items go when no route claims them.
        oos_label: the label meaning "no route should claim this".
        ambiguous: whether each decision was ambiguous (within the margin).
        rules: names of the override rules that fired on each item.

    Raises:
        ValueError: the sequences differ in length or are empty.
    """
    if not labels or len(labels) != len(chosen):
        raise ValueError(f"need as many chosen routes as labels, and at least one: {len(labels)} vs {len(chosen)}")
    expected = expected_routes(labels, default_route, oos_label)
    oos = [label == oos_label for label in labels]
    right = [e == c for e, c in zip(expected, chosen, strict=True)]
    in_scope = [r for r, o in zip(right, oos, strict=True) if not o]
    rejected = [
        c == default_route for e, c, o in zip(expected, chosen, oos, strict=True) if not o and e != default_route
    ]
    oos_right = [r for r, o in zip(right, oos, strict=True) if o]
    return QualityReport(
        items=len(labels),
        in_scope_items=len(in_scope),
        oos_items=len(oos_right),
        accuracy=_share(right),
        in_scope_accuracy=_share(in_scope),
        oos_recall=_share(oos_right) if oos_right else None,
        false_rejection_rate=_share(rejected),
        ambiguous_rate=_share(list(ambiguous or [])),
        per_route=per_route_quality(expected, chosen),
        confused_pairs=confused_pairs(expected, chosen),
        overrides=dict(Counter(name for fired in rules or [] for name in fired).most_common()),
    )


def per_route_quality(expected: Sequence[str], chosen: Sequence[str]) -> dict[str, RouteQuality]:
    """Precision, recall, F1 and support of every route that is expected or chosen, by name."""
    hits = Counter(e for e, c in zip(expected, chosen, strict=True) if e == c)
    support = Counter(expected)
    picked = Counter(chosen)
    report: dict[str, RouteQuality] = {}
    for name in sorted(set(support) | set(picked)):
        precision = hits[name] / picked[name] if picked[name] else 0.0
        recall = hits[name] / support[name] if support[name] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[name] = RouteQuality(precision, recall, f1, support[name])
    return report


def confused_pairs(
    expected: Sequence[str], chosen: Sequence[str], shown: int = CONFUSED_PAIRS_SHOWN
) -> tuple[ConfusedPair, ...]:
    """The ``shown`` most frequent (expected, chosen) pairs among wrong decisions, most frequent first."""
    counts = Counter((e, c) for e, c in zip(expected, chosen, strict=True) if e != c)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ConfusedPair(e, c, count) for (e, c), count in ordered[:shown])


def confusion_counts(expected: Sequence[str], chosen: Sequence[str], routes: Sequence[str]) -> list[list[int]]:
    """Counts of (expected, chosen) over ``routes``: row = expected route, column = chosen route."""
    position = {name: number for number, name in enumerate(routes)}
    matrix = [[0] * len(routes) for _ in routes]
    for e, c in zip(expected, chosen, strict=True):
        if e in position and c in position:
            matrix[position[e]][position[c]] += 1
    return matrix


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def _round(value: float) -> float:
    return round(value, 6)
