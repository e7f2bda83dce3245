"""Run a labelled set through a :class:`semroute.router.Router` in batches, with progress bars.

The decisions come from the router's own path (``candidates`` then ``decide``), so they are what the service would
answer, with every embedded part of each task scored (``settings.embedding.part: best_part`` embeds several). Every
candidate's signals are kept in a :class:`.sweep.SignalTable` as well, so that fitting and the
trade-off curve never embed or score again.
"""

from __future__ import annotations

from dataclasses import dataclass

from tqdm import tqdm

from semroute.embedding import Vectors, embed_texts
from semroute.quality.datasets import LabelledSet
from semroute.quality.sweep import SignalTable, Sweep
from semroute.router import PartVectors, Router, split_rows
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
    """Decide every item of ``data`` as the service would, embedding its parts first unless ``vectors`` are given
    (one row per item: for route sets that embed one part of each task).

    Raises:
        ValueError: ``vectors`` has another number of rows than ``data`` has items, or the router scores several
            parts of some item (one vector cannot stand for them).
    """
    requests = tuple(RouteRequest(text) for text in data.texts)
    part_vectors = _part_vectors(router, data, vectors, batch_size, progress)
    tables: list[SignalTable] = []
    decisions: list[RouteDecision] = []
    with tqdm(total=len(requests), desc="routing", unit="item", disable=not progress) as bar:
        for start in range(0, len(requests), batch_size):
            batch = requests[start : start + batch_size]
            rows = part_vectors[start : start + batch_size]
            # part_candidates and decide are the router's own steps; keeping the candidates costs no second scoring
            candidates = router.part_candidates(rows, batch, complete=True)
            # with each task's vector, so that routes with a learned model choice choose as the service would
            decisions += [
                router.decide(request, listed, parts[-1])
                for request, listed, parts in zip(batch, candidates, rows, strict=True)
            ]
            tables.append(SignalTable.from_candidates(candidates))
            bar.update(len(batch))
    return RoutedSet(data, requests, SignalTable.concat(tables), tuple(decisions))


def _part_vectors(
    router: Router, data: LabelledSet, vectors: Vectors | None, batch_size: int, progress: bool
) -> PartVectors:
    """Each item's embedded parts' vectors: ``vectors``' rows, one per item, or every part embedded in batches.

    Raises:
        ValueError: as :func:`route_labelled`.
    """
    split = [router.embedded_parts(text) for text in data.texts]
    if vectors is None:
        flat = [part for parts in split for part in parts]
        embedded = embed_texts(router.embedder, flat, batch_size=batch_size, progress=progress)
        return split_rows(embedded, [len(parts) for parts in split])
    if len(vectors) != len(split):
        raise ValueError(f"{len(vectors)} vectors for {len(split)} items of {data.source}")
    if any(len(parts) > 1 for parts in split):
        raise ValueError(f"the router scores several parts of some items of {data.source}: pass no vectors")
    return [vectors[row : row + 1] for row in range(len(vectors))]
