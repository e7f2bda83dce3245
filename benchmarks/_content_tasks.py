"""Content-bearing tasks built from bare instructions: each held-out instruction gets, per length, one content text
of the bank (:mod:`benchmarks._content_bank`, drawn with a seed among the kinds that suit it: a code task carries
code), attached in four styles:

- ``colon``: ``"<instruction>: <content>"`` (a question keeps its "?" and gets a space instead);
- ``newline``: ``"<instruction>\\n<content>"``;
- ``blank``: ``"<instruction>\\n\\n<content>"``;
- ``before``: ``"<content>\\n\\n<instruction>"`` (a pasted block, then the instruction);

plus the bare instruction (style ``bare``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks._content_bank import CODE_KINDS, KINDS, ROUTE_KEYWORDS, ROUTE_KINDS

STYLES = ("colon", "newline", "blank", "before")
LENGTHS = ("short", "long")


@dataclass(frozen=True)
class ContentTask:
    """One task of the evaluation: its text, expected route, how its content was attached and what content."""

    text: str
    label: str
    style: str  # "bare" or one of STYLES
    length: str  # "-" for bare, else one of LENGTHS
    kind: str  # the bank's kind of content, "-" for bare


def kinds_for(instruction: str, label: str) -> list[str]:
    """The content kinds that suit an instruction: the first whose keywords it mentions, else its route's kinds."""
    low = instruction.lower()
    for words, kind in ROUTE_KEYWORDS.get(label, []):
        if any(re.search(rf"(?<![\w-]){re.escape(word)}(?:s|es)?(?![\w-])", low) for word in words):
            return [kind]
    return ROUTE_KINDS[label]


def render(kind: str, text: str) -> str:
    """Content as pasted: code fenced with its language."""
    return f"```{CODE_KINDS[kind]}\n{text}\n```" if kind in CODE_KINDS else text


def attach(instruction: str, content: str, style: str) -> str:
    """The task of ``instruction`` carrying ``content`` in ``style``."""
    instruction = instruction.strip()
    if style == "colon":
        return f"{instruction} {content}" if instruction.endswith("?") else f"{instruction.rstrip('.')}: {content}"
    if style == "newline":
        return f"{instruction}\n{content}"
    if style == "blank":
        return f"{instruction}\n\n{content}"
    if style == "before":
        return f"{content}\n\n{instruction}"
    raise ValueError(f"unknown style {style!r}")


def content_tasks(labelled: Sequence[tuple[str, str]], seed: int = 7) -> list[ContentTask]:
    """Every (instruction, label) bare and, per length, with one seeded content text in each style."""
    draw = random.Random(seed)
    built = []
    for instruction, label in labelled:
        built.append(ContentTask(instruction, label, "bare", "-", "-"))
        options = kinds_for(instruction, label)
        for length in LENGTHS:
            kind = draw.choice(options)
            content = render(kind, draw.choice(KINDS[kind][length]))
            built += [ContentTask(attach(instruction, content, style), label, style, length, kind) for style in STYLES]
    return built
