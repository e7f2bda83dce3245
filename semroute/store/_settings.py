"""Where the outcome store lives and how it behaves: a frozen settings object, and the URL forms it accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from semroute.environment import default_store_path
from semroute.errors import ConfigError

DEFAULT_RETENTION_DAYS = 90
# Decisions waiting for the writer; beyond it a decision is dropped (counted), never waited for.
DEFAULT_QUEUE_DECISIONS = 4096
# Task text held by waiting decisions, in characters: bounds the queue's memory when texts are long (1 M chars each).
DEFAULT_QUEUE_CHARS = 32 * 1024 * 1024
# Outcome reports waiting for the writer; beyond it ReportOutcome answers RESOURCE_EXHAUSTED.
DEFAULT_QUEUE_REPORTS = 1024


def sqlite_url(path: Path | str) -> str:
    """The store URL of an SQLite file."""
    return f"sqlite:///{path}"


def default_store_url() -> str:
    """The embedded default: SQLite at ``$SEMROUTE_HOME/outcomes.db``."""
    return sqlite_url(default_store_path())


_ACCEPTED = (
    "SQLite (sqlite:///path/to/outcomes.db, sqlite:////absolute/path.db, or a file path) or PostgreSQL "
    "(postgresql://user:password@host/database)"
)


def engine_url(url: str) -> str:
    """The SQLAlchemy URL of a store URL: ``postgresql://`` goes through psycopg 3, a plain path is an SQLite file.

    Raises:
        ConfigError: a URL of another database, or an SQLite URL that names no file (it would keep nothing).
    """
    if "://" not in url:
        return sqlite_url(url)
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return f"postgresql+psycopg://{rest}"
    if scheme not in ("sqlite", "sqlite+pysqlite"):
        raise ConfigError(f"outcome store URL {url!r}: semroute keeps outcomes in {_ACCEPTED}")
    if rest.strip("/") in ("", ":memory:"):
        raise ConfigError(f"outcome store URL {url!r} names no file: an in-memory store would keep nothing")
    if not rest.startswith("/"):
        raise ConfigError(f"outcome store URL {url!r}: an SQLite URL takes three slashes: sqlite:///{rest}")
    return url


@dataclass(frozen=True)
class StoreSettings:
    """The outcome store of a server.

    Attributes:
        url: ``sqlite:///path`` (one file per replica), ``postgresql://...`` (shared by replicas), or a file path.
        store_text: Also keep each task's text (off: only its SHA-256, length, embedding and features).
        keep_constrained_embeddings: Also keep the query embedding of a decision a rule constrained (its
            ``constraint_rules`` non-empty, e.g. sovereign data). Off: such a decision is stored without one, since
            an embedding can be inverted to approximate text; learning from served traffic then skips it.
        retention_days: Rows older than this are purged (checked at start and every hour).
        queue_decisions: Decisions waiting to be written; more are dropped and counted.
        queue_chars: Task text held by waiting decisions; more are dropped and counted.
        queue_reports: Outcome reports waiting to be written; more are refused (RESOURCE_EXHAUSTED).
    """

    url: str = field(default_factory=default_store_url)
    store_text: bool = False
    keep_constrained_embeddings: bool = False
    retention_days: int = DEFAULT_RETENTION_DAYS
    queue_decisions: int = DEFAULT_QUEUE_DECISIONS
    queue_chars: int = DEFAULT_QUEUE_CHARS
    queue_reports: int = DEFAULT_QUEUE_REPORTS

    def __post_init__(self) -> None:
        if self.retention_days < 1:
            raise ConfigError(f"retention_days must be at least 1, got {self.retention_days}")
        if min(self.queue_decisions, self.queue_chars, self.queue_reports) < 1:
            raise ConfigError("the store's queue bounds must be at least 1")
        if not self.url.strip():
            raise ConfigError("the store URL must not be empty")
        engine_url(self.url)  # refuses a mistyped URL before the server starts
