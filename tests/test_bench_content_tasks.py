"""The content-bearing tasks of `make bench-content`: how content is attached, and a seeded, complete build."""

from __future__ import annotations

import pytest

from benchmarks._content_tasks import LENGTHS, STYLES, attach, content_tasks, kinds_for


@pytest.mark.parametrize(
    ("style", "expected"),
    [
        ("colon", "Summarize this report: Revenue rose."),
        ("newline", "Summarize this report.\nRevenue rose."),
        ("blank", "Summarize this report.\n\nRevenue rose."),
        ("before", "Revenue rose.\n\nSummarize this report."),
    ],
)
def test_content_is_attached_in_each_style(style: str, expected: str) -> None:
    assert attach("Summarize this report.", "Revenue rose.", style) == expected


def test_a_question_keeps_its_mark_after_a_colon_style() -> None:
    assert attach("What does this log say?", "ERROR x", "colon") == "What does this log say? ERROR x"


def test_every_instruction_is_bare_once_and_carries_content_in_every_style_and_length() -> None:
    labelled = [("Write unit tests for the parser", "test_generation"), ("tl;dr this thread", "summarization")]
    tasks = content_tasks(labelled, seed=3)
    assert len(tasks) == len(labelled) * (1 + len(STYLES) * len(LENGTHS))
    assert [task.text for task in tasks if task.style == "bare"] == [text for text, _ in labelled]
    assert tasks == content_tasks(labelled, seed=3)  # seeded
    code = [task for task in tasks if task.label == "test_generation" and task.style != "bare"]
    assert all("```" in task.text for task in code)  # a code task carries code


def test_kinds_follow_the_instructions_words_then_the_route() -> None:
    assert kinds_for("Summarize these customer reviews", "summarization") != []
    assert set(kinds_for("Write unit tests for the parser", "test_generation")) <= {"python", "js"}
