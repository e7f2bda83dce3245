"""Resolve the model catalog: prices and context windows from litellm's bundled cost map, catalog values first.

This runs at index time only; the resolved catalog is stored in the index artifact so that serving never imports
litellm (its import alone takes seconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from semroute.environment import litellm_offline
from semroute.errors import ConfigError, RouteFileError
from semroute.schema import ModelSpec
from semroute.types import ResolvedModel

_PER_MILLION = 1_000_000


def resolve_catalog(models: Mapping[str, ModelSpec], source: str = "router.yaml") -> dict[str, ResolvedModel]:
    """Fill in each model's prices and context window, preferring what the catalog states.

    Raises:
        ConfigError: naming every model litellm does not know whose catalog entry lacks a price or context window.
    """
    resolved: dict[str, ResolvedModel] = {}
    problems: list[RouteFileError] = []
    for name, spec in models.items():
        try:
            resolved[name] = _resolve(name, spec, source)
        except RouteFileError as problem:
            problems.append(problem)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise ConfigError(f"{len(problems)} models lack prices or context windows:\n{listing}", problems)
    return resolved


def _resolve(name: str, spec: ModelSpec, source: str) -> ResolvedModel:
    stated = (spec.input_cost_per_mtok, spec.output_cost_per_mtok, spec.context_window)
    info: Mapping[str, Any] = {} if None not in stated else _litellm_info(spec.litellm)
    input_cost = _pick(spec.input_cost_per_mtok, info.get("input_cost_per_token"), _PER_MILLION)
    output_cost = _pick(spec.output_cost_per_mtok, info.get("output_cost_per_token"), _PER_MILLION)
    window = _pick(spec.context_window, info.get("max_input_tokens") or info.get("max_tokens"), 1)
    missing = [
        key
        for key, value in (
            ("input_cost_per_mtok", input_cost),
            ("output_cost_per_mtok", output_cost),
            ("context_window", window),
        )
        if value is None
    ]
    if missing:
        raise RouteFileError(
            source,
            f"litellm's cost map does not know '{spec.litellm}'; state {', '.join(missing)} in the catalog",
            field=f"models.{name}",
        )
    assert input_cost is not None and output_cost is not None and window is not None
    return ResolvedModel(name, spec.litellm, spec.tier, input_cost, output_cost, int(window))


def _pick(stated: float | None, looked_up: Any, scale: int) -> float | None:
    if stated is not None:
        return stated
    return float(looked_up) * scale if isinstance(looked_up, int | float) else None


def _litellm_info(model: str) -> Mapping[str, Any]:
    litellm_offline()
    import litellm  # imported lazily: index time only

    try:
        return dict(litellm.get_model_info(model))
    except Exception:  # litellm raises a bare Exception for unmapped models
        return {}
