"""Whole-text features: token estimate, file paths, code blocks."""

from __future__ import annotations

import pytest

from semroute.features import estimate_tokens, extract_features, mentioned_file_paths


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("refactor auth.py and utils/db.py to share the session", ["auth.py", "utils/db.py"]),
        ("update src/app/main.ts, README.md and the Makefile", ["src/app/main.ts", "README.md", "Makefile"]),
        ("see foo.py. then foo.py again", ["foo.py"]),
        ("what is 3.5 times 2, e.g. roughly", []),
        ("bump v1.2.3 and read https://example.com/a.html", []),
    ],
)
def test_file_paths(text: str, paths: list[str]) -> None:
    assert mentioned_file_paths(text) == paths


def test_features_read_the_whole_text() -> None:
    text = "x" * 400_000 + "\nalso touch api/handlers.go and api/routes.go\n```go\nfunc main() {}\n```"
    features = extract_features(text)
    assert features.estimated_tokens == estimate_tokens(text) > 100_000
    assert features.file_paths == 2
    assert features.has_code_block


def test_caller_token_count_replaces_the_estimate() -> None:
    assert extract_features("short", input_tokens=123_456).estimated_tokens == 123_456
    assert not extract_features("plain prose").has_code_block
