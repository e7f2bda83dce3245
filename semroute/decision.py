"""Route scores -> a routing decision (pure logic: no I/O, no globals).

The steps, in order: per-route thresholds (no route clears its own -> the default route); the margin rule (the best
qualifying routes closer than the margin -> ambiguous, settled by the tie-break policy); the override rules in their
documented order; then the model: the route's primary, then its fallbacks, skipping models whose context window cannot
hold the estimated input. A rule's ``allow`` is a constraint on all of it: a model outside the allowed set is never
named by the decision, whatever the route's chain, a rule's ``model`` or the learned choice would give.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from semroute.errors import ConstraintError
from semroute.features import Features
from semroute.learning.choice import Choice, ChoicePolicy, ChoiceSettings, ModelEstimate, choose
from semroute.schema import OverrideRule, Settings, TieBreak
from semroute.types import TIER_RANK, Candidate, ModelConfig, ResolvedModel, RouteDecision, ValidatorSpec

CONTEXT_WINDOW_RULE = "context_window_fit"


@dataclass(frozen=True)
class RouteTarget:
    """What a route leads to, as the decision engine needs it."""

    name: str
    model: str
    fallbacks: tuple[str, ...]
    config: ModelConfig
    threshold: float
    description: str = ""
    cascade: tuple[str, ...] = ()  # tried in turn, cheapest first, escalating on a failed validation
    validators: tuple[ValidatorSpec, ...] = ()
    choice: ChoiceSettings = ChoiceSettings()


class ModelChooser(Protocol):
    """What the model choice learns about one task: estimates for the models of a route's chain, and the uniform
    draw that exploration uses."""

    @property
    def draw(self) -> float: ...

    def estimates(self, route: str, chain: Sequence[ResolvedModel]) -> Mapping[str, ModelEstimate]: ...


@dataclass(frozen=True)
class Policy:
    """Everything the engine decides with, all of it read from the index artifact."""

    settings: Settings
    routes: Mapping[str, RouteTarget]
    models: Mapping[str, ResolvedModel]
    rules: Sequence[OverrideRule]
    fingerprint: str = ""


def decide(
    candidates: Sequence[Candidate],
    text: str,
    features: Features,
    metadata: Mapping[str, str],
    policy: Policy,
    chooser: ModelChooser | None = None,
) -> RouteDecision:
    """Turn scored candidates and request facts into a :class:`RouteDecision`; ``chooser`` gives the learned model
    choice what it needs (without one, every route's choice is static)."""
    ranked = sorted(candidates, key=lambda candidate: candidate.score, reverse=True)
    trace: list[str] = []
    route, contenders, margin, ambiguous = _semantic_choice(ranked, policy, trace)
    state, fired = _apply_rules(
        _RuleState(route, None, policy.routes[route].config),
        text,
        features,
        metadata,
        contenders,
        ambiguous,
        policy,
        trace,
    )
    route, model_name, config, constraint = state.route, state.model, state.config, state.constraint
    if model_name is not None and not constraint.admits(model_name):
        trace.append(f"model {model_name} is not allowed ({constraint.why}): not used")
        model_name = None
    model, fallbacks, skipped = _fit_context(route, model_name, features.estimated_tokens, policy, constraint, trace)
    if skipped:
        fired.append(CONTEXT_WINDOW_RULE)
    target = policy.routes[route]
    # a rule that names the model means that model: no cascade; otherwise the route's, models that fit the input
    cascade = () if model_name else _cascade(target, features.estimated_tokens, policy, constraint, trace)
    choice = _choose_model(
        target,
        model,
        fallbacks,
        cascade,
        pinned=model_name is not None,
        may_explore=not constraint.rules and not any(rule.final and rule.name in fired for rule in policy.rules),
        policy=policy,
        chooser=chooser,
        trace=trace,
    )
    model, fallbacks, cascade = _start_at(choice, model, fallbacks, cascade)
    return RouteDecision(
        route=route,
        model=model,
        fallbacks=fallbacks,
        config=config,
        candidates=tuple(ranked[: policy.settings.candidates_shown]),
        margin=margin,
        ambiguous=ambiguous,
        rules=tuple(fired),
        trace=tuple(trace),
        estimated_tokens=features.estimated_tokens,
        index_fingerprint=policy.fingerprint,
        cascade=cascade,
        validators=target.validators,
        choice_policy=choice.policy.value,
        choice_probability=choice.probability,
        allowed_models=tuple(name for name in policy.models if constraint.admits(name)) if constraint.rules else (),
        constraint_rules=constraint.rules,
    )


def _choose_model(
    target: RouteTarget,
    model: ResolvedModel,
    fallbacks: tuple[ResolvedModel, ...],
    cascade: tuple[ResolvedModel, ...],
    *,
    pinned: bool,
    may_explore: bool,
    policy: Policy,
    chooser: ModelChooser | None,
    trace: list[str],
) -> Choice:
    """The model choice step (:mod:`semroute.learning.choice`): within the chain the decision already holds."""
    chain = cascade or (model, *fallbacks)
    settings = target.choice
    static = Choice(chain[0].name, ChoicePolicy.STATIC, 1.0)
    if pinned or chooser is None or (settings.policy is ChoicePolicy.STATIC and settings.exploration <= 0.0):
        return static
    estimates = chooser.estimates(target.name, chain) if settings.policy is ChoicePolicy.LEARNED else {}
    names = [candidate.name for candidate in chain]
    choice = choose(chain[0].name, names, estimates, settings, draw=chooser.draw, may_explore=may_explore)
    trace.extend(choice.explanation)
    if choice.model != chain[0].name:
        trace.append(f"model {choice.model} chosen to start ({choice.policy.value})")
    return choice


def _start_at(
    choice: Choice, model: ResolvedModel, fallbacks: tuple[ResolvedModel, ...], cascade: tuple[ResolvedModel, ...]
) -> tuple[ResolvedModel, tuple[ResolvedModel, ...], tuple[ResolvedModel, ...]]:
    """The chain started at the chosen model: a cascade from that step on (no doomed cheaper attempt); otherwise
    the chosen model first and the others as its fallbacks, in their order."""
    if cascade:
        names = [step.name for step in cascade]
        return model, fallbacks, cascade[names.index(choice.model) :]
    chain = (model, *fallbacks)
    chosen = next(candidate for candidate in chain if candidate.name == choice.model)
    return chosen, tuple(candidate for candidate in chain if candidate is not chosen), cascade


def _cascade(
    target: RouteTarget, tokens: int, policy: Policy, constraint: Constraint, trace: list[str]
) -> tuple[ResolvedModel, ...]:
    models = [policy.models[name] for name in constraint.keep(target.cascade, "the cascade", trace)]
    fitting = tuple(model for model in models if model.context_window >= tokens)
    if fitting:
        trace.append("cascade " + " -> ".join(model.name for model in fitting) + ", escalating on a failed validation")
    for model in models:
        if model not in fitting:
            trace.append(f"{model.name} left out of the cascade: context window {model.context_window:,} < {tokens:,}")
    return fitting


def _semantic_choice(
    ranked: Sequence[Candidate], policy: Policy, trace: list[str]
) -> tuple[str, frozenset[str], float, bool]:
    settings = policy.settings
    margin = ranked[0].score - ranked[1].score if len(ranked) > 1 else (max(0.0, ranked[0].score) if ranked else 0.0)
    qualifying = [c for c in ranked if c.score >= policy.routes[c.route].threshold]
    if not qualifying:
        best = f" (best: {ranked[0].route} {ranked[0].score:.3f}{_signals(ranked[0])})" if ranked else ""
        trace.append(f"no route reached its threshold{best}: default route {settings.default_route}")
        return settings.default_route, frozenset(), margin, False
    top = qualifying[0]
    close = [c for c in qualifying if top.score - c.score < settings.margin]
    if len(close) < 2:
        threshold = policy.routes[top.route].threshold
        trace.append(f"{top.route} scored {top.score:.3f}{_signals(top)} >= threshold {threshold:.3f}")
        return top.route, frozenset(), margin, False
    chosen = _tie_break(close, settings.tie_break, policy)
    names = ", ".join(f"{c.route} {c.score:.3f}{_signals(c)}" for c in close)
    trace.append(f"ambiguous within margin {settings.margin:.3f} ({names}): {settings.tie_break.value} chose {chosen}")
    return chosen, frozenset(c.route for c in close), margin, True


def _signals(candidate: Candidate) -> str:
    if not candidate.signals:
        return ""
    return " (" + ", ".join(f"{name} {value:.3f}" for name, value in candidate.signals.items()) + ")"


def _tie_break(close: Sequence[Candidate], policy_name: TieBreak, policy: Policy) -> str:
    def primary(candidate: Candidate) -> ResolvedModel:
        return policy.models[policy.routes[candidate.route].model]

    if policy_name is TieBreak.PREFER_CAPABLE:
        return max(close, key=lambda c: (TIER_RANK[primary(c).tier], c.score)).route
    if policy_name is TieBreak.PREFER_CHEAPER:
        return min(close, key=lambda c: (_price(primary(c)), -c.score)).route
    return close[0].route


def _price(model: ResolvedModel) -> float:
    return model.input_cost_per_mtok + model.output_cost_per_mtok


@dataclass(frozen=True)
class Constraint:
    """The models a decision may use, as the rules that fired with ``allow`` left them (each narrows it)."""

    allowed: frozenset[str] | None = None  # None: no rule restricted the decision
    rules: tuple[str, ...] = ()

    def admits(self, name: str) -> bool:
        """Whether the decision may use the model ``name``."""
        return self.allowed is None or name in self.allowed

    @property
    def why(self) -> str:
        """Which rules restrict the decision, in words."""
        several = len(self.rules) > 1
        return f"rule{'s' if several else ''} {', '.join(self.rules)} restrict{'' if several else 's'} the models"

    def narrowed(self, rule: OverrideRule, policy: Policy) -> Constraint:
        """This constraint with ``rule``'s ``allow`` applied (unchanged when it has none)."""
        allow = rule.then.allow
        if allow is None:
            return self
        admitted = frozenset(name for name, model in policy.models.items() if allow.admits(name, model.tier))
        allowed = admitted if self.allowed is None else self.allowed & admitted
        return Constraint(allowed, (*self.rules, rule.name))

    def keep(self, names: Sequence[str], what: str, trace: list[str]) -> list[str]:
        """The names it admits, in order; those it does not are named in the trace."""
        outside = [name for name in names if not self.admits(name)]
        if outside:
            trace.append(f"{', '.join(outside)} left out of {what}: not allowed ({self.why})")
        return [name for name in names if self.admits(name)]


@dataclass(frozen=True)
class _RuleState:
    route: str
    model: str | None
    config: ModelConfig
    constraint: Constraint = Constraint()


def _apply_rules(
    state: _RuleState,
    text: str,
    features: Features,
    metadata: Mapping[str, str],
    contenders: frozenset[str],
    ambiguous: bool,
    policy: Policy,
    trace: list[str],
) -> tuple[_RuleState, list[str]]:
    fired: list[str] = []
    for rule in policy.rules:
        if not _holds(rule, state.route, text, features, metadata, contenders, ambiguous):
            continue
        state = _act(rule, state, policy)
        fired.append(rule.name)
        trace.append(f"rule {rule.name} fired: route {state.route}" + (f", model {state.model}" if state.model else ""))
        if rule.then.allow is not None:
            allowed = [name for name in policy.models if state.constraint.admits(name)]
            trace.append(
                f"rule {rule.name} allows only {', '.join(allowed) or 'no model'} ({rule.then.allow.describe()})"
            )
        if rule.final:
            trace.append(f"rule {rule.name} is final: later rules skipped")
            break
    return state, fired


def _holds(
    rule: OverrideRule,
    route: str,
    text: str,
    features: Features,
    metadata: Mapping[str, str],
    contenders: frozenset[str],
    ambiguous: bool,
) -> bool:
    when = rule.when
    # the conditions on the decision first: they are free, and often spare the text scans
    return (
        (when.route_in is None or route in when.route_in)
        and (when.ambiguous_between is None or (ambiguous and set(when.ambiguous_between) <= contenders))
        and may_fire(rule, text, features, metadata)
    )


def may_fire(rule: OverrideRule, text: str, features: Features, metadata: Mapping[str, str]) -> bool:
    """Whether a rule's request conditions hold, those that do not depend on the scores.

    A rule for which this is False never fires on this request, whatever the scores, thresholds or margin; batch
    tools use it to know which requests can take the vectorised path.
    """
    when = rule.when
    # cheapest first: the text scans run only when everything else already holds
    return (
        all(test.holds(metadata.get(key)) for key, test in when.metadata.items())
        and (when.estimated_tokens is None or when.estimated_tokens.holds(features.estimated_tokens))
        and (when.has_code_block is None or when.has_code_block == features.has_code_block)
        and (when.file_paths is None or when.file_paths.holds(features.file_paths))
        and (when.text_matches is None or re.search(when.text_matches, text, re.IGNORECASE) is not None)
    )


def _act(rule: OverrideRule, state: _RuleState, policy: Policy) -> _RuleState:
    then = rule.then
    route, model, config = state.route, state.model, state.config
    if then.route is not None and then.route != route:
        route, model, config = then.route, None, policy.routes[then.route].config
    if then.model is not None:
        model = then.model
    if then.config is not None:
        config = config.patched(then.config.to_config())
    return _RuleState(route, model, config, state.constraint.narrowed(rule, policy))


def _fit_context(
    route: str, model_override: str | None, tokens: int, policy: Policy, constraint: Constraint, trace: list[str]
) -> tuple[ResolvedModel, tuple[ResolvedModel, ...], bool]:
    target = policy.routes[route]
    names = [model_override] if model_override else []
    names += [name for name in (target.model, *target.fallbacks) if name not in names]
    names = constraint.keep(names, f"route {route}'s chain", trace)
    if not names:  # `semroute check` refuses route sets where this can happen; a decision still never leaves the set
        names = [name for name in policy.models if constraint.admits(name)]
        if not names:
            raise ConstraintError(f"{constraint.why} and together allow no model of the catalog")
        trace.append(f"no model of route {route} is allowed: the allowed models {', '.join(names)}")
    chain = [policy.models[name] for name in names]
    fitting = [model for model in chain if model.context_window >= tokens]
    if not fitting:
        largest = max(chain, key=lambda model: model.context_window)
        trace.append(
            f"no model of route {route} holds {tokens:,} estimated tokens; using the largest window ({largest.name})"
        )
        return largest, (), True
    chosen = fitting[0]
    skipped = chain[: chain.index(chosen)]
    for model in skipped:
        trace.append(f"{model.name} skipped: context window {model.context_window:,} < {tokens:,} estimated tokens")
    trace.append(f"model {chosen.name} ({chosen.tier.value})")
    return chosen, tuple(fitting[1:]), bool(skipped)
