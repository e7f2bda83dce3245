"""The two models the report compares the recorded cost with, and what a completion would have cost on them.

- *most capable*: per route, the model of the highest tier in the route's chain (model, fallbacks and cascade, as
  the index states the route), the higher list price breaking a tie, then the order of the chain;
- *top frontier*: the most expensive frontier model of the catalog.

A list price is input plus output price per million tokens. A completion on a counterfactual model is priced as one
call with the tokens of the completion's reference attempt (:func:`reference_attempt`): what a single call that
answered the same task would have used. Provider errors and escalations are not replayed: the counterfactual is the
always-that-model price of the work, not a simulation of its outages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from semroute.decision import RouteTarget
from semroute.types import TIER_RANK, Attempt, AttemptOutcome, ResolvedModel, Tier

MTOK = 1_000_000


@dataclass(frozen=True)
class Counterfactuals:
    """The counterfactual model of each route, and the catalog's top frontier model (None: the catalog has none)."""

    most_capable: Mapping[str, ResolvedModel]
    top_frontier: ResolvedModel | None
    catalog: Mapping[str, ResolvedModel]

    def most_capable_for(self, route: str, chain: Sequence[str]) -> ResolvedModel | None:
        """The route's most capable model; for a route the index does not know, the best of the decision's chain."""
        known = self.most_capable.get(route)
        return known if known is not None else most_capable_model(chain, self.catalog)


def list_price(model: ResolvedModel) -> float:
    """Input plus output price, USD per million tokens."""
    return model.input_cost_per_mtok + model.output_cost_per_mtok


def most_capable_model(chain: Sequence[str], catalog: Mapping[str, ResolvedModel]) -> ResolvedModel | None:
    """The highest-tier model of ``chain`` (list price, then chain order, break ties); None if none is priced."""
    priced = [catalog[name] for name in dict.fromkeys(chain) if name in catalog]
    if not priced:
        return None
    return max(priced, key=lambda model: (TIER_RANK[model.tier], list_price(model)))  # max keeps the first of equals


def top_frontier_model(catalog: Mapping[str, ResolvedModel]) -> ResolvedModel | None:
    """The frontier model with the highest list price (name order breaks a tie); None without frontier models."""
    frontier = sorted((m for m in catalog.values() if m.tier is Tier.FRONTIER), key=lambda model: model.name)
    return max(frontier, key=list_price) if frontier else None


def counterfactuals(routes: Sequence[RouteTarget], catalog: Mapping[str, ResolvedModel]) -> Counterfactuals:
    """The counterfactual models of an index's routes and catalog."""
    chosen = {
        route.name: most_capable_model((route.model, *route.fallbacks, *route.cascade), catalog) for route in routes
    }
    return Counterfactuals(
        most_capable={name: model for name, model in chosen.items() if model is not None},
        top_frontier=top_frontier_model(catalog),
        catalog=catalog,
    )


def reference_attempt(attempts: Sequence[Attempt]) -> Attempt | None:
    """The attempt whose tokens stand for the task: the accepted one, else the last that produced an output (failed a
    validator); None when every attempt was a provider error."""
    answered = [a for a in attempts if a.outcome in (AttemptOutcome.ACCEPTED, AttemptOutcome.INVALID)]
    accepted = [a for a in answered if a.outcome is AttemptOutcome.ACCEPTED]
    chosen = accepted or answered
    return chosen[-1] if chosen else None


def call_cost(model: ResolvedModel, attempt: Attempt) -> float:
    """USD of one call of ``model`` with the attempt's input and output tokens."""
    return (
        attempt.input_tokens * model.input_cost_per_mtok + attempt.output_tokens * model.output_cost_per_mtok
    ) / MTOK
