"""Which part of a task's text is embedded for routing.

Benchmark prompts and long instructions often carry a preamble (few-shot examples, a system-like header) and put the
task itself last; the embedded prefix of such a text says nothing about the task. A route set says which part to
embed (``settings.embedding.part``); the router and ``semroute outcomes import`` use the same function, so that
what is learned and what is served see the same part. Override rules and structural features always read the whole
text. For chat messages the client already routes on the last user message.
"""

from __future__ import annotations

import re
from enum import StrEnum

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


class EmbedPart(StrEnum):
    """The part of a task's text that is embedded."""

    WHOLE = "whole"  # the whole text (its first ``max_tokens`` tokens)
    LAST_PARAGRAPH = "last_paragraph"  # the last paragraph: the text after the last blank line


def part_to_embed(text: str, part: EmbedPart) -> str:
    """The part of ``text`` that is embedded; the whole text when the part would be empty."""
    if part is EmbedPart.LAST_PARAGRAPH:
        paragraphs = [paragraph for paragraph in _PARAGRAPH_BREAK.split(text) if paragraph.strip()]
        if paragraphs:
            return paragraphs[-1].strip()
    return text
