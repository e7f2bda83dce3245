"""What a constrained decision lets ``complete()`` do: call only the models a rule allowed, each only where the
caller said that model lives.

A decision that an override rule's ``allow`` restricted (``decision.allowed_models``, e.g. sovereign data kept on
self-hosted models) is executed only within that set, whatever the call passes. Before any call, the execution
refuses what could send the task elsewhere: a model of the decision outside the set, a ``providers`` entry under
``*`` (written for every model, it would move an allowed model to another endpoint), and litellm options that choose
another model or endpoint (litellm's own ``fallbacks``, ``api_base``...). An entry under the model's catalog name,
its litellm name or its litellm prefix (``hosted_vllm``) is the caller saying where that model lives, and is used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from semroute.execution.providers import ANY_MODEL, Providers
from semroute.types import ResolvedModel, RouteDecision

# litellm keyword arguments that pick another model, deployment or endpoint than the one semroute calls.
REDIRECTING_OPTIONS = (
    "api_base",
    "base_url",
    "client",
    "context_window_fallback_dict",
    "custom_llm_provider",
    "deployment_id",
    "fallbacks",
    "model",
    "model_list",
    "region_name",
    "aws_region_name",
    "vertex_location",
    "vertex_project",
)


def constraint_words(decision: RouteDecision) -> str:
    """The decision's constraint in words, e.g. ``rule data_sovereignty allows only qwen, llama``."""
    several = len(decision.constraint_rules) > 1
    rules = f"rule{'s' if several else ''} {', '.join(decision.constraint_rules)}"
    return f"{rules} allow{'' if several else 's'} only {', '.join(decision.allowed_models)}"


def constraint_violation(
    decision: RouteDecision, chain: Iterable[ResolvedModel], providers: Providers | None, options: Mapping[str, Any]
) -> str | None:
    """Why executing ``decision`` with these settings could send its task outside the models it allows; None when it
    cannot (or the decision is not constrained)."""
    if not decision.constrained:
        return None
    outside = [model.name for model in chain if model.name not in decision.allowed_models]
    if outside:
        return f"the decision names {', '.join(outside)}, outside the models allowed"
    if providers and ANY_MODEL in providers:
        return (
            f"providers[{ANY_MODEL!r}] would decide where the allowed models are called; name each one where it "
            "lives instead (providers={'<catalog name>': Provider(api_base=...)})"
        )
    redirecting = sorted(key for key in options if key in REDIRECTING_OPTIONS)
    if redirecting:
        return f"litellm_options {', '.join(redirecting)} could call another model or endpoint"
    return None
