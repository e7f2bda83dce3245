"""The router: an index artifact and an embedding model, answering requests with decisions.

This is the whole request path (validate -> embed prefix -> nearest utterances -> route scores -> decision); the CLI
and the gRPC service are thin layers over it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from semroute.decision import Candidate, RouteDecision, decide
from semroute.embedding import Embedder, Vectors
from semroute.errors import RequestError
from semroute.features import extract_features
from semroute.index import IndexArtifact
from semroute.scoring import aggregate_hits

MAX_TEXT_CHARS = 1_000_000
MAX_TOP_K = 200
MAX_METADATA_ENTRIES = 32
MAX_METADATA_VALUE_CHARS = 256
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class RouteRequest:
    """One task to route."""

    text: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    input_tokens: int | None = None  # the caller's own count; replaces the estimate from the text
    top_k: int | None = None  # overrides the index's top_k for this request


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
        if not _METADATA_KEY.match(key):
            raise RequestError("metadata", f"key {key!r} must be 1-64 characters of letters, digits, '_', '.', '-'")
        if len(value) > MAX_METADATA_VALUE_CHARS:
            raise RequestError(f"metadata[{key}]", f"value is over {MAX_METADATA_VALUE_CHARS} characters")


class Router:
    """Routes tasks with one loaded index and the embedding model that built it."""

    def __init__(self, artifact: IndexArtifact, embedder: Embedder) -> None:
        artifact.require_model(embedder.identity)
        self._artifact = artifact
        self._embedder = embedder

    @property
    def artifact(self) -> IndexArtifact:
        """The loaded index."""
        return self._artifact

    def route(self, request: RouteRequest) -> RouteDecision:
        """Decide one request.

        Raises:
            RequestError: the request is invalid.
        """
        return self.route_batch([request])[0]

    def route_batch(self, requests: Sequence[RouteRequest]) -> list[RouteDecision]:
        """Decide many requests with one embedding call; each answer equals the one-by-one answer."""
        for request in requests:
            validate_request(request)
        if not requests:
            return []
        vectors = self._embedder.embed([request.text for request in requests])
        return [
            self._decide(request, candidates)
            for request, candidates in zip(requests, self.candidates(vectors, requests), strict=True)
        ]

    def candidates(self, vectors: Vectors, requests: Sequence[RouteRequest]) -> list[list[Candidate]]:
        """Scored candidate routes for each query vector (routes with no hit among the neighbours are absent)."""
        settings = self._artifact.policy.settings
        top_ks = [request.top_k or settings.top_k for request in requests]
        k = min(max(top_ks), self._artifact.index.ntotal)
        if k == 0:
            return [[] for _ in requests]
        similarities, rows = self._artifact.index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        names = self._artifact.route_names
        results: list[list[Candidate]] = []
        for row_similarities, row_ids, top_k in zip(similarities, rows, top_ks, strict=True):
            ids = row_ids[:top_k]
            hit_routes = np.where(ids >= 0, self._artifact.row_routes[np.maximum(ids, 0)], -1)
            scores = aggregate_hits(row_similarities[:top_k], hit_routes, settings.aggregation, top_k)
            results.append([Candidate(names[number], score, {"neighbour": score}) for number, score in scores.items()])
        return results

    def _decide(self, request: RouteRequest, candidates: list[Candidate]) -> RouteDecision:
        features = extract_features(request.text, request.input_tokens)
        return decide(candidates, request.text, features, request.metadata, self._artifact.policy)
