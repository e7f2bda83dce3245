"""Store fixtures: the same suite runs against SQLite (a file per test) and a real PostgreSQL started by pgserver.

PostgreSQL comes from the ``pgserver`` wheel (``make install`` installs it); the Postgres half of the suite skips,
saying so, only where pgserver is not installed at all.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from semroute.store import OutcomeDatabase, OutcomeStore, PendingDecision, StoreSettings, sqlite_url, utc_now
from semroute.types import Candidate, ModelConfig, ResolvedModel, RouteDecision, RouteRequest, Tier

PGSERVER_MISSING = "pgserver is not installed (make install adds it): the PostgreSQL store tests need it"
DIMENSION = 384


def start_pgserver(folder: Path) -> Any:
    """A PostgreSQL server in ``folder`` (stopped by its ``cleanup()``)."""
    with warnings.catch_warnings():  # platformdirs warns that XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

        return pgserver.get_server(str(folder), cleanup_mode="stop")


@contextmanager
def running_pgserver() -> Iterator[Any]:
    """A PostgreSQL server in a folder of its own, stopped and removed afterwards.

    The folder is outside pytest's private temporary tree: run as root, pgserver runs PostgreSQL as an unprivileged
    user, which must reach the folder to stop the server.
    """
    if importlib.util.find_spec("pgserver") is None:
        pytest.skip(PGSERVER_MISSING)
    folder = Path(tempfile.mkdtemp(prefix="semroute-pg-"))
    folder.chmod(0o755)
    server = start_pgserver(folder)
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One PostgreSQL for the session; each test gets a database of its own in it."""
    with running_pgserver() as server:
        yield server


def new_postgres_database(server: Any) -> str:
    """A fresh, empty database on ``server``; its URL."""
    name = f"store_test_{uuid.uuid4().hex}"  # not a counter: test modules may import this file a second time
    admin = sa.create_engine(server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return str(server.get_uri()).replace("/postgres?", f"/{name}?", 1)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store: an SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "outcomes.db")
    server = request.getfixturevalue("postgres_server")
    return new_postgres_database(server)


@pytest.fixture
def database(store_url: str) -> Iterator[OutcomeDatabase]:
    """A migrated, empty store on this test's URL (SQLite or PostgreSQL)."""
    opened = OutcomeDatabase(store_url)
    opened.migrate()
    yield opened
    opened.close()


@pytest.fixture
def open_store(store_url: str) -> Iterator[Callable[..., OutcomeStore]]:
    """Open stores on this test's URL (closed afterwards); keyword arguments override the StoreSettings."""
    opened: list[OutcomeStore] = []

    def open_one(**settings: Any) -> OutcomeStore:
        store = OutcomeStore.open(StoreSettings(store_url, **settings))
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def model(name: str, tier: Tier = Tier.MID) -> ResolvedModel:
    """A catalog model with made-up prices."""
    return ResolvedModel(name, f"openai/{name}", tier, 1.0, 4.0, 128_000)


def pending_decision(
    text: str = "fix the bug in utils.py and app.py", *, route: str = "code_change"
) -> PendingDecision:
    """A decision as the servicer hands it to the store, with a random unit vector."""
    vector = np.random.default_rng(len(text)).standard_normal(DIMENSION).astype(np.float32)
    decision = RouteDecision(
        route=route,
        model=model("claude-sonnet-4-6"),
        fallbacks=(model("gpt-5.2"),),
        config=ModelConfig(temperature=0.2),
        candidates=(Candidate(route, 0.8, {"neighbour": 0.7}), Candidate("general", 0.1, {"neighbour": 0.1})),
        margin=0.7,
        ambiguous=False,
        rules=(),
        trace=(),
        estimated_tokens=9,
        index_fingerprint="f" * 64,
        cascade=(model("gpt-5-mini", Tier.LIGHT), model("claude-sonnet-4-6")),
        decision_id=uuid.uuid4().hex,
    )
    return PendingDecision(decision, RouteRequest(text), vector / np.linalg.norm(vector), "request-1", utc_now())
