"""The outcome store's tables (SQLAlchemy Core, one definition for SQLite and PostgreSQL) and their migrations.

Migrations are a short ordered list of steps, each bringing the schema from one version to the next, with the version
reached kept in ``semroute_schema``. A store whose version is newer than this code knows is refused: an older server
must not write rows a newer schema does not expect. (Alembic would do the same with more machinery; one table and a
list of functions are enough while the schema is this small.) Each migration's tables are frozen as that version
made them (:mod:`~semroute.store._schema_v1`): the definitions below are the current schema, which a new store reaches
through every step in turn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from semroute.errors import StoreVersionError
from semroute.store import _schema_v1

metadata = sa.MetaData()

# One row per decision the server issued (Route and RouteBatch). No task text unless the server stores it.
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("decided_at", sa.DateTime(), nullable=False, index=True),  # UTC
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("route", sa.String(128), nullable=False, index=True),
    sa.Column("model", sa.String(128), nullable=False),  # catalog name of the chosen model
    sa.Column("cascade", sa.JSON(), nullable=False),  # catalog names, in order
    sa.Column("fallbacks", sa.JSON(), nullable=False),  # catalog names, in order
    sa.Column("candidates", sa.JSON(), nullable=False),  # [{"route", "score", "signals": {name: value}}]
    sa.Column("rules", sa.JSON(), nullable=False),  # override rules that fired, in order
    sa.Column("ambiguous", sa.Boolean(), nullable=False),
    sa.Column("margin", sa.Float(), nullable=False),
    sa.Column("index_fingerprint", sa.String(64), nullable=False),
    sa.Column("estimated_tokens", sa.BigInteger(), nullable=False),
    sa.Column("file_paths", sa.Integer(), nullable=False),  # distinct file paths mentioned (features.py)
    sa.Column("has_code_block", sa.Boolean(), nullable=False),
    sa.Column("text_sha256", sa.String(64), nullable=False),  # of the UTF-8 text
    sa.Column("text_chars", sa.Integer(), nullable=False),
    # The query vector, little-endian float16; NULL (from version 4) for a decision a rule constrained, unless the
    # server keeps those (StoreSettings.keep_constrained_embeddings): an embedding can be inverted to approximate text.
    sa.Column("embedding", sa.LargeBinary(), nullable=True),
    # The probability with which the chosen model was picked, and the choice policy that picked it (NULL before
    # version 2: the static policy, probability 1).
    sa.Column("choice_probability", sa.Float(), nullable=True),
    sa.Column("text", sa.Text(), nullable=True),  # only with --store-text
    sa.Column("choice_policy", sa.String(32), nullable=True),
    sa.Column("features", sa.JSON(), nullable=True),  # structural_features() of the text; NULL before version 2
)

# The reported outcome of a decision (one per decision; reporting again replaces it).
outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("accepted", sa.Boolean(), nullable=True),  # NULL: only a quality score was reported
    sa.Column("quality_score", sa.SmallInteger(), nullable=True),  # 1-5
    sa.Column("labels", sa.JSON(), nullable=False),
    sa.Column("reported_at", sa.DateTime(), nullable=False, index=True),  # UTC
    sa.Column("scored_at", sa.DateTime(), nullable=True),  # when ReportQuality last set the score
)

# Every model call of a reported outcome, in order.
attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True),  # 0 for the first call
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),  # accepted | invalid | provider_error
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("input_tokens", sa.BigInteger(), nullable=False),
    sa.Column("output_tokens", sa.BigInteger(), nullable=False),
    sa.Column("cost_usd", sa.Float(), nullable=False),
    sa.Column("validator", sa.String(64), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("error_class", sa.String(128), nullable=False),
    # the kinds of the validators an accepted output passed, comma-separated; "" when none checked it; NULL: reported
    # before schema version 3, unknown (the learner counts it as it did then)
    sa.Column("passed_validators", sa.Text(), nullable=True),
)

# How one model did on one task, from an imported benchmark table or an evaluation (served traffic is derived from
# decisions and attempts instead). Importing the same source again replaces its rows. No task text unless asked.
observations = sa.Table(
    "observations",
    metadata,
    sa.Column("source", sa.String(256), primary_key=True),  # import:<file name>, evaluate-models
    sa.Column("task_id", sa.String(128), primary_key=True),
    sa.Column("model", sa.String(128), primary_key=True),  # catalog name
    sa.Column("route", sa.String(128), nullable=False, index=True),
    sa.Column("quality", sa.Float(), nullable=False),  # 0-1
    sa.Column("cost_usd", sa.Float(), nullable=True),
    sa.Column("input_tokens", sa.BigInteger(), nullable=True),
    sa.Column("output_tokens", sa.BigInteger(), nullable=True),
    sa.Column("latency_ms", sa.Float(), nullable=True),
    sa.Column("propensity", sa.Float(), nullable=False),
    sa.Column("embedding", sa.LargeBinary(), nullable=False),  # the embedded part's vector, little-endian float16
    sa.Column("features", sa.JSON(), nullable=False),  # structural_features() of the whole text
    sa.Column("recorded_at", sa.DateTime(), nullable=False),  # UTC
    sa.Column("text", sa.Text(), nullable=True),  # only when the importer asks for it
)

schema_version = sa.Table(
    "semroute_schema", sa.MetaData(), sa.Column("version", sa.Integer(), nullable=False, primary_key=True)
)


@dataclass(frozen=True)
class Migration:
    """One step: from ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[sa.Connection], None]


def _add_observations(connection: sa.Connection) -> None:
    """Migration 2: the observations table; decisions record how their model was chosen and their features."""
    connection.execute(sa.text("ALTER TABLE decisions RENAME COLUMN exploration_probability TO choice_probability"))
    for column in (decisions.c.choice_policy, decisions.c.features):
        spec = sa.schema.CreateColumn(column).compile(dialect=connection.dialect)
        connection.execute(sa.text(f"ALTER TABLE decisions ADD COLUMN {spec}"))
    metadata.create_all(connection, tables=[observations])


def _add_passed_validators(connection: sa.Connection) -> None:
    """Migration 3: attempts record the validators an accepted output passed."""
    spec = sa.schema.CreateColumn(attempts.c.passed_validators).compile(dialect=connection.dialect)
    connection.execute(sa.text(f"ALTER TABLE attempts ADD COLUMN {spec}"))


def _optional_decision_embedding(connection: sa.Connection) -> None:
    """Migration 4: a decision may be stored without its embedding (a constrained task's)."""
    if connection.dialect.name != "sqlite":
        connection.execute(sa.text("ALTER TABLE decisions ALTER COLUMN embedding DROP NOT NULL"))
        return
    # SQLite cannot drop a NOT NULL in place: the table is made again and its rows copied over (its own documented
    # procedure; outcomes and attempts refer to decisions by id only, with no foreign key to rebuild).
    kept = "decisions_before_v4"
    connection.execute(sa.text(f"ALTER TABLE decisions RENAME TO {kept}"))
    for index in decisions.indexes:  # they moved with the renamed table; the new one makes them again
        connection.execute(sa.text(f"DROP INDEX {index.name}"))
    decisions.create(connection)
    names = ", ".join(connection.dialect.identifier_preparer.quote(column.name) for column in decisions.columns)
    connection.execute(sa.text(f"INSERT INTO decisions ({names}) SELECT {names} FROM {kept}"))
    connection.execute(sa.text(f"DROP TABLE {kept}"))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "decisions, outcomes and attempts", _schema_v1.create_tables),
    Migration(
        2,
        "observations; decisions: choice_probability (was exploration_probability), choice_policy, features",
        _add_observations,
    ),
    Migration(3, "attempts: passed_validators", _add_passed_validators),
    Migration(
        4,
        "decisions: embedding may be NULL (a constrained decision's is not kept by default)",
        _optional_decision_embedding,
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1].version
# Serialises migrations of replicas starting at once against the same PostgreSQL (any constant; "semr" in ASCII).
_ADVISORY_LOCK = 0x73656D72


def stored_version(connection: sa.Connection) -> int:
    """The schema version of the store (0 for an empty database)."""
    if not sa.inspect(connection).has_table(schema_version.name):
        return 0
    return int(connection.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)


def migrate(engine: sa.Engine, where: str) -> int:
    """Bring the store at ``engine`` to :data:`SCHEMA_VERSION`, in one transaction; return the version it had.

    Raises:
        StoreVersionError: the store was written by a newer semroute (``where`` names it in the message).
        sqlalchemy.exc.SQLAlchemyError: the database cannot be reached or written.
    """
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})
        found = stored_version(connection)
        if found > SCHEMA_VERSION:
            raise StoreVersionError(
                f"the outcome store {where} has schema version {found}, written by a newer semroute; this one knows "
                f"versions up to {SCHEMA_VERSION}: upgrade semroute, or serve with another --store"
            )
        schema_version.create(connection, checkfirst=True)
        for step in MIGRATIONS:
            if step.version > found:
                step.apply(connection)
        if found < SCHEMA_VERSION:
            connection.execute(sa.delete(schema_version))
            connection.execute(sa.insert(schema_version).values(version=SCHEMA_VERSION))
    return found
