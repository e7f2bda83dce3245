"""A small outcome store whose every figure is known: decisions, outcomes and attempts written through the store's
own API into SQLite, priced with the real catalog of the bundled routes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from semroute.cli import main
from semroute.index import IndexArtifact
from semroute.store import OutcomeDatabase, PendingDecision, sqlite_url
from semroute.store._records import decision_row
from semroute.store._schema import attempts, decisions, outcomes
from semroute.types import (
    Attempt,
    AttemptOutcome,
    Candidate,
    ModelConfig,
    OutcomeReport,
    ResolvedModel,
    RouteDecision,
    RouteRequest,
)

END = datetime(2026, 3, 2)  # --until of every test: the window is [END - 7d, END)
MTOK = 1_000_000

# Text an attacker can put in every stored field the report shows: formulas for a spreadsheet, markup for the page,
# control characters and escape sequences for a terminal, mathtext for matplotlib.
FORMULAS = ('=HYPERLINK("http://x")', "+1+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1")
MARKUP = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "javascript:alert(1)",
    "</td></tr></table><iframe src=javascript:alert(1)></iframe>",
    "--><!--<script>alert(1)</script>",
    "$\\foo$ <b>$x$</b>",
)
CONTROLS = ("\x1b[31mred\x1b[0m", "\x1b]8;;http://x\x07link\x1b]8;;\x07", "\x9b2J c1", "nul\x00 del\x7f", "\u202eevil")
HOSTILE = (*FORMULAS, *MARKUP, *CONTROLS)


@dataclass(frozen=True)
class Call:
    """An attempt as a test states it: model, outcome, tokens, latency, validator."""

    model: str
    outcome: AttemptOutcome
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 100.0
    validator: str = ""


@dataclass(frozen=True)
class KnownStore:
    """The store's URL and the catalog its costs were computed with."""

    url: str
    catalog: Mapping[str, ResolvedModel]


def priced(call: Call, catalog: Mapping[str, ResolvedModel]) -> Attempt:
    """The attempt of ``call``, its cost the tokens times the catalog's prices (as the client computes it)."""
    model = catalog[call.model]
    cost = (call.input_tokens * model.input_cost_per_mtok + call.output_tokens * model.output_cost_per_mtok) / MTOK
    return Attempt(
        call.model, call.outcome, call.latency_ms, call.input_tokens, call.output_tokens, cost, validator=call.validator
    )


def call_cost(model: ResolvedModel, input_tokens: int, output_tokens: int) -> float:
    """USD of one call."""
    return (input_tokens * model.input_cost_per_mtok + output_tokens * model.output_cost_per_mtok) / MTOK


class StoreWriter:
    """Writes decisions and outcomes with the store's own functions."""

    def __init__(self, database: OutcomeDatabase, catalog: Mapping[str, ResolvedModel]) -> None:
        self.database = database
        self.catalog = catalog

    def decide(self, route: str, model: str, decided_at: datetime, cascade: Sequence[str] = ()) -> str:
        """Record a decision; its id."""
        decision = RouteDecision(
            route=route,
            model=self.catalog[model],
            fallbacks=(),
            config=ModelConfig(),
            candidates=(Candidate(route, 0.9),),
            margin=0.5,
            ambiguous=False,
            rules=(),
            trace=(),
            estimated_tokens=10,
            index_fingerprint="f" * 64,
            cascade=tuple(self.catalog[name] for name in cascade),
            decision_id=uuid.uuid4().hex,
        )
        vector = np.ones(4, dtype=np.float32) / 2
        pending = PendingDecision(decision, RouteRequest("task"), vector, "request", decided_at)
        with self.database.engine.begin() as connection:
            self.database.insert_decisions(connection, [decision_row(pending, store_text=False)])
        return decision.decision_id

    def report(self, decision_id: str, calls: Sequence[Call], quality: int | None = None) -> None:
        """Record the outcome of a decision: accepted when its last call was."""
        attempts = tuple(priced(call, self.catalog) for call in calls)
        accepted = bool(calls) and calls[-1].outcome is AttemptOutcome.ACCEPTED
        report = OutcomeReport(decision_id, attempts, accepted, quality)
        with self.database.engine.begin() as connection:
            self.database.write_outcome(connection, report, END)


@pytest.fixture(scope="session")
def catalog(default_artifact: IndexArtifact) -> Mapping[str, ResolvedModel]:
    """The real catalog of the bundled routes, with the prices litellm gave at index time."""
    return default_artifact.manifest.catalog


@pytest.fixture
def known_store(tmp_path: Path, catalog: Mapping[str, ResolvedModel]) -> KnownStore:
    """Five decisions in the window, two in the previous one, one older (see tests/report/test_report.py)."""
    url = sqlite_url(tmp_path / "outcomes.db")
    database = OutcomeDatabase(url)
    database.migrate()
    write_scenario(StoreWriter(database, catalog))
    database.close()
    return KnownStore(url, catalog)


@pytest.fixture
def hostile_store(tmp_path: Path, catalog: Mapping[str, ResolvedModel]) -> KnownStore:
    """One decision per :data:`HOSTILE` text: its route, model and choice policy, and its failed attempt's model,
    validator, message and error class; a normal model then accepts. The store's API refuses such text now, so the
    records are written through it and their text then set with SQL, as a store filled before those checks (or by
    another program) holds it: the report must be safe on whatever the store holds."""
    url = sqlite_url(tmp_path / "hostile.db")
    database = OutcomeDatabase(url)
    database.migrate()
    writer = StoreWriter(database, catalog)
    invalid, accepted = AttemptOutcome.INVALID, AttemptOutcome.ACCEPTED
    for number, text in enumerate(HOSTILE):
        decision = writer.decide("general", "gpt-5-mini", END - timedelta(hours=number + 1))
        writer.report(decision, [Call("gpt-5-mini", invalid, 100, 50, validator="json"), Call("gpt-5.2", accepted)], 3)
        with database.engine.begin() as connection:
            connection.execute(
                sa.update(decisions)
                .where(decisions.c.decision_id == decision)
                .values(route=text, model=text, choice_policy=text)
            )
            connection.execute(
                sa.update(attempts)
                .where(attempts.c.decision_id == decision, attempts.c.position == 0)
                .values(model=text, validator=text, message=text, error_class=text)
            )
            connection.execute(
                sa.update(outcomes).where(outcomes.c.decision_id == decision).values(labels={"team": text, text: "x"})
            )
    database.close()
    return KnownStore(url, catalog)


def run_report(store: KnownStore, index: Path, *options: str) -> str:
    """The standard output of ``semroute report`` over ``store`` for the week before END; it must succeed."""
    arguments = ["report", "--since", "7d", "--until", "2026-03-02", "--store", store.url, "--index", str(index)]
    result = CliRunner().invoke(main, [*arguments, *options], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def write_scenario(writer: StoreWriter) -> None:
    """The decisions whose figures test_report.py checks."""
    day = timedelta(days=1)
    accepted, invalid, failed = AttemptOutcome.ACCEPTED, AttemptOutcome.INVALID, AttemptOutcome.PROVIDER_ERROR
    # this window: code_change accepted at once (quality 4), and after a provider error (a fallback)
    d1 = writer.decide("code_change", "claude-sonnet-4-6", END - 1 * day)
    writer.report(d1, [Call("claude-sonnet-4-6", accepted, 1000, 500, 800)], quality=4)
    d2 = writer.decide("code_change", "claude-sonnet-4-6", END - 2 * day)
    writer.report(d2, [Call("claude-sonnet-4-6", failed, latency_ms=200), Call("gpt-5.2", accepted, 2000, 1000, 1000)])
    # summarization with a cascade: escalated then accepted (quality 2); escalated and exhausted; never reported
    cascade = ("gpt-5-mini", "gemini-3-flash")
    d3 = writer.decide("summarization", "gpt-5-mini", END - 3 * day, cascade)
    writer.report(
        d3,
        [Call("gpt-5-mini", invalid, 4000, 800, 500, "max_chars"), Call("gemini-3-flash", accepted, 4000, 600, 900)],
        quality=2,
    )
    d4 = writer.decide("summarization", "gpt-5-mini", END - 4 * day, cascade)
    writer.report(
        d4,
        [Call("gpt-5-mini", invalid, 3000, 900, 400, "json"), Call("gemini-3-flash", invalid, 3000, 700, 600, "json")],
    )
    writer.decide("summarization", "gpt-5-mini", END - 5 * day, cascade)
    # the previous window: one accepted code_change, one summarization never reported
    p1 = writer.decide("code_change", "claude-sonnet-4-6", END - 8 * day)
    writer.report(p1, [Call("claude-sonnet-4-6", accepted, 1000, 1000, 700)])
    writer.decide("summarization", "gpt-5-mini", END - 9 * day, cascade)
    # before both windows: ignored
    old = writer.decide("code_change", "claude-opus-4-6", END - 20 * day)
    writer.report(old, [Call("claude-opus-4-6", accepted, 10**6, 10**6, 100)])
