"""The store URLs a user types: the accepted forms, and a clear error for the mistakes (the first probe got an
SQLAlchemy ArgumentError traceback for ``sqlite://relative.db``, a ModuleNotFoundError for ``mysql://``, and an
in-memory store that kept nothing for ``sqlite:///``)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from semroute.cli import main
from semroute.errors import ConfigError
from semroute.store import StoreSettings, engine_url


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("outcomes.db", "sqlite:///outcomes.db"),
        ("/var/lib/semroute/outcomes.db", "sqlite:////var/lib/semroute/outcomes.db"),
        ("sqlite:///outcomes.db", "sqlite:///outcomes.db"),
        ("sqlite:////abs/outcomes.db", "sqlite:////abs/outcomes.db"),
        ("sqlite+pysqlite:///outcomes.db", "sqlite+pysqlite:///outcomes.db"),
        ("postgresql://u:p@db/semroute", "postgresql+psycopg://u:p@db/semroute"),
        ("postgres://u:p@db/semroute", "postgresql+psycopg://u:p@db/semroute"),
        ("postgresql+psycopg://u:p@db/semroute", "postgresql+psycopg://u:p@db/semroute"),
    ],
)
def test_the_accepted_forms(url: str, engine: str) -> None:
    assert engine_url(url) == engine


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("sqlite://relative.db", "three slashes: sqlite:///relative.db"),
        ("sqlite:///", "names no file"),
        ("sqlite://", "names no file"),
        ("sqlite:///:memory:", "names no file"),
        ("mysql://x/y", "in SQLite (sqlite:///path/to/outcomes.db"),
        ("postgresql+asyncpg://u@db/x", "postgresql://"),
    ],
)
def test_a_mistyped_url_says_what_is_accepted(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match="outcome store URL") as refused:
        engine_url(url)
    assert says in str(refused.value)
    with pytest.raises(ConfigError):
        StoreSettings(url)


def test_serve_and_report_refuse_it_without_a_traceback() -> None:
    for command in (["serve", "--store", "mysql://x/y"], ["report", "--store", "sqlite://relative.db"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit)
        assert "outcome store URL" in result.output and "Traceback" not in result.output
