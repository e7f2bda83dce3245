"""The performance settings of ``semroute serve``: validated, exposed on the command line, passed to admission."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.errors import ConfigError
from semroute.service import ServerConfig


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"embedding_threads": 0}, "embedding_threads"),
        ({"max_batch_texts": 0}, "max_batch_texts"),
        ({"cache_entries": -1}, "cache_entries must not be negative"),
        ({"long_lane_nice": 20}, "long_lane_nice must be between 0 and 19"),
    ],
)
def test_bad_performance_settings_are_refused_naming_the_setting(settings: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServerConfig(**settings)  # type: ignore[arg-type]


def test_the_batch_bound_reaches_admission() -> None:
    limits = ServerConfig(compute_slots=6, max_batch_texts=8).admission

    assert (limits.slots, limits.batch_texts) == (6, 8)
    assert limits.lane_slots == {"short": 3, "long": 3}


def test_serve_help_lists_the_performance_settings() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])

    assert result.exit_code == 0
    for option in (
        "--compute-slots",
        "--embedding-threads",
        "--max-batch-texts",
        "--cache-entries",
        "--long-lane-nice",
    ):
        assert option in result.output
