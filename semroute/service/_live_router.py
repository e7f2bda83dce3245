"""The index in service: loaded, checked and warmed up off the request path, then swapped in atomically.

Requests read :meth:`LiveRouter.snapshot` once and use that one router to the end, so a reload never changes the
index under a request in flight; the swap itself is a single reference assignment. Loads are serialised; a new
artifact that fails to load, does not match the embedding model, or fails its warm-up request is refused, and the
index in service stays.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from semroute.embedding import Embedder, FastEmbedEmbedder
from semroute.errors import IndexArtifactError, NotReadyError, SemrouteError
from semroute.index import load_index
from semroute.router import Router
from semroute.types import RouteRequest

logger = logging.getLogger("semroute.service")

# One embedding through the whole request path: loads the model's lazy parts and proves the new index answers.
_WARM_UP = RouteRequest("warm up: write unit tests for the parser")

FileSignature = tuple[int, int, int] | None  # inode, size, mtime (ns); None when the file is missing


@dataclass(frozen=True)
class Snapshot:
    """One index in service, with the time it went into service."""

    router: Router
    loaded_at: datetime


@dataclass(frozen=True)
class LoadOutcome:
    """What a (re)load did."""

    changed: bool
    previous_fingerprint: str
    snapshot: Snapshot


class LiveRouter:
    """Holds the router in service and replaces it when the artifact on disk changes."""

    def __init__(
        self, index_path: Path, embedder: Embedder | None = None, *, embedding_threads: int | None = None
    ) -> None:
        """Prepare to serve ``index_path``; nothing is loaded until :meth:`load`.

        Args:
            index_path: The index artifact.
            embedder: The embedding model; None loads the one the artifact names on the first load. Reloads always
                keep the model loaded first and refuse artifacts built with another.
            embedding_threads: ONNX threads of each embedding pass of the model loaded here (None: every core).
        """
        self._path = index_path
        self._embedder = embedder
        self._threads = embedding_threads
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()  # serialises loads; readers never take it
        self._attempted: FileSignature = None
        self._loaded: FileSignature = None  # the file the index in service came from
        self._last_error = ""

    @property
    def last_reload_error(self) -> str:
        """Why the latest load was refused; empty when it succeeded."""
        return self._last_error

    def snapshot(self) -> Snapshot:
        """The index in service.

        Raises:
            NotReadyError: nothing is loaded yet.
        """
        snapshot = self._snapshot
        if snapshot is None:
            raise NotReadyError("the router is starting and has no index loaded yet")
        return snapshot

    def load(self) -> LoadOutcome:
        """Load the artifact on disk and put it in service when it differs from the current one.

        Raises:
            IndexArtifactError: the artifact is missing, corrupt, built for another model or fails its warm-up
                (the index in service, if any, stays).
            ModelError: the first load could not load the embedding model.
        """
        with self._lock:
            signature = file_signature(self._path)
            current = self._snapshot
            if current is not None and signature is not None and signature == self._loaded:
                # the very file in service: nothing to read (looped ReloadIndex calls cost a stat, not a parse)
                self._last_error = ""
                return LoadOutcome(False, current.router.artifact.fingerprint, current)
            self._attempted = signature
            try:
                outcome = self._load_locked()
            except SemrouteError as exc:
                self._last_error = str(exc)
                logger.error("index load refused: %s", exc, extra={"fields": {"index": str(self._path)}})
                raise
            self._last_error = ""
            self._loaded = signature
        if outcome.changed:
            artifact = outcome.snapshot.router.artifact
            logger.info(
                "index in service",
                extra={
                    "fields": {
                        "index": str(self._path),
                        "fingerprint": artifact.fingerprint,
                        **artifact.manifest.counts.model_dump(),
                    }
                },
            )
        return outcome

    def load_if_changed(self) -> bool:
        """Load the artifact when the file changed since the last attempt; a refusal is logged, not raised.

        Returns:
            Whether a load was attempted.
        """
        if file_signature(self._path) == self._attempted:
            return False
        try:
            self.load()
        except SemrouteError:
            pass  # already logged and recorded in last_reload_error; the index in service stays
        return True

    def _load_locked(self) -> LoadOutcome:
        try:
            artifact = load_index(self._path)
        except SemrouteError:
            raise
        except Exception as exc:  # whatever else a damaged file provokes, it is refused with the reason
            raise IndexArtifactError(f"index {self._path} cannot be loaded: {exc!r}") from exc
        previous = self._snapshot
        previous_fingerprint = previous.router.artifact.fingerprint if previous else ""
        if previous is not None and artifact.fingerprint == previous_fingerprint:
            return LoadOutcome(False, previous_fingerprint, previous)
        if self._embedder is None:
            self._embedder = FastEmbedEmbedder(artifact.policy.settings.embedding, threads=self._threads)
        try:
            router = Router(artifact, self._embedder)  # raises IndexModelMismatchError for another model
            router.route(_WARM_UP)
        except SemrouteError:
            raise
        except Exception as exc:  # any other failure means the artifact cannot serve; refuse it like a corrupt one
            raise IndexArtifactError(f"index {self._path} fails its warm-up request: {exc!r}") from exc
        snapshot = Snapshot(router, datetime.now(UTC))
        self._snapshot = snapshot
        return LoadOutcome(True, previous_fingerprint, snapshot)


def file_signature(path: Path) -> FileSignature:
    """Inode, size and modification time of ``path``: ``os.replace`` of a new artifact always changes it."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns
