"""``manifest.json``, the part of the index artifact that says what the index is and how it decides.

One typed, validated class reads and writes it, so that every reader (the router, the service, the quality tools,
``semroute index``'s up-to-date check) sees the same checked fields, and an artifact whose manifest is incomplete
or malformed (no ``counts``, a ``built_at`` that is not a time...) is refused when it is loaded, not when a later
call reads the missing field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from semroute.decision import Policy, RouteTarget
from semroute.embedding import ModelIdentity
from semroute.schema import OverrideRule, Settings
from semroute.types import ResolvedModel

ARTIFACT_FORMAT = 1


class Counts(BaseModel):
    """How many routes and utterance rows the index holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: int = Field(ge=0)
    utterances: int = Field(ge=0)


class LearnedSummary(BaseModel):
    """The learned model choice an index carries (``semroute learn``'s output, picked up by ``semroute index``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(min_length=1, description="hash of the learned file")
    routes: dict[str, tuple[str, ...]] = Field(description="per route, the models with an estimate")


class IndexSummary(BaseModel):
    """The FAISS index an artifact holds, and for an approximate one its measured recall."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["exact", "hnsw"]
    hnsw_m: int | None = Field(default=None, ge=1, description="graph neighbours per vector (hnsw)")
    ef_construction: int | None = Field(default=None, ge=1, description="build-time candidate list (hnsw)")
    ef_search: int | None = Field(default=None, ge=1, description="query-time candidate list (hnsw)")
    recall_k: int | None = Field(default=None, ge=1, description="neighbours the recall is measured on (top_k)")
    recall: float | None = Field(
        default=None, ge=0.0, le=1.0, description="recall@recall_k against the exact scan, measured at build time"
    )
    recall_sample: int | None = Field(default=None, ge=0, description="utterances used as queries for the recall")


class ClassifierSummary(BaseModel):
    """How the build got the route classifier: trained from scratch, warm-started from the previous artifact's
    coefficients, or reused as is (the same vectors, labels and regularisation as the previous build)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    training: Literal["cold", "warm", "reused"]
    iterations: int = Field(ge=0, description="L-BFGS iterations of this build (0 when reused)")


class Manifest(BaseModel):
    """What an index artifact is: format, fingerprints, embedding model, counts, build time, and the policy
    (settings, resolved catalog, route targets, override rules) that decisions are made with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal[1] = 1  # ARTIFACT_FORMAT
    fingerprint: str = Field(min_length=1, description="hash of the routes and the model: identifies the index")
    routes_fingerprint: str = Field(min_length=1, description="hash of the route files the index was built from")
    model: ModelIdentity
    counts: Counts
    built_at: datetime
    settings: Settings
    catalog: dict[str, ResolvedModel]
    routes: tuple[RouteTarget, ...]
    rules: tuple[OverrideRule, ...] = ()
    learned: LearnedSummary | None = None
    index: IndexSummary | None = None  # None: an artifact from before index types, an exact IndexFlatIP
    classifier: ClassifierSummary | None = None

    @classmethod
    def from_json(cls, raw: bytes | str) -> Manifest:
        """Read and check a manifest.

        Raises:
            ValueError: not JSON, or a field is missing, of the wrong type or inconsistent (the message names it).
        """
        try:
            return cls.model_validate_json(raw)
        except ValidationError as error:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'manifest'}: {e['msg']}" for e in error.errors())
            raise ValueError(f"manifest.json: {problems}") from None

    def to_json(self) -> str:
        """The manifest as written into the artifact."""
        return self.model_dump_json(indent=2, by_alias=True, exclude_none=True)

    def policy(self) -> Policy:
        """What the decision engine decides with."""
        return Policy(
            settings=self.settings,
            routes={target.name: target for target in self.routes},
            models=dict(self.catalog),
            rules=self.rules,
            fingerprint=self.fingerprint,
        )
