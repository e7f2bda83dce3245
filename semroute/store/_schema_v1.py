"""The outcome store's tables as schema version 1 created them, frozen.

Migration 1 creates exactly these, whatever later versions change: a store made today and one made by the first
release then reach the current schema through the same later migrations. Nothing else reads or writes these
definitions (tests use them to build a version-1 store holding rows).
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("decided_at", sa.DateTime(), nullable=False, index=True),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("route", sa.String(128), nullable=False, index=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("cascade", sa.JSON(), nullable=False),
    sa.Column("fallbacks", sa.JSON(), nullable=False),
    sa.Column("candidates", sa.JSON(), nullable=False),
    sa.Column("rules", sa.JSON(), nullable=False),
    sa.Column("ambiguous", sa.Boolean(), nullable=False),
    sa.Column("margin", sa.Float(), nullable=False),
    sa.Column("index_fingerprint", sa.String(64), nullable=False),
    sa.Column("estimated_tokens", sa.BigInteger(), nullable=False),
    sa.Column("file_paths", sa.Integer(), nullable=False),
    sa.Column("has_code_block", sa.Boolean(), nullable=False),
    sa.Column("text_sha256", sa.String(64), nullable=False),
    sa.Column("text_chars", sa.Integer(), nullable=False),
    sa.Column("embedding", sa.LargeBinary(), nullable=False),
    sa.Column("exploration_probability", sa.Float(), nullable=True),  # renamed choice_probability by migration 2
    sa.Column("text", sa.Text(), nullable=True),
)

outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("accepted", sa.Boolean(), nullable=True),
    sa.Column("quality_score", sa.SmallInteger(), nullable=True),
    sa.Column("labels", sa.JSON(), nullable=False),
    sa.Column("reported_at", sa.DateTime(), nullable=False, index=True),
    sa.Column("scored_at", sa.DateTime(), nullable=True),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("decision_id", sa.String(64), primary_key=True),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("input_tokens", sa.BigInteger(), nullable=False),
    sa.Column("output_tokens", sa.BigInteger(), nullable=False),
    sa.Column("cost_usd", sa.Float(), nullable=False),
    sa.Column("validator", sa.String(64), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("error_class", sa.String(128), nullable=False),
)


def create_tables(connection: sa.Connection) -> None:
    """Create the version-1 tables (migration 1)."""
    metadata.create_all(connection, tables=[decisions, outcomes, attempts])
