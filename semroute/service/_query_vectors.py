"""Query vectors for routing calls: from the cache when the text was embedded before, otherwise embedded within
admission control, a Route call in a micro-batch with the calls waiting beside it (:mod:`._admission`).

Whatever the path, a call's vector is the one it would get alone: the model embeds each text of a batch exactly as it
embeds it alone (rows do not interact, and padding is masked), and the cache holds what the model computed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import grpc
import numpy as np

from semroute.embedding import Vectors
from semroute.router import Router
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
        """The ``(1, dim)`` query vector of a Route call; the call stays admitted while the body decides.

        Raises:
            DeadlineExpiredError: the deadline passed before routing started or while the call waited for a batch.
            OverloadedError: the server is at its admission bounds.
            CallCancelledError: the caller went away while the call waited.
        """
        deadline = _deadline(context)
        part = router.embedded_part(task.text)
        key = cache_key(router.embedder.identity, part) if self._cache is not None else b""
        cached = self._cache.get(key) if self._cache is not None else None
        if cached is not None:
            with self._admission.counted():
                annotate(work_tokens=0, cache_hit=True)
                yield cached
            return
        ended = _ended(context)
        work = router.embedding_work([part])
        embedder, long = router.embedder, self._admission.lane_of(work) == "long"

        def embed_rows(parts: list[str]) -> list[Vectors]:
            vectors = self._pass(lambda: embedder.embed(parts), long)
            return [vectors[position : position + 1] for position in range(len(parts))]

        with self._admission.batched(work, part, embed_rows, deadline, context.is_active, ended) as turn:
            annotate(
                work_tokens=work,
                queued_ms=round(turn.queued_seconds * 1000, 2),
                batch_size=turn.batch_size,
                cache_hit=False,
            )
            if self._cache is not None:
                self._cache.put(key, turn.row)
            yield turn.row

    @contextmanager
    def many(self, router: Router, tasks: Sequence[RouteRequest], context: grpc.ServicerContext) -> Iterator[Vectors]:
        """The query vectors of a RouteBatch call's tasks (row ``i``: ``tasks[i]``), embedding in one admitted pass
        only those the cache does not hold; the call stays admitted while the body decides.

        Raises:
            DeadlineExpiredError: the deadline passed before routing started or while the call waited its turn.
            OverloadedError: the server is at its admission bounds.
            CallCancelledError: the caller went away while the call waited.
        """
        deadline = _deadline(context)
        parts = [router.embedded_part(task.text) for task in tasks]
        cache = self._cache
        keys = [cache_key(router.embedder.identity, part) for part in parts] if cache is not None else []
        found = [cache.get(key) for key in keys] if cache is not None else [None] * len(tasks)
        missing = [position for position, vector in enumerate(found) if vector is None]
        if not missing:
            with self._admission.counted():
                annotate(work_tokens=0, cache_hits=len(tasks))
                yield np.vstack([vector for vector in found if vector is not None])
            return
        ended = _ended(context)
        work = router.embedding_work([parts[position] for position in missing])
        with self._admission.admitted(work, deadline, context.is_active, ended) as queued_seconds:
            annotate(work_tokens=work, queued_ms=round(queued_seconds * 1000, 2), cache_hits=len(tasks) - len(missing))
            texts = [parts[position] for position in missing]
            embedded = self._pass(lambda: router.embedder.embed(texts), self._admission.lane_of(work) == "long")
            vectors = np.empty((len(tasks), embedded.shape[1]), dtype=np.float32)
            vectors[missing] = embedded
            for position, vector in enumerate(found):
                if vector is not None:
                    vectors[position] = vector[0]
            if cache is not None:
                for row, position in enumerate(missing):
                    cache.put(keys[position], embedded[row : row + 1])
            yield vectors

    def _pass(self, embed: Callable[[], Vectors], long: bool) -> Vectors:
        """Run an embedding pass: a long lane's on the background threads, any other on this thread."""
        return self._background.run(embed) if long and self._background is not None else embed()


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
