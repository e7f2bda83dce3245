"""Catalog resolution: litellm's bundled prices and context windows, catalog values first."""

from __future__ import annotations

import pytest

from semroute.catalog import resolve_catalog
from semroute.errors import ConfigError, RouteFileError
from semroute.schema import ModelSpec
from semroute.types import Tier


def test_litellm_fills_in_what_the_catalog_leaves_out() -> None:
    resolved = resolve_catalog({"opus": ModelSpec(litellm="anthropic/claude-opus-4-6", tier=Tier.FRONTIER)})
    opus = resolved["opus"]
    assert opus.input_cost_per_mtok == pytest.approx(5.0) and opus.output_cost_per_mtok == pytest.approx(25.0)
    assert opus.context_window >= 200_000


def test_catalog_values_win() -> None:
    spec = ModelSpec(litellm="anthropic/claude-opus-4-6", tier=Tier.FRONTIER, context_window=1000)
    assert resolve_catalog({"opus": spec})["opus"].context_window == 1000


def test_every_unknown_model_is_reported() -> None:
    models = {
        "one": ModelSpec(litellm="nowhere/model-one", tier=Tier.MID),
        "two": ModelSpec(litellm="nowhere/model-two", tier=Tier.MID, context_window=8000),
    }
    with pytest.raises(ConfigError) as caught:
        resolve_catalog(models)
    problems = caught.value.problems
    assert [problem.field for problem in problems] == ["models.one", "models.two"]
    assert all(isinstance(problem, RouteFileError) for problem in problems)
    assert "state input_cost_per_mtok, output_cost_per_mtok, context_window in the catalog" in str(caught.value)
