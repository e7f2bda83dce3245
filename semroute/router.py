"""The router: an index artifact and an embedding model, answering requests with decisions.

This is the whole request path (validate -> embed prefix -> nearest utterances -> route scores -> decision); the CLI
and the gRPC service are thin layers over it.

A task is embedded as one or more parts (:meth:`Router.embedded_parts`: several with ``settings.embedding.part:
best_part``), all of a call's parts in one embedding call. Each part is scored on its own and a route keeps the
score, and the signals, of its best part: a content-bearing task then matches the bare-instruction utterances on its
instruction part, and a bare task is one part, scored as always. One vector per task (the last part's) goes to the
outcome store and the learned model choice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import faiss
import numpy as np
import numpy.typing as npt

from semroute.decision import decide
from semroute.embedding import Embedder, Vectors
from semroute.errors import RequestError
from semroute.features import estimate_tokens, extract_features
from semroute.index import IndexArtifact
from semroute.learning.choice import ChoicePolicy
from semroute.learning.chooser import LearnedChooser
from semroute.limits import check_text, check_tokens
from semroute.signals import Query, blend_signals, compute_signals
from semroute.task_part import part_to_embed, parts_to_embed
from semroute.types import CHAT_ROLES, Candidate, RouteDecision, RouteRequest

MAX_TEXT_CHARS = 1_000_000
MAX_MESSAGES = 1024  # turns of a conversation
MAX_CONVERSATION_CHARS = 3_000_000  # every turn's text together: what the 4 MiB transport limit still carries
MAX_TOP_K = 200
MAX_METADATA_ENTRIES = 32
MAX_METADATA_VALUE_CHARS = 256
_METADATA_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # fullmatch: `$` would let a trailing newline through

PartVectors = Sequence[Vectors]
"""The vectors of requests' embedded parts: item ``i`` is a ``(parts, dim)`` array for request ``i``, its rows in
:meth:`Router.embedded_parts` order (the last row is the task's vector)."""


def split_rows(vectors: Vectors, counts: Sequence[int]) -> list[Vectors]:
    """``vectors`` cut into consecutive blocks of ``counts`` rows (the parts of each request, embedded together)."""
    ends = np.cumsum(counts, dtype=np.int64)
    return [vectors[end - count : end] for end, count in zip(ends.tolist(), counts, strict=True)]


def task_vectors(part_vectors: PartVectors, dim: int) -> Vectors:
    """One vector per request, the last row of each (:func:`~semroute.task_part.part_to_embed`'s part): what the
    outcome store keeps and the learned model choice reads, whatever the number of parts scored."""
    if not part_vectors:
        return np.empty((0, dim), dtype=np.float32)
    return np.vstack([vectors[-1:] for vectors in part_vectors])


def validate_batch(requests: Sequence[RouteRequest]) -> None:
    """Check every request of a batch.

    Raises:
        RequestError: naming the first invalid item's field as ``requests[i].<field>``.
    """
    for position, request in enumerate(requests):
        try:
            validate_request(request)
        except RequestError as error:
            raise RequestError(f"requests[{position}].{error.field}", error.reason) from error


def validate_request(request: RouteRequest) -> None:
    """Check a request's fields.

    Raises:
        RequestError: naming the field that is wrong and why.
    """
    _validate_messages(request)
    if not request.text.strip():
        if request.messages:
            raise RequestError("messages", "no user message with text to route on (and no text given)")
        raise RequestError("text", "must not be empty or whitespace")
    if len(request.text) > MAX_TEXT_CHARS:
        raise RequestError(
            "text",
            f"is {len(request.text):,} characters, over the limit of {MAX_TEXT_CHARS:,}; "
            "send a representative prefix and the full size in input_tokens",
        )
    if request.top_k is not None and not 1 <= request.top_k <= MAX_TOP_K:
        raise RequestError("top_k", f"must be between 1 and {MAX_TOP_K}, got {request.top_k}")
    if request.input_tokens is not None and request.input_tokens < 0:
        raise RequestError("input_tokens", f"must not be negative, got {request.input_tokens}")
    if request.input_tokens is not None:
        check_tokens("input_tokens", request.input_tokens)  # the store keeps it; the reports sum it
    check_text("text", request.text)  # no NUL: a PostgreSQL store keeping task text (--store-text) refuses it
    if len(request.metadata) > MAX_METADATA_ENTRIES:
        raise RequestError("metadata", f"has {len(request.metadata)} entries, over the limit of {MAX_METADATA_ENTRIES}")
    for key, value in request.metadata.items():
        if not _METADATA_KEY.fullmatch(key):
            raise RequestError("metadata", f"key {key!r} must be 1-64 characters of letters, digits, '_', '.', '-'")
        if len(value) > MAX_METADATA_VALUE_CHARS:
            raise RequestError(f"metadata[{key}]", f"value is over {MAX_METADATA_VALUE_CHARS} characters")


def _validate_messages(request: RouteRequest) -> None:
    if len(request.messages) > MAX_MESSAGES:
        raise RequestError("messages", f"has {len(request.messages)} turns, over the limit of {MAX_MESSAGES}")
    for position, turn in enumerate(request.messages):
        if turn.role not in CHAT_ROLES:
            raise RequestError(
                f"messages[{position}].role", f"{turn.role[:32]!r} is not one of {', '.join(CHAT_ROLES)}"
            )
    chars = sum(len(turn.text) for turn in request.messages)
    if chars > MAX_CONVERSATION_CHARS:
        raise RequestError(
            "messages", f"hold {chars:,} characters of text, over the limit of {MAX_CONVERSATION_CHARS:,}"
        )


class Router:
    """Routes tasks with one loaded index and the embedding model that built it."""

    def __init__(self, artifact: IndexArtifact, embedder: Embedder) -> None:
        artifact.require_model(embedder.identity)
        # One query at a time gains nothing from OpenMP threads: on 15,100 utterances one thread takes 3.4 ms and two
        # take 4.2 ms on an idle 2-core machine, and 16 ms when the other core is busy (other requests, the embedding).
        faiss.omp_set_num_threads(1)
        self._artifact = artifact
        self._embedder = embedder
        self._routable = np.bincount(artifact.row_routes, minlength=len(artifact.route_names)) > 0
        routes = artifact.policy.routes
        self._part = artifact.policy.settings.embedding.part
        # routes whose model choice is not plainly static (learned, or exploring) need the query vector at decision
        targets = artifact.policy.routes.values()
        self._chooses = any(t.choice.policy is not ChoicePolicy.STATIC or t.choice.exploration > 0 for t in targets)
        self._salt = os.urandom(16)
        self._thresholds = np.array([routes[name].threshold for name in artifact.route_names], dtype=np.float64)

    @property
    def artifact(self) -> IndexArtifact:
        """The loaded index."""
        return self._artifact

    @property
    def embedder(self) -> Embedder:
        """The embedding model."""
        return self._embedder

    def route(self, request: RouteRequest) -> RouteDecision:
        """Decide one request.

        Raises:
            RequestError: the request is invalid.
        """
        validate_request(request)
        return self._route_valid([request])[0]

    def route_batch(self, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        """Decide many requests with one embedding call; each answer equals the one-by-one answer.

        Raises:
            RequestError: an item is invalid (the field reads ``requests[i].<field>``); nothing is embedded then.
        """
        validate_batch(requests)
        return self._route_valid(requests)

    def embedding_work(self, parts: Sequence[str]) -> int:
        """What embedding ``parts`` (texts' :meth:`embedded_parts`) costs, in tokens: each one's prefix (at most
        ``max_tokens``), plus the two special tokens every text gets. Admission control counts work in these units."""
        limit = self._embedder.identity.max_tokens
        return sum(min(estimate_tokens(part), limit) + 2 for part in parts)

    def embedded_part(self, text: str) -> str:
        """The part of a task's text whose vector stands for the task (the outcome store, the learned choice)."""
        return part_to_embed(text, self._part)

    def embedded_parts(self, text: str) -> tuple[str, ...]:
        """Every part of a task's text that is embedded and scored (the route set's ``settings.embedding.part``):
        one, unless ``best_part``; the last is :meth:`embedded_part`'s."""
        return parts_to_embed(text, self._part)

    def _route_valid(self, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        return self.route_embedded(requests)[0]

    def route_embedded(self, requests: Sequence[RouteRequest]) -> tuple[list[RouteDecision], Vectors]:
        """Decide already validated requests with one embedding call, and return their task vectors too (row ``i``
        is ``requests[i]``, see :func:`task_vectors`): the outcome store keeps them, and embedding again would double
        the cost."""
        split = [self.embedded_parts(request.text) for request in requests]
        flat = [part for parts in split for part in parts]
        if not flat:
            return [], np.empty((0, self._embedder.identity.dim), dtype=np.float32)
        part_vectors = split_rows(self._embedder.embed(flat), [len(parts) for parts in split])
        return self.route_parts(part_vectors, requests), task_vectors(part_vectors, self._embedder.identity.dim)

    def route_parts(self, part_vectors: PartVectors, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        """Decide requests whose parts are already embedded (item ``i`` of ``part_vectors`` is ``requests[i]``'s)."""
        return [
            self.decide(request, candidates, vectors[-1])
            for request, candidates, vectors in zip(
                requests, self.part_candidates(part_vectors, requests), part_vectors, strict=True
            )
        ]

    def candidates(
        self, vectors: Vectors, requests: Sequence[RouteRequest], *, complete: bool = False
    ) -> list[list[Candidate]]:
        """Scored candidate routes for requests of one embedded part each (row ``i`` of ``vectors`` is
        ``requests[i]``'s), as :meth:`part_candidates`."""
        return self.part_candidates(
            [vectors[row : row + 1] for row in range(len(vectors))], requests, complete=complete
        )

    def part_candidates(
        self, part_vectors: PartVectors, requests: Sequence[RouteRequest], *, complete: bool = False
    ) -> list[list[Candidate]]:
        """Scored candidate routes for each request, with each signal behind the score; with several parts, each
        route's score and signals are those of its best-scoring part.

        By default only the routes that can shape the decision are listed: those that clear their threshold and the
        best few (``candidates_shown``, at least two for the margin); ``decide`` answers exactly as it would on every
        route, without building a candidate per route of a large route set. ``complete`` lists every routable route,
        in index order (for tools that re-weigh the signals). Override-only routes are never candidates.
        """
        default_top_k = self._artifact.policy.settings.top_k
        # One query at a time: batched BLAS kernels round differently, and a batch must answer exactly as one by one.
        return [
            self._score(np.ascontiguousarray(vectors, dtype=np.float32), request.top_k or default_top_k, complete)
            for vectors, request in zip(part_vectors, requests, strict=True)
        ]

    def _score(self, queries: Vectors, top_k: int, complete: bool) -> list[Candidate]:
        signals, scores = self._best_part_signals(queries, top_k)
        listed = self._routable if complete else self._shortlist(scores)
        return [
            Candidate(
                self._artifact.route_names[number],
                float(scores[number]),
                {k: float(v[number]) for k, v in signals.items()},
            )
            for number in np.flatnonzero(listed)
        ]

    def _best_part_signals(self, queries: Vectors, top_k: int) -> tuple[dict[str, Vectors], Vectors]:
        """Every route's signals and score on its best-scoring part among the rows of ``queries`` (the first such
        part on a tie). A route takes its signals from the part that scored it, so that re-weighing tools (fit,
        sweep) see the evidence behind the score."""
        weights = self._artifact.policy.settings.blend.weights
        per_part = [
            compute_signals(Query(queries[row : row + 1], top_k, self._artifact)) for row in range(len(queries))
        ]
        scores = [blend_signals(signals, weights) for signals in per_part]
        if len(per_part) == 1:
            return per_part[0], scores[0]
        stacked = np.stack(scores)
        best, routes = np.argmax(stacked, axis=0), np.arange(stacked.shape[1])
        signals = {name: np.stack([part[name] for part in per_part])[best, routes] for name in per_part[0]}
        return signals, stacked[best, routes]

    def _shortlist(self, scores: Vectors) -> npt.NDArray[np.bool_]:
        shown = max(2, self._artifact.policy.settings.candidates_shown)
        ranked = np.flatnonzero(self._routable)[np.argsort(-scores[self._routable], kind="stable")]
        listed = self._routable & (scores >= self._thresholds)
        listed[ranked[:shown]] = True
        return listed

    def decide(
        self, request: RouteRequest, candidates: Sequence[Candidate], vector: Vectors | None = None
    ) -> RouteDecision:
        """The decision for a request from its scored candidates (see :meth:`candidates`); ``vector``, its query
        vector, lets routes with a learned model choice estimate each model's success (without it their choice is
        static)."""
        whole = request.whole_text  # the rules and the sizes they test see every turn that will be sent
        features = extract_features(whole, request.input_tokens)
        chooser = None
        if vector is not None and self._chooses:
            chooser = LearnedChooser(self._artifact.learned, vector, request.text, request.input_tokens, self._salt)
        return decide(candidates, whole, features, request.metadata, self._artifact.policy, chooser)
