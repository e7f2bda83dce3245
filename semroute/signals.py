"""The score signals: each one defined once, in :data:`SIGNALS`, with its name, default weight and computation.

A signal gives every route a value in [-1, 1] for one query; a route's score is the weighted sum of its signals (the
``blend``). The blend schema (:class:`semroute.schema.Blend`), the router and the fit's grid of blends all read this
registry, so a new signal is one entry here: it is validated in route files, computed on every request, shown in
every candidate's trace and searched by ``semroute fit`` without another change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from semroute.index import IndexArtifact

Vectors = npt.NDArray[np.float32]


class Aggregation(StrEnum):
    """How the similarities of one route's hits among the top_k become its ``neighbour`` signal."""

    MAX = "max"
    MEAN = "mean"
    SUM = "sum"  # sum of the route's hit similarities divided by top_k, so it stays in [-1, 1]


@dataclass(frozen=True)
class Query:
    """What a signal is computed from: one embedded task and the index it is routed on."""

    vector: Vectors  # (1, dim), unit length
    top_k: int
    artifact: IndexArtifact


@dataclass(frozen=True)
class Signal:
    """One score signal: ``compute`` gives each route of the artifact a value in [-1, 1] (0 for no evidence)."""

    name: str
    description: str
    default_weight: float
    compute: Callable[[Query], Vectors]


def neighbour_signal(query: Query) -> Vectors:
    """The ``aggregation`` of each route's similarities among the ``top_k`` nearest utterances (0 without a hit).

    On an HNSW index the neighbours are the best ``top_k`` of the candidates the graph scored exactly
    (:func:`semroute.vector_index.nearest`): the same similarities as the exact scan's for every neighbour found.
    """
    artifact = query.artifact
    similarities, rows = artifact.nearest(query.vector, query.top_k)
    hit_routes = np.where(rows >= 0, artifact.row_routes[np.maximum(rows, 0)], -1)
    aggregation = Aggregation(artifact.policy.settings.aggregation)
    signal = np.zeros(len(artifact.route_names), dtype=np.float32)
    for number, score in aggregate_hits(similarities, hit_routes, aggregation, query.top_k).items():
        signal[number] = score
    return signal


def classifier_signal(query: Query) -> Vectors:
    """The route classifier's probability of each route (0 for routes it never saw)."""
    probabilities: Vectors = query.artifact.classifier.probabilities(query.vector)[0]
    return probabilities


def centroid_signal(query: Query) -> Vectors:
    """Cosine similarity to each route's mean utterance (0 for override-only routes)."""
    similarities: Vectors = (query.vector @ query.artifact.centroids.T)[0]
    return similarities


SIGNALS: tuple[Signal, ...] = (
    Signal("neighbour", "aggregated similarity of the nearest utterances", 0.5, neighbour_signal),
    Signal("classifier", "route classifier probability", 0.5, classifier_signal),
    Signal("centroid", "similarity to the route's mean utterance", 0.0, centroid_signal),
)
SIGNAL_NAMES: tuple[str, ...] = tuple(signal.name for signal in SIGNALS)
DEFAULT_WEIGHTS: Mapping[str, float] = {signal.name: signal.default_weight for signal in SIGNALS}


def compute_signals(query: Query) -> dict[str, Vectors]:
    """Every registered signal for one query, by name, in registry order."""
    return {signal.name: signal.compute(query) for signal in SIGNALS}


def blend_signals(signals: Mapping[str, npt.NDArray[np.float32]], weights: Mapping[str, float]) -> Vectors:
    """Weighted sum of per-route signal arrays (any shape, all the same), as the router scores routes."""
    total = sum(weights[name] * values for name, values in signals.items())
    return np.asarray(total, dtype=np.float32)


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
