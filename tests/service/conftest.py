"""Service fixtures: one session server on an ephemeral loopback port, and per-test servers for lifecycle tests.

Every server uses the session's real embedding model and a copy of the session's real index of ``routes/``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trustme

from semroute.client import ClientTls, RouterClient
from semroute.embedding import FastEmbedEmbedder, ModelIdentity
from semroute.index import IndexArtifact, build_index
from semroute.route_files import RouteSet
from semroute.service import RouterServer, ServerConfig, TlsFiles, create_server
from semroute.store import StoreSettings, sqlite_url
from tests.conftest import REPO

LOOPBACK = "127.0.0.1"


@dataclasses.dataclass
class RunningServer:
    """A started server, the target to dial and the artifact file it serves."""

    server: RouterServer
    target: str
    index_path: Path


class GatedEmbedder:
    """The real model behind a gate: embedding calls can be held (to keep an RPC in flight) or made to fail."""

    def __init__(self, inner: FastEmbedEmbedder) -> None:
        self._inner = inner
        self.entered = threading.Event()  # set when a call reaches the model
        self.gate = threading.Event()  # calls wait here while it is clear
        self.gate.set()
        self.failure: Exception | None = None
        self.calls = 0

    def hold(self) -> None:
        """Hold the next embedding calls at the gate; ``entered`` tells when one arrives."""
        self.entered.clear()  # the warm-up at load time already went through
        self.gate.clear()

    def release(self) -> None:
        """Let held and later calls through."""
        self.gate.set()

    @property
    def identity(self) -> ModelIdentity:
        return self._inner.identity

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Any:
        self.calls += 1
        if self.failure is not None:
            raise self.failure
        self.entered.set()
        self.gate.wait(timeout=60)
        return self._inner.embed(texts, batch_size)


def replace_atomically(target: Path, source: Path | bytes) -> None:
    """Put new content at ``target`` the way ``semroute index`` does: a temporary file, then ``os.replace``."""
    temporary = target.with_name(f".{target.name}.tmp")
    if isinstance(source, bytes):
        temporary.write_bytes(source)
    else:
        shutil.copyfile(source, temporary)
    os.replace(temporary, target)


def wait_until(condition: Callable[[], bool], what: str, limit_seconds: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` if it never does (a bound, not a timing check)."""
    give_up = time.monotonic() + limit_seconds
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _start(index_source: Path, index_path: Path, embedder: Any, load: bool = True, **settings: Any) -> RunningServer:
    shutil.copyfile(index_source, index_path)
    config = ServerConfig(
        **{
            "host": LOOPBACK,
            "port": 0,
            "index_path": index_path,
            "drain_seconds": 0.0,
            "grace_seconds": 10.0,
            "watch_seconds": 0.0,
            "store": StoreSettings(sqlite_url(index_path.with_suffix(".outcomes.db"))),  # beside the index copy
            **settings,
        }
    )
    server, port = create_server(config, embedder=embedder)
    server.start()
    if load:
        server.load()
    return RunningServer(server, f"{LOOPBACK}:{port}", index_path)


@pytest.fixture(scope="session")
def session_server(
    tmp_path_factory: pytest.TempPathFactory, default_index_path: Path, embedder: FastEmbedEmbedder
) -> Iterator[RunningServer]:
    """One loaded server shared by the tests that do not change it."""
    running = _start(default_index_path, tmp_path_factory.mktemp("served") / "index.zip", embedder)
    yield running
    running.server.stop(0.0, 1.0)


@pytest.fixture(scope="session")
def target(session_server: RunningServer) -> str:
    """Where the session server listens."""
    return session_server.target


@pytest.fixture(scope="session")
def client(target: str) -> Iterator[RouterClient]:
    """A blocking client of the session server."""
    with RouterClient(target) as router_client:
        yield router_client


@pytest.fixture
def start_server(
    tmp_path: Path, default_index_path: Path, embedder: FastEmbedEmbedder
) -> Iterator[Callable[..., RunningServer]]:
    """Start a server of this test's own (stopped afterwards); keyword arguments override its ServerConfig."""
    started: list[RunningServer] = []

    def start(*, embedder_override: Any = None, load: bool = True, **settings: Any) -> RunningServer:
        index_path = tmp_path / f"index-{len(started)}.zip"
        running = _start(default_index_path, index_path, embedder_override or embedder, load, **settings)
        started.append(running)
        return running

    yield start
    for running in started:
        running.server.stop(0.0, 1.0)


@pytest.fixture
def gated_embedder(embedder: FastEmbedEmbedder) -> GatedEmbedder:
    """The real model behind a gate this test controls."""
    return GatedEmbedder(embedder)


@pytest.fixture(scope="session")
def variant_index_path(
    tmp_path_factory: pytest.TempPathFactory,
    default_index_path: Path,
    default_route_set: RouteSet,
    default_artifact: IndexArtifact,
    embedder: FastEmbedEmbedder,
) -> Path:
    """A valid index of the same routes with another margin, hence another fingerprint."""
    path = tmp_path_factory.mktemp("variant") / "index.zip"
    shutil.copyfile(default_index_path, path)  # lets build_index reuse every vector instead of embedding again
    settings = default_route_set.settings.model_copy(update={"margin": default_route_set.settings.margin + 0.01})
    variant = dataclasses.replace(default_route_set, settings=settings)
    build_index(variant, path, embedder, resolve=lambda _: dict(default_artifact.policy.models), progress=False)
    return path


@pytest.fixture(scope="session")
def other_model_index_path(tmp_path_factory: pytest.TempPathFactory, default_index_path: Path) -> Path:
    """The bundled index, but claiming to be built with another model file (as after a model upgrade)."""
    path = tmp_path_factory.mktemp("other-model") / "index.zip"
    with zipfile.ZipFile(default_index_path) as source, zipfile.ZipFile(path, "w") as copy:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["model"]["sha256"] = "0" * 64
                manifest["fingerprint"] = "f" * 64
                data = json.dumps(manifest).encode()
            copy.writestr(item, data)
    return path


@pytest.fixture(scope="session")
def long_task() -> str:
    """A task long enough that its embedded prefix is the full 256 tokens."""
    rng = np.random.default_rng(7)
    words = ["parser", "refactor", "module", "tests", "nested", "expressions", "handle", "error", "token", "grammar"]
    return " ".join(rng.choice(words, size=700))


class ServerProcess:
    """``semroute serve`` in a child process, with its JSON log lines collected as they come."""

    def __init__(self, index_path: Path, *options: str) -> None:
        """Start serving ``index_path``; ``options`` are more ``semroute serve`` options (later ones win)."""
        command = [
            *(str(Path(sys.executable).parent / "semroute"), "serve", "--host", LOOPBACK, "--port", "0"),
            *("--index", str(index_path), "--watch-seconds", "0", "--drain-seconds", "0", "--grace-seconds", "60"),
            *("--store", sqlite_url(index_path.with_suffix(".outcomes.db"))),  # a later --store wins
            *("--log-level", "debug", *options),
        ]
        self.process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
        self.records: list[dict[str, Any]] = []
        self._collector = threading.Thread(target=self._collect, daemon=True)
        self._collector.start()

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if line.startswith("{"):
                self.records.append(json.loads(line))

    def close(self) -> None:
        """Kill the process if it is still running and release its pipe."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._collector.join()
        assert self.process.stderr is not None
        self.process.stderr.close()

    def position(self, record: dict[str, Any]) -> int:
        """Where ``record`` stands in the log."""
        return self.records.index(record)

    def record(self, message: str, **fields: Any) -> dict[str, Any]:
        """Wait for the first log record with this message and these fields."""

        def matching() -> dict[str, Any] | None:
            return next(
                (
                    record
                    for record in self.records
                    if record["message"] == message and all(record.get(k) == v for k, v in fields.items())
                ),
                None,
            )

        wait_until(lambda: matching() is not None or self.process.poll() is not None, f"log record {message!r}")
        found = matching()
        assert found is not None, f"server exited with {self.process.returncode} before logging {message!r}"
        return found


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[TlsFiles, ClientTls]:
    """A throwaway CA, a server certificate for 'semroute.test' and the matching client settings."""
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    certificate = authority.issue_cert("semroute.test")
    chain, key, ca = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
    certificate.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in certificate.cert_chain_pems))
    authority.cert_pem.write_to_path(str(ca))
    return TlsFiles(chain, key), ClientTls(root_certificates=ca, server_name="semroute.test")
