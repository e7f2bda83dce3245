"""Features read from the whole task text (never only the embedded prefix) for override rules and model choice."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# English prose and code average about four characters per token with the common BPE tokenizers.
CHARS_PER_TOKEN = 4.0

_CODE_BLOCK = re.compile(r"```|^(?: {4}|\t)\S", re.MULTILINE)
_EXTENSIONS = (
    "py|pyi|ipynb|js|jsx|ts|tsx|mjs|cjs|go|rs|java|kt|kts|scala|rb|php|cs|c|h|cc|cpp|hpp|cxx|m|mm|swift|sh|bash|zsh"
    "|ps1|sql|proto|json|ya?ml|toml|ini|cfg|conf|env|xml|html?|css|scss|sass|less|vue|svelte|md|rst|txt|tf|hcl|lock"
    "|gradle|dart|ex|exs|erl|hs|lua|pl|r|jl|clj|cljs|elm|zig|nim|sol"
)
_FILE_PATH = re.compile(
    rf"(?<![\w/.-])(?:[\w.-]+/)*[\w-]+(?:\.[\w-]+)*\.(?:{_EXTENSIONS})(?![\w/-])"
    r"|(?<![\w/.-])(?:Makefile|Dockerfile|Jenkinsfile|Gemfile|Procfile)(?![\w.-])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TextFeatures:
    """Numeric features of one task."""

    estimated_tokens: int
    file_paths: int
    has_code_block: bool


def estimate_tokens(text: str) -> int:
    """Estimated input tokens of ``text`` for context-window checks (about four characters per token)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def mentioned_file_paths(text: str) -> list[str]:
    """Distinct file paths or file names mentioned in ``text``, in order of first mention."""
    seen: dict[str, None] = {}
    for match in _FILE_PATH.finditer(text):
        seen.setdefault(match.group(0).rstrip("."), None)
    return list(seen)


def extract_features(text: str, input_tokens: int | None = None) -> TextFeatures:
    """Features of the whole ``text``; ``input_tokens``, when the caller knows it, replaces the estimate."""
    return TextFeatures(
        estimated_tokens=input_tokens if input_tokens is not None else estimate_tokens(text),
        file_paths=len(mentioned_file_paths(text)),
        has_code_block=bool(_CODE_BLOCK.search(text)),
    )
