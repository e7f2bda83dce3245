"""OpenAI-format chat messages -> the :class:`~semroute.types.ChatMessage` turns a routing request carries.

A turn's text is everything of it that a provider receives as text: the ``content`` string, or the text parts of a
multi-part content, and for an assistant turn that calls tools each call's function name and arguments. Images are
noted, not carried. Standard library only: the lean client uses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from semroute.types import ChatMessage

Message = Mapping[str, Any]  # an OpenAI-format chat message: {"role": ..., "content": ...}
_IMAGE_PARTS = ("image_url", "input_image", "image")


def chat_turns(messages: Sequence[Message]) -> tuple[ChatMessage, ...]:
    """Every message as a turn, in order.

    Raises:
        TypeError: a message that is not a mapping, or whose role is not a string (named by position).
    """
    turns = []
    for position, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(f"messages[{position}]: must be a mapping like {{'role': 'user', 'content': ...}}")
        role = message.get("role")
        if not isinstance(role, str):
            raise TypeError(f"messages[{position}].role: must be a string, not {type(role).__name__}")
        calls = message.get("tool_calls") or ()
        parts = [content_text(message.get("content")), *(_call_text(call) for call in calls)]
        turns.append(
            ChatMessage(
                role=role,
                text="\n".join(part for part in parts if part),
                tool_calls=bool(calls) or message.get("function_call") is not None,
                tool_result=role in ("tool", "function"),
                images=_has_images(message.get("content")),
            )
        )
    return tuple(turns)


def content_text(content: Any) -> str:
    """The text of a message's ``content``: the string itself, or its text parts joined by newlines."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "\n".join(
            str(part.get("text", "")) for part in content if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return str(content)


def _call_text(call: Any) -> str:
    function = call.get("function", {}) if isinstance(call, Mapping) else getattr(call, "function", None)
    if isinstance(function, Mapping):
        name, arguments = function.get("name", ""), function.get("arguments", "")
    else:
        name, arguments = getattr(function, "name", ""), getattr(function, "arguments", "")
    return f"{name or ''} {arguments or ''}".strip()


def _has_images(content: Any) -> bool:
    if isinstance(content, str) or not isinstance(content, Sequence):
        return False
    return any(isinstance(part, Mapping) and part.get("type") in _IMAGE_PARTS for part in content)
