"""litellm, imported only when a completion is made (it takes seconds to import), quiet and offline."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from semroute.environment import litellm_offline
from semroute.extras import require_extra

# Fixed arguments of every call: the attempt loop owns retries and fallbacks, so litellm's own retries (and the
# openai client's, under it) are off; a route's config is generic across models, so a setting one model does not
# take (temperature on a reasoning model) is dropped instead of failing the call.
FIXED_ARGUMENTS: dict[str, Any] = {"num_retries": 0, "max_retries": 0, "drop_params": True}


def import_litellm(needed_by: str = "`complete()`") -> Any:
    """The litellm module, configured.

    Raises:
        MissingExtraError: the ``llm`` extra is not installed.
    """
    require_extra("llm", needed_by)
    litellm_offline()
    with warnings.catch_warnings():
        # litellm's import warns about its own pydantic models (ReadOnly TypedDict items): nothing a caller can act on,
        # and an error wherever warnings are errors
        warnings.filterwarnings("ignore", message=".*ReadOnly.*", category=UserWarning)
        import litellm

    litellm.suppress_debug_info = True
    return litellm


@dataclass(frozen=True)
class ModelOutput:
    """What a model answered, read from litellm's response."""

    text: str
    tool_calls: tuple[dict[str, Any], ...]
    input_tokens: int
    output_tokens: int

    @property
    def judged(self) -> str:
        """What validators see: the JSON arguments of the first tool call if the answer calls tools, else the
        text."""
        if self.tool_calls:
            return str(self.tool_calls[0].get("function", {}).get("arguments") or "")
        return self.text


def read_output(response: Any) -> ModelOutput:
    """The text, tool calls and usage of a litellm ``ModelResponse`` (an OpenAI-format chat completion)."""
    message = response.choices[0].message
    usage = getattr(response, "usage", None)
    return ModelOutput(
        text=message.content or "",
        tool_calls=tuple(_as_dict(call) for call in getattr(message, "tool_calls", None) or ()),
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


def _as_dict(tool_call: Any) -> dict[str, Any]:
    if isinstance(tool_call, dict):
        return tool_call
    dumped: dict[str, Any] = tool_call.model_dump()
    return dumped
