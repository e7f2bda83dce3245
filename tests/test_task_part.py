"""Splitting a task into the parts embedded for routing (``settings.embedding.part``), without a model."""

from __future__ import annotations

import pytest

from semroute.task_part import (
    MAX_LAST_PARAGRAPH_WORDS,
    EmbedPart,
    instruction_part,
    part_to_embed,
    parts_to_embed,
    short_last_paragraph,
)


@pytest.mark.parametrize(
    ("text", "instruction"),
    [
        # no colon and one sentence: the whole first line
        ("Summarize the quarterly report for the board", "Summarize the quarterly report for the board"),
        # the first colon followed by content ends the instruction
        ("Summarize this transcript: Weekly ops sync. Vendor renews.", "Summarize this transcript"),
        # a sentence end ends it too, whichever comes first
        ("Fix the failing test. It fails with: KeyError", "Fix the failing test."),
        # a colon in the first 12 characters is junk ("Note:", "Task:"): the next end is taken
        ("Note: please summarize the report: revenue rose 4 %", "Note: please summarize the report"),
        # ... and when there is none, the whole line
        ("Note: please summarize the report", "Note: please summarize the report"),
        ("Hi. Can you translate this paragraph?", "Hi. Can you translate this paragraph?"),
        # a colon that ends the line or is not followed by whitespace cuts nothing
        ("def paginate(items, size):\n    return items[:size]", "def paginate(items, size):"),
        ("Open https://example.com/a:b and explain", "Open https://example.com/a:b and explain"),
        # the first non-empty line, stripped
        ("\n\n   Classify these tickets:  urgent, billing\nmore", "Classify these tickets"),
        ("   \n ", ""),
        # a short first line (a greeting) and fenced code are no instruction: the first line of prose is
        ("Hello!\nPlease summarize the meeting notes: Alice, Bob", "Please summarize the meeting notes"),
        (
            "```python\ndef f():\n    return 1\n```\n\nTranslate the docstring into French.",
            "Translate the docstring into French.",
        ),
        ("```\nunclosed fence line\nExplain what this does", "unclosed fence line"),
    ],
)
def test_instruction_part(text: str, instruction: str) -> None:
    assert instruction_part(text) == instruction


def test_short_last_paragraph_needs_several_paragraphs_and_few_words() -> None:
    assert short_last_paragraph("one paragraph only") == ""
    assert short_last_paragraph("content\n\n  What does it say?  ") == "What does it say?"
    long = " ".join(["word"] * (MAX_LAST_PARAGRAPH_WORDS + 1))
    assert short_last_paragraph(f"content\n\n{long}") == ""
    # a blank (whitespace-only) last paragraph is no paragraph: the one before it is the last
    assert short_last_paragraph("content\n\nWhat does it say?\n\n  \t\n") == "What does it say?"


def test_best_part_parts_are_distinct_with_the_whole_text_last() -> None:
    text = "Summarize this transcript: Weekly ops sync.\n\nThe vendor renews.\n\nKeep it to three bullets."
    assert parts_to_embed(text, EmbedPart.BEST_PART) == ("Summarize this transcript", "Keep it to three bullets.", text)
    code = "def paginate(items, size):\n    return items[:size]\n\nWhat does this do?"
    assert parts_to_embed(code, EmbedPart.BEST_PART) == ("def paginate(items, size):", "What does this do?", code)


@pytest.mark.parametrize(
    "text",
    [
        "Summarize the quarterly report for the board",
        "Summarize the quarterly report for the board\n",  # the whole text again, but for whitespace
        "  Note: summarize it  ",
    ],
)
def test_a_text_of_one_line_is_one_part(text: str) -> None:
    assert parts_to_embed(text, EmbedPart.BEST_PART) == (text,)


def test_a_repeated_part_is_embedded_once() -> None:
    text = "Summarize it.\n\nSummarize it."
    assert parts_to_embed(text, EmbedPart.BEST_PART) == ("Summarize it.", text)


@pytest.mark.parametrize("part", list(EmbedPart))
def test_the_task_vector_part_is_the_last_part(part: EmbedPart) -> None:
    for text in ("one line", "a preamble\n\nthe task", "Explain this: x = 1\n\n" + "long " * 50):
        assert parts_to_embed(text, part)[-1] == part_to_embed(text, part)
    assert part_to_embed("a preamble\n\nthe task", EmbedPart.BEST_PART) == "a preamble\n\nthe task"
    assert parts_to_embed("a preamble\n\nthe task", EmbedPart.WHOLE) == ("a preamble\n\nthe task",)
