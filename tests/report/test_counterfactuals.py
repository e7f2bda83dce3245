"""Choosing the counterfactual models and pricing a completion on them, with hand-made catalogs."""

from __future__ import annotations

from semroute.report import most_capable_model, top_frontier_model
from semroute.report._counterfactuals import reference_attempt
from semroute.report._figures import money
from semroute.types import Attempt, AttemptOutcome, ResolvedModel, Tier


def model(name: str, tier: Tier, input_price: float, output_price: float) -> ResolvedModel:
    """A catalog model with the given prices (USD per million tokens)."""
    return ResolvedModel(name, f"openai/{name}", tier, input_price, output_price, 100_000)


CATALOG = {
    m.name: m
    for m in (
        model("light", Tier.LIGHT, 0.1, 0.4),
        model("mid-cheap", Tier.MID, 0.3, 0.4),
        model("mid-dear", Tier.MID, 3.0, 15.0),
        model("frontier-a", Tier.FRONTIER, 2.0, 12.0),
        model("frontier-b", Tier.FRONTIER, 5.0, 25.0),
        model("local-1", Tier.SELF_HOSTED, 0.0, 0.0),
        model("local-2", Tier.SELF_HOSTED, 0.0, 0.0),
    )
}


def test_tier_first_then_price_then_chain_order() -> None:
    assert most_capable_model(["light", "mid-cheap", "mid-dear"], CATALOG) == CATALOG["mid-dear"]
    assert most_capable_model(["mid-dear", "frontier-a"], CATALOG) == CATALOG["frontier-a"]
    assert most_capable_model(["local-2", "local-1"], CATALOG) == CATALOG["local-2"]
    assert most_capable_model(["not-in-the-catalog"], CATALOG) is None


def test_top_frontier_is_the_dearest_frontier_model() -> None:
    assert top_frontier_model(CATALOG) == CATALOG["frontier-b"]
    assert top_frontier_model({"light": CATALOG["light"]}) is None


def test_reference_attempt_is_the_accepted_else_the_last_output() -> None:
    error = Attempt("a", AttemptOutcome.PROVIDER_ERROR, 1.0)
    first, second = (Attempt("a", AttemptOutcome.INVALID, 1.0, n, n) for n in (10, 20))
    accepted = Attempt("b", AttemptOutcome.ACCEPTED, 1.0, 30, 30)
    assert reference_attempt([first, error, accepted]) is accepted
    assert reference_attempt([first, second, error]) is second
    assert reference_attempt([error]) is None


def test_money_puts_the_sign_first() -> None:
    assert (money(-0.5), money(1234.5), money(0.0), money(None)) == ("-$0.5000", "$1,234.50", "$0.0000", "-")
