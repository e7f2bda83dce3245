"""The router: an index artifact and an embedding model, answering requests with decisions.

This is the whole request path (validate -> embed prefix -> nearest utterances -> route scores -> decision); the CLI
and the gRPC service are thin layers over it.
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
from semroute.signals import Query, blend_signals, compute_signals
from semroute.task_part import part_to_embed
from semroute.types import Candidate, RouteDecision, RouteRequest

MAX_TEXT_CHARS = 1_000_000
MAX_TOP_K = 200
MAX_METADATA_ENTRIES = 32
MAX_METADATA_VALUE_CHARS = 256
_METADATA_KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # fullmatch: `$` would let a trailing newline through


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
    if not request.text.strip():
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
    if len(request.metadata) > MAX_METADATA_ENTRIES:
        raise RequestError("metadata", f"has {len(request.metadata)} entries, over the limit of {MAX_METADATA_ENTRIES}")
    for key, value in request.metadata.items():
        if not _METADATA_KEY.fullmatch(key):
            raise RequestError("metadata", f"key {key!r} must be 1-64 characters of letters, digits, '_', '.', '-'")
        if len(value) > MAX_METADATA_VALUE_CHARS:
            raise RequestError(f"metadata[{key}]", f"value is over {MAX_METADATA_VALUE_CHARS} characters")


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
        """What embedding ``parts`` (texts' :meth:`embedded_part`) costs, in tokens: each one's prefix (at most
        ``max_tokens``), plus the two special tokens every text gets. Admission control counts work in these units."""
        limit = self._embedder.identity.max_tokens
        return sum(min(estimate_tokens(part), limit) + 2 for part in parts)

    def embedded_part(self, text: str) -> str:
        """The part of a task's text that is embedded (the route set's ``settings.embedding.part``)."""
        return part_to_embed(text, self._part)

    def _route_valid(self, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        return self.route_embedded(requests)[0]

    def route_embedded(self, requests: Sequence[RouteRequest]) -> tuple[list[RouteDecision], Vectors]:
        """Decide already validated requests with one embedding call, and return their query vectors too (row ``i``
        is ``requests[i]``): the outcome store keeps them, and embedding again would double the cost."""
        if not requests:
            return [], np.empty((0, self._embedder.identity.dim), dtype=np.float32)
        vectors = self._embedder.embed([self.embedded_part(request.text) for request in requests])
        return self.route_vectors(vectors, requests), vectors

    def route_vectors(self, vectors: Vectors, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        """Decide requests whose texts are already embedded (row ``i`` of ``vectors`` is ``requests[i]``)."""
        return [
            self.decide(request, candidates, vectors[position])
            for position, (request, candidates) in enumerate(
                zip(requests, self.candidates(vectors, requests), strict=True)
            )
        ]

    def candidates(
        self, vectors: Vectors, requests: Sequence[RouteRequest], *, complete: bool = False
    ) -> list[list[Candidate]]:
        """Scored candidate routes for each query vector, with each signal behind the score.

        By default only the routes that can shape the decision are listed: those that clear their threshold and the
        best few (``candidates_shown``, at least two for the margin); ``decide`` answers exactly as it would on every
        route, without building a candidate per route of a large route set. ``complete`` lists every routable route,
        in index order (for tools that re-weigh the signals). Override-only routes are never candidates.
        """
        artifact = self._artifact
        top_ks = [request.top_k or artifact.policy.settings.top_k for request in requests]
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        # One query at a time: batched BLAS kernels round differently, and a batch must answer exactly as one by one.
        return [self._score(queries[position : position + 1], top_k, complete) for position, top_k in enumerate(top_ks)]

    def _score(self, query: Vectors, top_k: int, complete: bool) -> list[Candidate]:
        artifact = self._artifact
        signals = compute_signals(Query(query, top_k, artifact))
        scores = blend_signals(signals, artifact.policy.settings.blend.weights)
        listed = self._routable if complete else self._shortlist(scores)
        return [
            Candidate(
                artifact.route_names[number], float(scores[number]), {k: float(v[number]) for k, v in signals.items()}
            )
            for number in np.flatnonzero(listed)
        ]

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
        features = extract_features(request.text, request.input_tokens)
        chooser = None
        if vector is not None and self._chooses:
            chooser = LearnedChooser(self._artifact.learned, vector, request.text, request.input_tokens, self._salt)
        return decide(candidates, request.text, features, request.metadata, self._artifact.policy, chooser)
