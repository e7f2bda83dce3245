"""The outcome store: every decision the server issues and every outcome reported for it, in SQLite or PostgreSQL.

:class:`OutcomeStore` is what the server holds: a bounded queue and a writer thread over an
:class:`OutcomeDatabase` (SQLAlchemy Core; SQLite in WAL mode by default, PostgreSQL for several replicas).
Privacy by default: a decision is kept with its text's SHA-256, length, embedding (float16; none for a decision a
rule constrained, unless the settings keep those) and structural features, and its text only when the settings say so.
"""

from semroute.store._database import OutcomeDatabase
from semroute.store._records import PendingDecision, utc_now, validate_outcome_report, validate_quality_report
from semroute.store._schema import MIGRATIONS, SCHEMA_VERSION
from semroute.store._settings import (
    DEFAULT_RETENTION_DAYS,
    StoreSettings,
    default_store_url,
    engine_url,
    sqlite_url,
)
from semroute.store._writer import OutcomeStore

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "OutcomeDatabase",
    "OutcomeStore",
    "PendingDecision",
    "StoreSettings",
    "default_store_url",
    "engine_url",
    "sqlite_url",
    "utc_now",
    "validate_outcome_report",
    "validate_quality_report",
]
