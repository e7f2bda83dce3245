"""Query vectors for routing calls: from the cache when the text was embedded before, otherwise embedded within
admission control, a Route call in a micro-batch with the calls waiting beside it (:mod:`._admission`).

A task is embedded as one or more parts (:meth:`~semroute.router.Router.embedded_parts`; several with
``settings.embedding.part: best_part``). Each part is cached under its own key, and a call embeds, and is admitted
for the work of, only the parts the cache does not hold: a task sent again costs nothing, and two tasks that share
an instruction part share its vector.

Whatever the path, a call's vectors are the ones it would get alone, and the ones the in-process router computes:
the model embeds each text of a batch exactly as it embeds it alone (rows do not interact, and padding is masked),
and the cache holds what the model computed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import grpc
import numpy as np

from semroute.embedding import Vectors
from semroute.router import PartVectors, Router, split_rows
from semroute.service._admission import Admission
from semroute.service._background import BackgroundPasses
from semroute.service._cache import VectorCache, cache_key
from semroute.service._errors import DeadlineExpiredError
from semroute.service._interceptors import annotate
from semroute.types import RouteRequest


class QueryVectors:
    """Finds the query vectors of routing calls, admitting the work of embedding them."""

    def __init__(
        self, admission: Admission, cache: VectorCache | None = None, background: BackgroundPasses | None = None
    ) -> None:
        """Embed within ``admission``; reuse and fill ``cache`` (None: embed every text); run the long lane's passes
        on ``background`` (None: on the calls' own threads)."""
        self._admission = admission
        self._cache = cache
        self._background = background

    @contextmanager
    def one(self, router: Router, task: RouteRequest, context: grpc.ServicerContext) -> Iterator[Vectors]:
        """The ``(parts, dim)`` vectors of a Route call's embedded parts; the call stays admitted while the body
        decides.

        Raises:
            DeadlineExpiredError: the deadline passed before routing started or while the call waited for a batch.
            OverloadedError: the server is at its admission bounds.
            CallCancelledError: the caller went away while the call waited.
        """
        deadline = _deadline(context)
        parts = router.embedded_parts(task.text)
        keys, found = self._cached(router, parts)
        missing = tuple(part for part, vector in zip(parts, found, strict=True) if vector is None)
        if not missing:
            with self._admission.counted():
                annotate(work_tokens=0, cache_hit=True)
                yield _filled(found, np.empty((0, 0), dtype=np.float32))
            return
        ended = _ended(context)
        work = router.embedding_work(missing)
        embedder, long = router.embedder, self._admission.lane_of(work) == "long"

        def embed_rows(items: list[tuple[str, ...]]) -> list[Vectors]:
            """Every part of the batch's calls in one pass; each call gets the rows of its own parts."""
            vectors = self._pass(lambda: embedder.embed([part for item in items for part in item]), long)
            return split_rows(vectors, [len(item) for item in items])

        with self._admission.batched(work, missing, embed_rows, deadline, context.is_active, ended) as turn:
            annotate(
                work_tokens=work,
                queued_ms=round(turn.queued_seconds * 1000, 2),
                batch_size=turn.batch_size,
                cache_hit=False,
            )
            self._fill_cache(keys, found, turn.row)
            yield _filled(found, turn.row)

    @contextmanager
    def many(
        self, router: Router, tasks: Sequence[RouteRequest], context: grpc.ServicerContext
    ) -> Iterator[PartVectors]:
        """The vectors of a RouteBatch call's tasks' embedded parts (item ``i``: ``tasks[i]``'s, ``(parts, dim)``),
        embedding in one admitted pass only the parts the cache does not hold; the call stays admitted while the body
        decides.

        Raises:
            DeadlineExpiredError: the deadline passed before routing started or while the call waited its turn.
            OverloadedError: the server is at its admission bounds.
            CallCancelledError: the caller went away while the call waited.
        """
        deadline = _deadline(context)
        split = [router.embedded_parts(task.text) for task in tasks]
        counts = [len(parts) for parts in split]
        parts = [part for task_parts in split for part in task_parts]
        keys, found = self._cached(router, parts)
        missing = [part for part, vector in zip(parts, found, strict=True) if vector is None]
        hits = sum(all(vector is not None for vector in task) for task in _runs(found, counts))
        if not missing:
            with self._admission.counted():
                annotate(work_tokens=0, cache_hits=len(tasks))
                yield split_rows(_filled(found, np.empty((0, 0), dtype=np.float32)), counts)
            return
        ended = _ended(context)
        work = router.embedding_work(missing)
        with self._admission.admitted(work, deadline, context.is_active, ended) as queued_seconds:
            annotate(work_tokens=work, queued_ms=round(queued_seconds * 1000, 2), cache_hits=hits)
            embedded = self._pass(lambda: router.embedder.embed(missing), self._admission.lane_of(work) == "long")
            self._fill_cache(keys, found, embedded)
            yield split_rows(_filled(found, embedded), counts)

    def _cached(self, router: Router, parts: Sequence[str]) -> tuple[list[bytes], list[Vectors | None]]:
        """Each part's cache key (none without a cache) and cached ``(1, dim)`` vector (None: to embed)."""
        if self._cache is None:
            return [], [None] * len(parts)
        keys = [cache_key(router.embedder.identity, part) for part in parts]
        return keys, [self._cache.get(key) for key in keys]

    def _fill_cache(self, keys: Sequence[bytes], found: Sequence[Vectors | None], embedded: Vectors) -> None:
        """Cache the rows of ``embedded``, the vectors of the parts ``found`` lacks, in order."""
        if self._cache is None:
            return
        missing = [key for key, vector in zip(keys, found, strict=True) if vector is None]
        for row, key in enumerate(missing):
            self._cache.put(key, embedded[row : row + 1])

    def _pass(self, embed: Callable[[], Vectors], long: bool) -> Vectors:
        """Run an embedding pass: a long lane's on the background threads, any other on this thread."""
        return self._background.run(embed) if long and self._background is not None else embed()


def _filled(found: Sequence[Vectors | None], embedded: Vectors) -> Vectors:
    """Every part's vector, one row each, in order: the cached ones of ``found``, then ``embedded``'s rows, in order,
    for the parts it lacks."""
    rows = iter(embedded)
    return np.vstack([vector[0] if vector is not None else next(rows) for vector in found])


def _runs(items: Sequence[Vectors | None], counts: Sequence[int]) -> list[Sequence[Vectors | None]]:
    """``items`` cut into consecutive runs of ``counts`` (each task's parts)."""
    ends = np.cumsum(counts, dtype=np.int64).tolist()
    return [items[end - count : end] for end, count in zip(ends, counts, strict=True)]


def _deadline(context: grpc.ServicerContext) -> float | None:
    """The call's deadline on ``time.monotonic()``'s clock, checked before any work.

    Raises:
        DeadlineExpiredError: it has passed already.
    """
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise DeadlineExpiredError("the call's deadline passed before routing started")
    return None if remaining is None else time.monotonic() + remaining


def _ended(context: grpc.ServicerContext) -> threading.Event:
    """An event set when the call ends (cancelled, deadline), to stop waiting for it at once."""
    ended = threading.Event()
    context.add_callback(ended.set)
    return ended
