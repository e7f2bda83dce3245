"""Run a labelled set through a :class:`semroute.router.Router` in batches, with progress bars.

The decisions come from the router's own path (``candidates`` then ``decide``), so they are what the service would
answer. Every candidate's signals are kept in a :class:`.sweep.SignalTable` as well, so that fitting and the
trade-off curve never embed or score again.
"""

from __future__ import annotations

from dataclasses import dataclass

from tqdm import tqdm

from semroute.embedding import Vectors, embed_texts
from semroute.quality.datasets import LabelledSet
from semroute.quality.sweep import SignalTable, Sweep
from semroute.router import Router
from semroute.types import RouteDecision, RouteRequest

DEFAULT_BATCH = 64


@dataclass(frozen=True)
class RoutedSet:
    """A labelled set with its requests, every candidate's signals and the router's decisions."""

    data: LabelledSet
    requests: tuple[RouteRequest, ...]
    table: SignalTable
    decisions: tuple[RouteDecision, ...]

    def sweep(self, router: Router, own_thresholds: dict[str, float] | None = None) -> Sweep:
        """A sweep over these requests with the router's policy."""
        return Sweep(self.table, router.artifact.policy, self.requests, own_thresholds)


def route_labelled(
    router: Router,
    data: LabelledSet,
    *,
    vectors: Vectors | None = None,
    batch_size: int = DEFAULT_BATCH,
    progress: bool = True,
) -> RoutedSet:
    """Decide every item of ``data`` as the service would, embedding it first unless ``vectors`` are given.

    Raises:
        ValueError: ``vectors`` has another number of rows than ``data`` has items.
    """
    requests = tuple(RouteRequest(text) for text in data.texts)
    if vectors is None:
        parts = [router.embedded_part(text) for text in data.texts]
        vectors = embed_texts(router.embedder, parts, batch_size=batch_size, progress=progress)
    if len(vectors) != len(requests):
        raise ValueError(f"{len(vectors)} vectors for {len(requests)} items of {data.source}")
    tables: list[SignalTable] = []
    decisions: list[RouteDecision] = []
    with tqdm(total=len(requests), desc="routing", unit="item", disable=not progress) as bar:
        for start in range(0, len(requests), batch_size):
            batch = requests[start : start + batch_size]
            # candidates and decide are the router's own steps; keeping the candidates costs no second scoring
            rows = vectors[start : start + batch_size]
            candidates = router.candidates(rows, batch, complete=True)
            # with each query vector, so that routes with a learned model choice choose as the service would
            decisions += [
                router.decide(request, listed, row)
                for request, listed, row in zip(batch, candidates, rows, strict=True)
            ]
            tables.append(SignalTable.from_candidates(candidates))
            bar.update(len(batch))
    return RoutedSet(data, requests, SignalTable.concat(tables), tuple(decisions))
