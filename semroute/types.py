"""The values every stage shares: a routing request, the decision, its model and config, and what the service reports.

Plain frozen dataclasses and enums with no dependency beyond the standard library, so that the lean client
(:mod:`semroute.client`) can return them without installing or importing the server's numpy, pydantic or faiss. The
route file schema (:mod:`semroute.schema`) validates what becomes these values; :mod:`semroute.wire` translates them
to and from protobuf.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

ReasoningEffort = Literal["minimal", "low", "medium", "high"]
REASONING_EFFORTS: tuple[ReasoningEffort, ...] = ("minimal", "low", "medium", "high")


class Tier(StrEnum):
    """Capability tier of a model, from most to least capable; self-hosted models stand apart."""

    FRONTIER = "frontier"
    MID = "mid"
    LIGHT = "light"
    SELF_HOSTED = "self_hosted"


TIER_RANK: dict[Tier, int] = {Tier.FRONTIER: 3, Tier.MID: 2, Tier.SELF_HOSTED: 1, Tier.LIGHT: 1}


CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation as the router sees it: what a rule must see of what the provider will receive.

    Attributes:
        role: ``system``, ``developer``, ``user``, ``assistant`` or ``tool``.
        text: The turn's text: its text parts, and for tool calls their names and arguments.
        tool_calls: The turn calls tools (an assistant turn).
        tool_result: The turn carries a tool's result (a ``tool`` turn).
        images: The turn carries images.
    """

    role: str
    text: str = ""
    tool_calls: bool = False
    tool_result: bool = False
    images: bool = False


@dataclass(frozen=True)
class RouteRequest:
    """One task to route: a text, or a conversation (``messages``) whose last user turn is the text when none is
    given. The route is scored on ``text``; the rules, and the sizes they test, see all of :attr:`whole_text`."""

    text: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    input_tokens: int | None = None  # the caller's own count; replaces the estimate from the text
    top_k: int | None = None  # overrides the index's top_k for this request
    messages: tuple[ChatMessage, ...] = ()  # the conversation the provider will receive, every turn

    def __post_init__(self) -> None:
        if isinstance(self.text, str) and not self.text and self.messages:
            last_user = next((turn.text for turn in reversed(self.messages) if turn.role == "user"), "")
            object.__setattr__(self, "text", last_user)

    @property
    def whole_text(self) -> str:
        """Everything that will be sent: every turn's text, and the text when it is not one of them."""
        if not self.messages:
            return self.text
        turns = [turn.text for turn in self.messages]
        return "\n\n".join(turns if self.text in turns else [self.text, *turns])


@dataclass(frozen=True)
class ResolvedModel:
    """A catalog model with every number known (prices in USD per million tokens, context window in tokens)."""

    name: str
    litellm: str
    tier: Tier
    input_cost_per_mtok: float
    output_cost_per_mtok: float
    context_window: int

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (index manifest, ``--json`` output)."""
        return {**asdict(self), "tier": self.tier.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ResolvedModel:
        """Inverse of :meth:`to_json`."""
        return cls(**{**data, "tier": Tier(data["tier"])})


@dataclass(frozen=True)
class ModelConfig:
    """Generation settings handed to the caller with the model; None leaves a setting to the provider.

    Route files state these under ``config:`` (validated by :class:`semroute.schema.ModelConfigSpec`).
    """

    temperature: float | None = None  # 0-2
    max_output_tokens: int | None = None  # >= 1
    reasoning_effort: ReasoningEffort | None = None
    top_p: float | None = None  # (0, 1]

    def patched(self, patch: ModelConfig) -> ModelConfig:
        """This config with every setting that ``patch`` sets replaced."""
        return replace(self, **patch.to_json())

    def to_json(self) -> dict[str, Any]:
        """The settings that are set, as plain JSON."""
        return {item.name: getattr(self, item.name) for item in fields(self) if getattr(self, item.name) is not None}


@dataclass(frozen=True)
class ValidatorSpec:
    """A check an output must pass: a kind (``json``, ``regex``, ``python_syntax``, ``max_chars``, ``custom``) and its
    parameters (see :mod:`semroute.validators`)."""

    kind: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The form route files use: ``{"kind": ..., **params}``."""
        return {"kind": self.kind, **self.params}


@dataclass(frozen=True)
class Candidate:
    """A route's score, with each signal that went into it."""

    route: str
    score: float
    signals: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteDecision:
    """The answer: a route, its model, config and fallback chain, and why."""

    route: str
    model: ResolvedModel
    fallbacks: tuple[ResolvedModel, ...]
    config: ModelConfig
    candidates: tuple[Candidate, ...]
    margin: float
    ambiguous: bool
    rules: tuple[str, ...]
    trace: tuple[str, ...]
    estimated_tokens: int
    index_fingerprint: str
    cascade: tuple[ResolvedModel, ...] = ()  # tried in turn, cheapest first, escalating on a failed validation
    validators: tuple[ValidatorSpec, ...] = ()
    decision_id: str = ""  # issued by the service, for reporting the outcome
    choice_policy: str = "static"  # how the starting model was chosen within the chain: static | learned
    choice_probability: float = 1.0  # with which the starting model was chosen (below 1 when the route explores)
    # Where the task may go: the catalog models a rule's `allow` restricted the decision to (empty: no constraint),
    # and the rules that set it. Every model the decision names is among them, and ``complete()`` calls no other.
    allowed_models: tuple[str, ...] = ()
    constraint_rules: tuple[str, ...] = ()

    @property
    def constrained(self) -> bool:
        """Whether a rule restricted the models this decision may use."""
        return bool(self.constraint_rules)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form (what ``semroute route --json`` prints)."""
        return {
            "route": self.route,
            "model": self.model.to_json(),
            "fallbacks": [model.to_json() for model in self.fallbacks],
            "cascade": [model.to_json() for model in self.cascade],
            "validators": [validator.to_json() for validator in self.validators],
            "config": self.config.to_json(),
            "ambiguous": self.ambiguous,
            "margin": round(self.margin, 6),
            "candidates": [
                {
                    "route": c.route,
                    "score": round(c.score, 6),
                    "signals": {k: round(v, 6) for k, v in c.signals.items()},
                }
                for c in self.candidates
            ],
            "rules": list(self.rules),
            "trace": list(self.trace),
            "estimated_tokens": self.estimated_tokens,
            "index_fingerprint": self.index_fingerprint,
            "decision_id": self.decision_id,
            "choice_policy": self.choice_policy,
            "choice_probability": round(self.choice_probability, 6),
            "allowed_models": list(self.allowed_models),
            "constraint_rules": list(self.constraint_rules),
        }


@dataclass(frozen=True)
class RemoteDecision(RouteDecision):
    """A decision made by the service: a :class:`RouteDecision` plus the call's request id.

    ``trace`` is empty unless the call asked for the full trace.
    """

    request_id: str = ""

    def to_json(self) -> dict[str, Any]:
        """Plain JSON form: the decision's, plus ``request_id``."""
        return {**super().to_json(), "request_id": self.request_id}


class AttemptOutcome(StrEnum):
    """How one attempt at executing a decision ended."""

    ACCEPTED = "accepted"  # the output passed every validator
    INVALID = "invalid"  # the output failed a validator: escalate to the next model of the cascade
    PROVIDER_ERROR = "provider_error"  # timeout, 429, 5xx, connection error, content filter: try the next fallback


@dataclass(frozen=True)
class Attempt:
    """One call of one model while executing a decision: the same record in the client's result, in ReportOutcome
    and in the outcome store.

    Attributes:
        model: Catalog name of the model called.
        outcome: How it ended.
        latency_ms: Wall-clock time of the call.
        input_tokens: Prompt tokens the provider counted (0 when it did not answer).
        output_tokens: Completion tokens the provider counted.
        cost_usd: input and output tokens times the model's prices in the decision.
        validator: The kind of the validator that refused the output (INVALID only).
        message: The validator's message, or the provider error's text.
        error_class: The provider error's class, e.g. ``RateLimitError`` (PROVIDER_ERROR only).
        passed_validators: The kinds of the validators the output passed, in order (ACCEPTED only); empty when no
            validator checked it, and then the acceptance says only that the model answered: the learner counts it
            as a success only with a quality score.
    """

    model: str
    outcome: AttemptOutcome
    latency_ms: float
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    validator: str = ""
    message: str = ""
    error_class: str = ""
    passed_validators: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.outcome, AttemptOutcome):  # "accepted", as the outcome is written in text
            try:
                outcome = AttemptOutcome(self.outcome)
            except ValueError:
                known = ", ".join(member.value for member in AttemptOutcome)
                raise ValueError(f"Attempt.outcome: {self.outcome!r} is not one of {known}") from None
            object.__setattr__(self, "outcome", outcome)


@dataclass(frozen=True)
class OutcomeReport:
    """How executing one decision went, as ReportOutcome sends it and the outcome store keeps it.

    Attributes:
        decision_id: The decision's ``decision_id``.
        attempts: Every model call made, in order.
        accepted: Whether one of them produced an accepted output.
        quality_score: 1 (bad) to 5 (excellent); None when nobody judged the output.
        labels: Free-form labels.
    """

    decision_id: str
    attempts: tuple[Attempt, ...]
    accepted: bool
    quality_score: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QualityReport:
    """A quality score (1-5) given after the outcome, with labels added to the decision's."""

    decision_id: str
    score: int
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreStats:
    """The outcome store's counters since the server started (all 0 and ``enabled`` False without a store)."""

    enabled: bool = False
    decisions_recorded: int = 0
    decisions_dropped: int = 0  # queue full, the batch failed to commit, or the database refused the record
    store_errors: int = 0  # failed commits
    outcomes_recorded: int = 0  # outcomes and quality scores


@dataclass(frozen=True)
class RouteInfo:
    """One route of the index in service and what it leads to."""

    name: str
    description: str
    model: ResolvedModel
    fallbacks: tuple[ResolvedModel, ...]
    config: ModelConfig
    score_threshold: float


@dataclass(frozen=True)
class IndexInfo:
    """The index in service and the embedding model serving it."""

    embedding_model_id: str
    embedding_dimension: int
    embedding_model_sha256: str
    fingerprint: str
    route_count: int
    utterance_count: int
    built_at: datetime
    loaded_at: datetime
    last_reload_error: str  # why the latest reload was refused; empty when it succeeded


@dataclass(frozen=True)
class ReloadResult:
    """What a ReloadIndex call did."""

    changed: bool  # False: the artifact on disk is the index already in service
    previous_fingerprint: str
    index: IndexInfo


class ServingStatus(StrEnum):
    """A health check's answer (``grpc.health.v1``)."""

    UNKNOWN = "UNKNOWN"
    SERVING = "SERVING"
    NOT_SERVING = "NOT_SERVING"
    SERVICE_UNKNOWN = "SERVICE_UNKNOWN"
