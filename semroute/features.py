"""Features read from the whole task text (never only the embedded prefix) for override rules and model choice."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

# English prose and code average about four characters per token with the common BPE tokenizers.
CHARS_PER_TOKEN = 4.0

_CODE_BLOCK = re.compile(r"```|^(?: {4}|\t)\S", re.MULTILINE)
_EXTENSIONS = (
    "py|pyi|ipynb|js|jsx|ts|tsx|mjs|cjs|go|rs|java|kt|kts|scala|rb|php|cs|c|h|cc|cpp|hpp|cxx|m|mm|swift|sh|bash|zsh"
    "|ps1|sql|proto|json|ya?ml|toml|ini|cfg|conf|env|xml|html?|css|scss|sass|less|vue|svelte|md|rst|txt|tf|hcl|lock"
    "|gradle|dart|ex|exs|erl|hs|lua|pl|r|jl|clj|cljs|elm|zig|nim|sol"
)
# File paths are found from their extension backwards: scanning for "." is fast, whereas a pattern that may start
# at any character backtracks at every position and takes most of a second on a megabyte of text.
_EXTENSION = re.compile(rf"\.(?:{_EXTENSIONS})(?![\w/-])", re.IGNORECASE)
_STEM = re.compile(r"(?:[\w.-]+/)*[\w-]+(?:\.[\w-]+)*")
_REVERSED_RUN = re.compile(r"[\w/.-]+")  # matched on the reversed text before an extension: the path's characters
_STEM_LOOKBACK = 256
_SPECIAL_FILE = re.compile(r"(?<![\w/.-])(?:Makefile|Dockerfile|Jenkinsfile|Gemfile|Procfile)(?![\w.-])")
# An instruction: a bulleted or numbered line, or a sentence that opens with a common imperative verb.
_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d{1,3}[.)])\s+\S", re.MULTILINE)
_IMPERATIVE = re.compile(
    r"(?:^|[.!?:]\s+|\n)\s*(?:please\s+)?(?:write|add|fix|make|create|implement|explain|list|give|return|use|print|"
    r"answer|choose|describe|summari[sz]e|translate|convert|rewrite|refactor|remove|delete|update|change|find|show|"
    r"compute|calculate|generate|extract|classify|compare|check|ensure|avoid|do not|don't|keep|include)\b",
    re.IGNORECASE,
)
# The structural features the learner reads besides the embedding (see structural_features).
STRUCTURAL_FEATURES: tuple[str, ...] = (
    "estimated_tokens",
    "has_code_block",
    "file_paths",
    "question_marks",
    "instructions",
)


class Features(Protocol):
    """What override rules and the model choice read about a task."""

    @property
    def estimated_tokens(self) -> int: ...

    @property
    def file_paths(self) -> int: ...

    @property
    def has_code_block(self) -> bool: ...


@dataclass(frozen=True)
class TextFeatures:
    """Features given outright (hand-made, or already known)."""

    estimated_tokens: int
    file_paths: int
    has_code_block: bool


class TaskFeatures:
    """Features of a task's whole text, each computed on first use: most requests fire no rule that needs the
    costlier ones, and on a megabyte of text a scan takes tens of milliseconds."""

    def __init__(self, text: str, input_tokens: int | None = None) -> None:
        self._text = text
        self.estimated_tokens = input_tokens if input_tokens is not None else estimate_tokens(text)

    @cached_property
    def file_paths(self) -> int:
        """Distinct file paths mentioned."""
        return len(mentioned_file_paths(self._text))

    @cached_property
    def has_code_block(self) -> bool:
        """Whether the text holds a fenced or indented code block."""
        return bool(_CODE_BLOCK.search(self._text))


def estimate_tokens(text: str) -> int:
    """Estimated input tokens of ``text`` for context-window checks (about four characters per token)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def mentioned_file_paths(text: str) -> list[str]:
    """Distinct file paths or file names mentioned in ``text``, in order of first mention."""
    found: list[tuple[int, str]] = []
    for extension in _EXTENSION.finditer(text):
        end = extension.start()
        window = text[max(0, end - _STEM_LOOKBACK) : end][::-1]
        run = _REVERSED_RUN.match(window)
        stem = run.group(0)[::-1] if run else ""
        if stem and _STEM.fullmatch(stem):
            found.append((end - len(stem), stem + extension.group(0)))
    found += [(match.start(), match.group(0)) for match in _SPECIAL_FILE.finditer(text)]
    return list(dict.fromkeys(path for _, path in sorted(found)))


def extract_features(text: str, input_tokens: int | None = None) -> TaskFeatures:
    """Features of the whole ``text``; ``input_tokens``, when the caller knows it, replaces the estimate."""
    return TaskFeatures(text, input_tokens)


def structural_features(text: str, input_tokens: int | None = None) -> dict[str, float]:
    """The task's structure as numbers (:data:`STRUCTURAL_FEATURES`): estimated tokens, whether it holds a code block,
    distinct file paths mentioned, question marks, and instructions (list items and imperative sentences)."""
    features = extract_features(text, input_tokens)
    return {
        "estimated_tokens": float(features.estimated_tokens),
        "has_code_block": float(features.has_code_block),
        "file_paths": float(features.file_paths),
        "question_marks": float(text.count("?")),
        "instructions": float(len(_LIST_ITEM.findall(text)) + len(_IMPERATIVE.findall(text))),
    }
