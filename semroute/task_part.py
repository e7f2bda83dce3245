"""Which part of a task's text is embedded for routing.

Benchmark prompts and long instructions often carry a preamble (few-shot examples, a system-like header) and put the
task itself last; the embedded prefix of such a text says nothing about the task. Real tasks also carry content (a
pasted report, a diff, a log) that the route utterances, bare instructions, do not: embedded whole, the content
outweighs the instruction. A route set says which part to embed (``settings.embedding.part``):

* ``whole``: the text as it is (its first ``max_tokens`` tokens);
* ``last_paragraph``: the text after the last blank line;
* ``best_part``: several parts, each embedded and scored, a route keeping its best part's score
  (:func:`parts_to_embed`): the instruction part, a short last paragraph and the whole text.

Every mode has one part whose vector stands for the task (:func:`part_to_embed`): the outcome store keeps it and the
learned model choice compares it with what was learned, so the router and ``semroute outcomes import`` use the same
function and what is learned and what is served see the same part. Override rules and structural features always
read the whole text. For chat messages the client already routes on the last user message.
"""

from __future__ import annotations

import re
from enum import StrEnum

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
# Where an instruction ends on its line: a colon, or a sentence end, followed by more text. A colon not followed by
# whitespace ("https://", "12:30") and one that ends the line ("def f(x):") cut nothing.
_INSTRUCTION_END = re.compile(r"(?::|(?<=[.?!]))\s+(?=\S)")
# An end this close to the start leaves no instruction ("Note: ...", "Hi. ...", "Task: ..."): the next one is tried.
MIN_INSTRUCTION_CHARS = 12
_FENCED_CODE = re.compile(r"^[ \t]*```.*?^[ \t]*```[^\n]*$", re.DOTALL | re.MULTILINE)
# A last paragraph longer than this is content (the end of a pasted text), not an instruction written after it.
MAX_LAST_PARAGRAPH_WORDS = 40


class EmbedPart(StrEnum):
    """The part of a task's text that is embedded."""

    WHOLE = "whole"  # the whole text (its first ``max_tokens`` tokens)
    LAST_PARAGRAPH = "last_paragraph"  # the last paragraph: the text after the last blank line
    # the instruction part, a short last paragraph and the whole text, each scored; a route keeps its best part's
    BEST_PART = "best_part"


def part_to_embed(text: str, part: EmbedPart) -> str:
    """The part of ``text`` whose vector stands for the task: the outcome store keeps it and the learned model choice
    reads it. The whole text for ``best_part``: a model's success depends on the content as much as on the
    instruction. The whole text too when the part would be empty."""
    if part is EmbedPart.LAST_PARAGRAPH:
        paragraphs = _paragraphs(text)
        if paragraphs:
            return paragraphs[-1]
    return text


def parts_to_embed(text: str, part: EmbedPart) -> tuple[str, ...]:
    """Every part of ``text`` that is embedded and scored, distinct, :func:`part_to_embed`'s last.

    One part unless ``part`` is ``best_part``. Then the instruction part (:func:`instruction_part`), the last
    paragraph when it is short (:func:`short_last_paragraph`: an instruction written after pasted content) and the
    whole text, leaving out a part that is the whole text again: a bare instruction costs one embedding, as with
    ``whole``.
    """
    if part is not EmbedPart.BEST_PART:
        return (part_to_embed(text, part),)
    whole = text.strip()
    extra = (candidate for candidate in (instruction_part(text), short_last_paragraph(text)) if candidate)
    return (*dict.fromkeys(candidate for candidate in extra if candidate != whole), text)


def instruction_part(text: str) -> str:
    """The first line of prose, cut before its first colon-and-content or after its first sentence, whichever
    comes first at least :data:`MIN_INSTRUCTION_CHARS` in; the whole line when there is no such end. Tasks state
    the instruction first and the content after ("Summarize this report: ..."), as route utterances are written.

    A line is prose when it lies outside fenced code and has at least :data:`MIN_INSTRUCTION_CHARS` characters: a
    greeting ("Hello!") or a fence line ("```python") said nothing about the task, yet as a part of its own it could
    outscore the whole text on some route (both did, on the bundled routes)."""
    prose = _FENCED_CODE.sub("\n", text)
    first = next(
        (
            line.strip()
            for line in prose.splitlines()
            if len(line.strip()) >= MIN_INSTRUCTION_CHARS and not line.lstrip().startswith("```")
        ),
        "",
    )
    for end in _INSTRUCTION_END.finditer(first):
        if end.start() >= MIN_INSTRUCTION_CHARS:
            return first[: end.start()].strip()
    return first


def short_last_paragraph(text: str) -> str:
    """The last paragraph when there are several and it has at most :data:`MAX_LAST_PARAGRAPH_WORDS` words (content
    pasted first, the instruction after); empty otherwise."""
    paragraphs = _paragraphs(text)
    if len(paragraphs) < 2 or len(paragraphs[-1].split()) > MAX_LAST_PARAGRAPH_WORDS:
        return ""
    return paragraphs[-1]


def _paragraphs(text: str) -> list[str]:
    """The non-blank paragraphs of ``text`` (split at blank lines), stripped."""
    return [paragraph.strip() for paragraph in _PARAGRAPH_BREAK.split(text) if paragraph.strip()]
