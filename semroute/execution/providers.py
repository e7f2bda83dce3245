"""Where each model is called: litellm's model name, API base and key, per catalog model.

Without settings a model is called by its catalog ``litellm`` name, and litellm finds the provider's key where it
always does (``ANTHROPIC_API_KEY``, ``OPENAI_API_KEY``...). ``providers`` maps a catalog name, a litellm name, a
litellm prefix (``anthropic``) or ``*`` to a :class:`Provider`; the most specific key wins, in that order. The same
route files serve production and tests by these settings alone, e.g. every model on a local OpenAI-compatible
server::

    providers = {"*": Provider(model="openai/{name}", api_base="http://127.0.0.1:8000/v1", api_key="test")}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from semroute.environment import environment_value
from semroute.types import ResolvedModel

ANY_MODEL = "*"


@dataclass(frozen=True)
class Provider:
    """How to call the models it is given for.

    Attributes:
        model: litellm model name to send instead of the catalog's; ``{name}`` (catalog name) and ``{litellm}``
            (catalog litellm name) are filled in, so ``openai/{name}`` sends OpenAI-format HTTP for any model.
        api_base: Base URL of the provider's API (a self-hosted server, a proxy, a test server).
        api_key: The key itself.
        api_key_env: The environment variable that holds the key (read when a completion starts).
    """

    model: str | None = None
    api_base: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None

    def __post_init__(self) -> None:
        if self.api_key is not None and self.api_key_env is not None:
            raise ValueError("Provider: give api_key or api_key_env, not both")

    def litellm_arguments(self, model: ResolvedModel) -> dict[str, Any]:
        """The keyword arguments of ``litellm.completion`` that say where ``model`` is called.

        Raises:
            ValueError: ``api_key_env`` names a variable that is not set.
        """
        arguments: dict[str, Any] = {
            "model": (self.model or "{litellm}").format(name=model.name, litellm=model.litellm)
        }
        if self.api_base is not None:
            arguments["api_base"] = self.api_base
        key = self.api_key
        if self.api_key_env is not None:
            key = environment_value(self.api_key_env)
            if key is None:
                raise ValueError(f"model {model.name!r}: the environment variable {self.api_key_env} is not set")
        if key is not None:
            arguments["api_key"] = key
        return arguments


Providers = Mapping[str, "Provider | Mapping[str, str]"]


def provider_for(model: ResolvedModel, providers: Providers | None) -> Provider:
    """The settings for ``model``: those under its catalog name, its litellm name, its litellm prefix, or ``*``."""
    providers = providers or {}
    prefix = model.litellm.split("/", 1)[0]
    for key in (model.name, model.litellm, prefix, ANY_MODEL):
        if key in providers:
            found = providers[key]
            return found if isinstance(found, Provider) else Provider(**found)
    return Provider()
