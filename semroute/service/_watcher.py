"""Reload the index on one thread of its own: when its artifact file changes (polled), on SIGHUP, or for ReloadIndex.

Polling ``os.stat`` every second or so costs nothing measurable and needs no dependency; ``semroute index`` replaces
the artifact with ``os.replace``, so every new build shows as a new inode and the file is never seen half written.
Reloads never run on a request thread, and concurrent ReloadIndex calls coalesce: every call that arrives while no
reload is pending joins the next one, and all of them get its outcome.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future

from semroute.errors import SemrouteError
from semroute.service._live_router import LiveRouter, LoadOutcome

logger = logging.getLogger("semroute.service")


class ArtifactWatcher:
    """A daemon thread that reloads a :class:`LiveRouter` when its artifact changes or when asked to."""

    def __init__(self, live: LiveRouter, interval_seconds: float) -> None:
        """Watch ``live``'s artifact every ``interval_seconds``; 0 only reloads on request."""
        self._live = live
        self._interval = interval_seconds or None
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._pending: Future[LoadOutcome] | None = None
        self._forced = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="semroute-index-watcher", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def request_reload(self) -> None:
        """Reload now, whether or not the file changed (safe to call from a signal handler: it only sets flags)."""
        self._forced = True
        self._wake.set()

    def reload_now(self) -> Future[LoadOutcome]:
        """The outcome of the next reload, joining one already requested but not yet started."""
        with self._lock:
            if self._pending is None:
                self._pending = Future()
            pending = self._pending
        self.request_reload()
        return pending

    def stop(self) -> None:
        """Stop watching and wait for a reload in progress to finish."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping:
                return
            forced, self._forced = self._forced, False
            with self._lock:  # callers arriving from now on join the next reload, which will see a newer file
                waiting, self._pending = self._pending, None
            self._reload(forced, waiting)

    def _reload(self, forced: bool, waiting: Future[LoadOutcome] | None) -> None:
        try:
            if forced:
                outcome = self._live.load()
                if waiting is not None:
                    waiting.set_result(outcome)
            else:
                self._live.load_if_changed()
        except SemrouteError as error:  # refused: logged by the live router; the index in service stays
            if waiting is not None:
                waiting.set_exception(error)
        except Exception as error:
            logger.exception("unexpected error while reloading the index; the index in service stays")
            if waiting is not None:
                waiting.set_exception(error)
