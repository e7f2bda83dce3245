"""The declarative route file format, as pydantic models.

``routes/router.yaml`` holds :class:`RouterFile` (settings, model catalog, override rules); every other
``routes/*.yaml`` holds one :class:`RouteSpec`. Unknown keys are errors everywhere, so a typo never passes silently.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, field_validator, model_validator

from semroute.learning.choice import DEFAULT_EXPLORATION, ChoicePolicy, ChoiceSettings
from semroute.limits import MAX_MODEL_NAME_CHARS
from semroute.model_store import DEFAULT_EMBEDDING_MODEL
from semroute.signals import DEFAULT_WEIGHTS, SIGNAL_NAMES, Aggregation
from semroute.task_part import EmbedPart
from semroute.types import ModelConfig, ReasoningEffort, Tier, ValidatorSpec
from semroute.validators import check_spec

DEFAULT_EMBEDDING_MAX_TOKENS = 256
DEFAULT_SCORE_THRESHOLD = 0.3  # the one default: route files, routes-from-dataset and fitting all start from it

RouteName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Score = Annotated[float, Field(ge=-1.0, le=1.0)]


class TieBreak(StrEnum):
    """How an ambiguous decision (best two routes closer than the margin) is settled."""

    PREFER_CAPABLE = "prefer_capable"  # the route whose primary model has the higher tier
    PREFER_CHEAPER = "prefer_cheaper"  # the route whose primary model is cheaper
    TOP_SCORE = "top_score"  # the higher score, however small the gap


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddingSettings(_Strict):
    """Which embedding model turns text into vectors."""

    model: str = DEFAULT_EMBEDDING_MODEL
    path: Path | None = Field(
        default=None, description="Local model folder; the default model uses the folder `make model` fills."
    )
    cache_dir: Path | None = Field(default=None, description="Download cache for other fastembed models.")
    max_tokens: int = Field(default=DEFAULT_EMBEDDING_MAX_TOKENS, ge=16, le=8192)
    part: EmbedPart = Field(
        default=EmbedPart.WHOLE,
        description=(
            "which part of a task is embedded: `whole`; `last_paragraph` for prompts that end with the task; or "
            "`best_part` for tasks that carry content (a pasted report, a diff): the instruction part, a short last "
            "paragraph and the whole text are embedded in one call and scored, each route keeping its best part's "
            "score (opt-in: x1.4-2.2 embedding cost for ~50-word tasks, x1.0 for bare instructions). The store and "
            "learning keep the whole text's vector"
        ),
    )


class Blend(RootModel[dict[str, float]]):
    """Weight of each score signal (:data:`semroute.signals.SIGNALS`), from 0 to 1; a route's score is the weighted
    sum of its signals. A signal not named keeps its default weight; at least one weight must be above 0."""

    model_config = ConfigDict(frozen=True)
    root: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @field_validator("root")
    @classmethod
    def _known_signals(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(SIGNAL_NAMES))
        if unknown:
            listed = ", ".join(map(repr, unknown))
            raise ValueError(f"unknown signal {listed}; the signals are {', '.join(SIGNAL_NAMES)}")
        outside = sorted(name for name, weight in weights.items() if not 0.0 <= weight <= 1.0)
        if outside:
            raise ValueError(f"weight of {', '.join(outside)} must be between 0 and 1")
        complete = {name: float(weights.get(name, DEFAULT_WEIGHTS[name])) for name in SIGNAL_NAMES}
        if sum(complete.values()) <= 0:
            raise ValueError("at least one blend weight must be above 0")
        return complete

    @property
    def weights(self) -> dict[str, float]:
        """Every signal's weight, in registry order."""
        return dict(self.root)

    def __hash__(self) -> int:
        return hash(tuple(self.root.items()))


class IndexType(StrEnum):
    """Which FAISS index holds the utterance vectors."""

    AUTO = "auto"  # exact up to ``exact_up_to`` utterances, HNSW above
    EXACT = "exact"  # inner product over every utterance (IndexFlatIP)
    HNSW = "hnsw"  # approximate: a navigable small-world graph over the same float32 vectors (IndexHNSWFlat)


class IndexSettings(_Strict):
    """``settings.index``: which FAISS index the build writes. ``auto`` scans every utterance exactly up to
    ``exact_up_to`` utterances (about 2 ms per query at 50,000 on one core) and builds an HNSW graph above; ``exact``
    and ``hnsw`` force one. HNSW keeps the float32 vectors, so the similarities of the neighbours it finds are those of
    the exact scan; what it can miss is a neighbour, and its recall@top_k against the exact scan is measured at build
    time and stored in the manifest. ``warm_start`` retrains the classifier from the previous artifact's fit when the
    routes are the same and only their utterances changed (:func:`semroute.classifier.warm_train_classifier`): a few
    times faster, its decisions agree with a cold build's on 99.7 % of CLINC150's test set, but the artifact then
    depends on the build history; a route added or removed always trains from zero."""

    type: IndexType = IndexType.AUTO
    exact_up_to: int = Field(default=50_000, ge=0, description="most utterances `auto` still scans exactly")
    hnsw_m: int = Field(default=16, ge=4, le=256, description="graph neighbours per vector (memory: 8 bytes each)")
    ef_construction: int = Field(default=100, ge=8, le=4096, description="candidate list while building the graph")
    ef_search: int = Field(default=128, ge=8, le=4096, description="candidates scored exactly per query (>= top_k)")
    recall_sample: int = Field(default=200, ge=10, le=100_000, description="utterances the build measures recall on")
    warm_start: bool = Field(default=False, description="start the classifier from the previous artifact's")


class Settings(_Strict):
    """Global routing settings."""

    embedding: EmbeddingSettings = EmbeddingSettings()
    top_k: int = Field(default=10, ge=1, le=200)
    aggregation: Aggregation = Aggregation.MAX
    blend: Blend = Blend()
    classifier_regularisation: float = Field(default=4.0, gt=0.0, description="inverse L2 strength at index time")
    score_threshold: Score = DEFAULT_SCORE_THRESHOLD
    margin: float = Field(default=0.02, ge=0.0, le=1.0)
    tie_break: TieBreak = TieBreak.PREFER_CAPABLE
    default_route: RouteName = "general"
    candidates_shown: int = Field(default=5, ge=1, le=50)
    index: IndexSettings = IndexSettings()


class ModelSpec(_Strict):
    """A model of the catalog. Prices and context window default to litellm's bundled cost map."""

    litellm: str = Field(min_length=1, description="litellm model name, with provider prefix")
    tier: Tier
    input_cost_per_mtok: float | None = Field(default=None, ge=0.0, description="USD per million input tokens")
    output_cost_per_mtok: float | None = Field(default=None, ge=0.0, description="USD per million output tokens")
    context_window: int | None = Field(default=None, ge=1, description="input tokens the model accepts")


class ModelConfigSpec(_Strict):
    """``config:`` of a route or a rule: generation settings handed to the caller with the model, validated."""

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(default=None, ge=1)
    reasoning_effort: ReasoningEffort | None = None
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)

    def to_config(self) -> ModelConfig:
        """The validated settings as the plain value decisions carry."""
        return ModelConfig(**self.model_dump(exclude_none=True))


class ValidatorEntry(BaseModel):
    """One entry of a route's ``validators``: ``kind`` and that kind's parameters, checked by its registry entry
    (:data:`semroute.validators.VALIDATORS`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    kind: str

    @model_validator(mode="after")
    def _parameters_fit_the_kind(self) -> ValidatorEntry:
        check_spec(self.to_spec())
        return self

    def to_spec(self) -> ValidatorSpec:
        """The plain value decisions carry."""
        return ValidatorSpec(self.kind, dict(self.model_extra or {}))


class ChoiceSpec(_Strict):
    """A route's ``choice:``: how the starting model is chosen within the route's chain (model and fallbacks, or the
    cascade). ``static`` keeps the route's model; ``learned`` takes the cheapest model whose estimated success
    (``semroute learn``) is good enough: at least ``quality_target``, or at most ``max_quality_loss`` below the best
    estimate of the chain for the task (give exactly one). ``exploration``: the share of tasks sent to a model of the
    chain drawn at random, so that outcomes exist for every model (default 0.02 with ``learned``, else 0)."""

    policy: ChoicePolicy = ChoicePolicy.STATIC
    quality_target: float | None = Field(default=None, ge=0.0, le=1.0)
    max_quality_loss: float | None = Field(default=None, ge=0.0, le=1.0)
    exploration: float | None = Field(default=None, ge=0.0, le=0.5)

    @model_validator(mode="after")
    def _goal_fits_the_policy(self) -> ChoiceSpec:
        goals = [name for name in ("quality_target", "max_quality_loss") if getattr(self, name) is not None]
        if self.policy is ChoicePolicy.LEARNED and len(goals) != 1:
            raise ValueError("a learned choice needs exactly one of quality_target or max_quality_loss")
        if self.policy is ChoicePolicy.STATIC and goals:
            raise ValueError(f"{goals[0]} applies to `policy: learned` only")
        return self

    def to_settings(self) -> ChoiceSettings:
        """The validated block as decisions read it."""
        default = DEFAULT_EXPLORATION if self.policy is ChoicePolicy.LEARNED else 0.0
        return ChoiceSettings(
            policy=self.policy,
            quality_target=self.quality_target,
            max_quality_loss=self.max_quality_loss,
            exploration=default if self.exploration is None else self.exploration,
        )


class RouteSpec(_Strict):
    """One task type: example utterances, a primary model, an ordered fallback chain and a model config; optionally
    a cascade (models tried cheapest first, escalating when an output fails the validators) and validators."""

    name: RouteName
    description: str = ""
    model: str
    fallbacks: list[str] = []
    cascade: list[str] = Field(default=[], description="models tried in turn, cheapest first")
    validators: list[ValidatorEntry] = []
    choice: ChoiceSpec = ChoiceSpec()
    score_threshold: Score | None = None
    config: ModelConfigSpec = ModelConfigSpec()
    override_only: bool = False
    utterances: list[str] = []

    @field_validator("cascade")
    @classmethod
    def _cascade_is_distinct(cls, cascade: list[str]) -> list[str]:
        repeated = sorted({model for model in cascade if cascade.count(model) > 1})
        if repeated:
            raise ValueError(f"model {', '.join(map(repr, repeated))} appears twice in the cascade")
        return cascade

    @field_validator("utterances")
    @classmethod
    def _utterances_are_distinct(cls, utterances: list[str]) -> list[str]:
        seen: dict[str, int] = {}
        for position, text in enumerate(utterances):
            key = " ".join(text.split()).casefold()
            if not key:
                raise ValueError(f"utterance #{position + 1} is empty")
            if key in seen:
                raise ValueError(f"utterance #{position + 1} repeats #{seen[key] + 1}: {text!r}")
            seen[key] = position
        return utterances

    @model_validator(mode="after")
    def _utterances_match_reachability(self) -> RouteSpec:
        if not self.override_only and not self.utterances:
            raise ValueError("utterances: a route needs at least one utterance (or `override_only: true`)")
        if self.override_only and self.utterances:
            raise ValueError("utterances: an override_only route is reached by rules only and takes no utterances")
        chain = [self.model, *self.fallbacks]
        for model in chain:
            if chain.count(model) > 1:
                raise ValueError(f"fallbacks: cyclic fallback chain, model '{model}' appears twice in {chain}")
        if self.choice.policy is ChoicePolicy.LEARNED and len({*chain, *self.cascade}) < 2:
            raise ValueError(
                "choice: `policy: learned` chooses among the route's models (model, fallbacks, cascade), "
                f"and this route has only {self.model!r}: add fallbacks or a cascade, or use `policy: static`"
            )
        return self


class Comparison(_Strict):
    """A numeric test; every bound given must hold."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> Comparison:
        if self.gt is None and self.gte is None and self.lt is None and self.lte is None:
            raise ValueError("give at least one of gt, gte, lt, lte")
        return self

    def holds(self, value: float) -> bool:
        """Whether ``value`` satisfies every bound."""
        return (
            (self.gt is None or value > self.gt)
            and (self.gte is None or value >= self.gte)
            and (self.lt is None or value < self.lt)
            and (self.lte is None or value <= self.lte)
        )


class MetadataTest(_Strict):
    """A test on one request metadata value: ``equals`` one value or is ``in`` a list."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    equals: str | None = None
    in_: list[str] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _exactly_one(self) -> MetadataTest:
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("give exactly one of `equals` or `in`")
        return self

    def holds(self, value: str | None) -> bool:
        """Whether the metadata value passes (a missing key never does)."""
        if value is None:
            return False
        return value == self.equals if self.equals is not None else value in (self.in_ or [])


class Conditions(_Strict):
    """All conditions given must hold for a rule to fire (logical AND)."""

    metadata: dict[str, MetadataTest] = {}
    text_matches: str | None = Field(default=None, description="regex searched in the whole text, case-insensitive")
    estimated_tokens: Comparison | None = None
    file_paths: Comparison | None = Field(default=None, description="number of distinct file paths mentioned")
    has_code_block: bool | None = None
    route_in: list[RouteName] | None = Field(default=None, description="the route chosen so far is one of these")
    ambiguous_between: tuple[RouteName, RouteName] | None = None

    @field_validator("text_matches")
    @classmethod
    def _regex_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except (
                re.error,
                OverflowError,
                RecursionError,
            ) as exc:  # `x{99999999999}` overflows, deep nesting recurses
                raise ValueError(f"not a valid regular expression: {exc}") from exc
        return pattern

    @model_validator(mode="after")
    def _not_empty(self) -> Conditions:
        if not self.model_dump(exclude_defaults=True):
            raise ValueError("a rule needs at least one condition")
        return self


class Allow(_Strict):
    """``then.allow``: the only models a decision may use once the rule fires, named or by tier (a model is allowed
    when it is named or its tier is listed). A constraint, not a preference: the model, the fallbacks, the cascade,
    the learned choice and exploration stay inside it, later rules can only narrow it, and ``complete()`` calls no
    other model."""

    models: list[str] = []
    tiers: list[Tier] = []

    @model_validator(mode="after")
    def _not_empty(self) -> Allow:
        if not self.models and not self.tiers:
            raise ValueError("allow: name the models (`models: [...]`) or tiers (`tiers: [self_hosted]`) allowed")
        return self

    def admits(self, name: str, tier: Tier) -> bool:
        """Whether the model called ``name``, of ``tier``, is allowed."""
        return name in self.models or tier in self.tiers

    def describe(self) -> str:
        """In words, e.g. ``tiers self_hosted`` or ``models a, b; tiers light``."""
        parts = [f"models {', '.join(self.models)}"] if self.models else []
        parts += [f"tiers {', '.join(tier.value for tier in self.tiers)}"] if self.tiers else []
        return "; ".join(parts)


class Actions(_Strict):
    """What a fired rule changes: the route, the model, a patch of the model config, and/or the models allowed."""

    route: RouteName | None = None
    model: str | None = None
    config: ModelConfigSpec | None = None
    allow: Allow | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Actions:
        if self.route is None and self.model is None and self.config is None and self.allow is None:
            raise ValueError("a rule needs at least one action (route, model, config or allow)")
        return self


class OverrideRule(_Strict):
    """A named override for a boundary case. Rules run in file order; ``final`` stops the ones after it."""

    name: RouteName
    description: str = ""
    when: Conditions
    then: Actions
    final: bool = False


ModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_MODEL_NAME_CHARS, pattern=r"^[^\x00-\x1f\x7f-\x9f]+$")
]


class RouterFile(_Strict):
    """Contents of ``routes/router.yaml``."""

    settings: Settings = Settings()
    models: dict[ModelName, ModelSpec]
    rules: list[OverrideRule] = []


class FittedParameters(_Strict):
    """Contents of ``routes/fitted.yaml``, written by ``semroute fit``; it overrides the settings it names."""

    score_threshold: Score | None = None
    margin: float | None = Field(default=None, ge=0.0, le=1.0)
    route_thresholds: dict[RouteName, Score] = {}
    blend: Blend | None = None
    fitted_on: str = ""
    objective: str = ""

    def settings_update(self) -> dict[str, Any]:
        """The settings this fit replaces, by name (those it leaves None are kept)."""
        values = {name: getattr(self, name) for name in FITTED_SETTINGS}
        return {name: value for name, value in values.items() if value is not None}

    def applied_to(self, settings: Settings) -> Settings:
        """``settings`` with what this fit replaces; per-route thresholds apply to the routes, not the settings."""
        return settings.model_copy(update=self.settings_update())


# The settings a fit may replace: its fields that are also settings (score_threshold, margin, blend); everything else
# in the settings shapes the signals themselves and can only change with a new index.
FITTED_SETTINGS: tuple[str, ...] = tuple(
    name for name in FittedParameters.model_fields if name in Settings.model_fields
)
