"""What a route set's ``allow`` rules let their decisions reach, read from the route files alone (no index needed).

`semroute check` and `semroute index` refuse a route set where a constraint could not hold as written: a rule that
puts a self-hosted model first without saying where else its tasks may go (the route's external fallbacks would
follow it), a rule whose own ``model`` it forbids, a route a restricting rule can lead to with no allowed model in
its chain, and restricting rules that can fire together with no model in common. They also list, per restricting
rule, the models its decisions can reach.

The reach of a rule is over-approximated: the routes it can lead to are its ``route`` action's, else those of its
``route_in`` condition, else every route; a rule that is not ``final`` adds the route of every later rule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from semroute.errors import RouteFileError
from semroute.schema import ModelSpec, OverrideRule, RouteSpec
from semroute.types import Tier


@dataclass(frozen=True)
class Reach:
    """Where the decisions of one restricting rule can go.

    Attributes:
        rule: The rule's name.
        allowed: The catalog models its ``allow`` admits, in catalog order.
        routes: The routes its decisions can end on.
        models: The allowed models those decisions can name (the routes' chains and the rules' ``model`` actions).
    """

    rule: str
    allowed: tuple[str, ...]
    routes: tuple[str, ...]
    models: tuple[str, ...]


def allowed_by(rule: OverrideRule, models: Mapping[str, ModelSpec]) -> tuple[str, ...]:
    """The catalog models a rule's ``allow`` admits, in catalog order (every model when it has none)."""
    allow = rule.then.allow
    return tuple(name for name, spec in models.items() if allow is None or allow.admits(name, spec.tier))


def reach(
    position: int, rules: Sequence[OverrideRule], routes: Sequence[RouteSpec], models: Mapping[str, ModelSpec]
) -> Reach:
    """Where the decisions of ``rules[position]`` can go (see the module's docstring)."""
    rule = rules[position]
    names = [route.name for route in routes]
    if rule.then.route is not None:
        reached = [rule.then.route]
    elif rule.when.route_in is not None:
        reached = list(rule.when.route_in)
    else:
        reached = list(names)
    later = [] if rule.final else list(rules[position + 1 :])
    reached += [other.then.route for other in later if other.then.route is not None]
    allowed = allowed_by(rule, models)
    chains = {route.name: {route.model, *route.fallbacks, *route.cascade} for route in routes}
    named = {other.then.model for other in (rule, *later) if other.then.model is not None}
    reached_routes = tuple(name for name in dict.fromkeys(reached) if name in chains)
    candidates = set().union(named, *(chains[name] for name in reached_routes))
    return Reach(rule.name, allowed, reached_routes, tuple(name for name in allowed if name in candidates))


def constraint_problems(
    rules: Sequence[OverrideRule], routes: Sequence[RouteSpec], models: Mapping[str, ModelSpec], router_path: Path
) -> list[RouteFileError]:
    """Every way the rules' constraints could fail to hold as written, each naming the rule, field and fix."""
    problems: list[RouteFileError] = []
    by_name = {route.name: route for route in routes}
    for position, rule in enumerate(rules):
        at = f"rules[{position}]"
        then = rule.then
        if then.allow is None:
            problems += _unrestricted_self_hosted(rule, at, by_name, models, router_path)
            continue
        unknown = [name for name in then.allow.models if name not in models]
        if unknown:
            problems.append(
                RouteFileError(router_path, f"unknown model {', '.join(map(repr, unknown))}", field=f"{at}.then.allow")
            )
            continue
        allowed = allowed_by(rule, models)
        if not allowed:
            problems.append(RouteFileError(router_path, "allows no model of the catalog", field=f"{at}.then.allow"))
            continue
        if then.model is not None and then.model not in allowed:
            problems.append(
                RouteFileError(
                    router_path,
                    f"rule {rule.name!r} names model {then.model!r}, which its own allow ({then.allow.describe()}) "
                    "forbids: name an allowed model or allow this one",
                    field=f"{at}.then.model",
                )
            )
        found = reach(position, rules, routes, models)
        for route_name in found.routes:
            route = by_name[route_name]
            chain = [route.model, *route.fallbacks, *route.cascade]
            if then.model is None and not any(name in allowed for name in chain):
                problems.append(
                    RouteFileError(
                        router_path,
                        f"rule {rule.name!r} allows only {', '.join(allowed)}, but route {route_name!r}, which its "
                        f"decisions can reach, has none of them ({', '.join(chain)}): add an allowed model to "
                        f"{route_name}'s fallbacks, or give the rule a `route` or `model` action",
                        field=f"{at}.then.allow",
                    )
                )
        problems += _disjoint_with_later(position, rule, rules, models, router_path)
    return problems


def _unrestricted_self_hosted(
    rule: OverrideRule, at: str, routes: Mapping[str, RouteSpec], models: Mapping[str, ModelSpec], router_path: Path
) -> list[RouteFileError]:
    """A rule that puts a self-hosted model first without ``allow``: the rule a user writes for data sovereignty,
    which would leave the route's other models after the self-hosted one."""
    model = rule.then.model
    if model is None or model not in models or models[model].tier is not Tier.SELF_HOSTED:
        return []
    target = routes.get(rule.then.route) if rule.then.route is not None else None
    chain = [target.model, *target.fallbacks] if target is not None else []
    outside = [name for name in chain if name in models and models[name].tier is not Tier.SELF_HOSTED]
    if target is not None and not outside:
        return []  # the route it switches to has only self-hosted models
    after = f" (route {target.name}'s {', '.join(outside)})" if target is not None and outside else ""
    return [
        RouteFileError(
            router_path,
            f"rule {rule.name!r} puts the self-hosted model {model!r} first, but a `model` action only reorders the "
            f"chain: if it fails, the route's other models{after} are called with the same text. Say where these "
            "tasks may go: add `allow: {tiers: [self_hosted]}` to keep them on self-hosted models (or `allow: "
            "{models: [...]}` listing every model they may reach)",
            field=f"{at}.then",
        )
    ]


def _disjoint_with_later(
    position: int, rule: OverrideRule, rules: Sequence[OverrideRule], models: Mapping[str, ModelSpec], path: Path
) -> list[RouteFileError]:
    """Restricting rules that can fire on the same task (the earlier one not final) and allow no model in common."""
    if rule.final:
        return []
    mine = set(allowed_by(rule, models))
    problems = []
    for later_position, later in enumerate(rules[position + 1 :], start=position + 1):
        if later.then.allow is None or mine & set(allowed_by(later, models)):
            continue
        problems.append(
            RouteFileError(
                path,
                f"rules {rule.name!r} and {later.name!r} can both fire on one task and allow no model in common: "
                f"make {rule.name!r} final, or allow a model in both",
                field=f"rules[{later_position}].then.allow",
            )
        )
    return problems
