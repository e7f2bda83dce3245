"""Reload the index when its artifact file changes (polled) or when asked to (SIGHUP).

Polling ``os.stat`` every second or so costs nothing measurable and needs no dependency; ``semroute index`` replaces
the artifact with ``os.replace``, so every new build shows as a new inode and the file is never seen half written.
"""

from __future__ import annotations

import logging
import threading

from semroute.errors import SemrouteError
from semroute.service._live_router import LiveRouter

logger = logging.getLogger("semroute.service")


class ArtifactWatcher:
    """A daemon thread that reloads a :class:`LiveRouter` when its artifact changes or on :meth:`request_reload`."""

    def __init__(self, live: LiveRouter, interval_seconds: float) -> None:
        """Watch ``live``'s artifact every ``interval_seconds``; 0 only reloads on request."""
        self._live = live
        self._interval = interval_seconds or None
        self._wake = threading.Event()
        self._forced = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="semroute-index-watcher", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def request_reload(self) -> None:
        """Reload now, whether or not the file changed (safe to call from a signal handler)."""
        self._forced = True
        self._wake.set()

    def stop(self) -> None:
        """Stop watching and wait for a reload in progress to finish."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping:
                return
            forced, self._forced = self._forced, False
            try:
                if forced:
                    self._live.load()
                else:
                    self._live.load_if_changed()
            except SemrouteError:
                pass  # refused: logged by the live router; the index in service stays
            except Exception:
                logger.exception("unexpected error while reloading the index; the index in service stays")
