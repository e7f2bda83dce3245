"""Signals -> one score per route (pure logic): aggregated nearest-utterance hits, blended with other signals."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from semroute.schema import Aggregation, Blend


def aggregate_hits(
    similarities: npt.NDArray[np.float32],
    hit_routes: npt.NDArray[np.int64],
    aggregation: Aggregation,
    top_k: int,
) -> dict[int, float]:
    """Score every route that has at least one hit among the nearest utterances.

    Args:
        similarities: cosine similarity of each hit, best first; FAISS pads missing hits with -1 ids.
        hit_routes: route number of each hit (-1 for padding).
        aggregation: ``max`` (best hit), ``mean`` (mean of the route's hits) or ``sum`` (sum of the route's hits
            divided by ``top_k``, which rewards routes holding many of the neighbours and stays in [-1, 1]).
        top_k: how many neighbours were asked for.

    Returns:
        Route number -> score, for routes with hits only.
    """
    scores: dict[int, list[float]] = {}
    for similarity, route in zip(similarities.tolist(), hit_routes.tolist(), strict=True):
        if route >= 0:
            scores.setdefault(int(route), []).append(float(similarity))
    return {route: _combine(values, aggregation, top_k) for route, values in scores.items()}


def _combine(values: Sequence[float], aggregation: Aggregation, top_k: int) -> float:
    if aggregation is Aggregation.MAX:
        return max(values)
    if aggregation is Aggregation.MEAN:
        return sum(values) / len(values)
    return sum(values) / top_k


def blend_signals(signals: dict[str, npt.NDArray[np.float32]], blend: Blend) -> npt.NDArray[np.float32]:
    """Weighted sum of per-route signal arrays, with the weights of ``blend`` (its field names are signal names)."""
    weights = blend.model_dump()
    total = sum(weights[name] * values for name, values in signals.items())
    return np.asarray(total, dtype=np.float32)
