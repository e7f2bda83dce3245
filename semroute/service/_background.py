"""The long lane's embedding passes, on threads of lower CPU priority than everything else the server does.

Admission keeps a short task from waiting behind a long one in the queue; this keeps it from waiting behind one in
the processor. Each embedding pass runs on one core (``embedding_threads``); a pass of long texts takes tens of
milliseconds a text, and on a machine with few cores the operating system would share a core between it and a short
task's pass, slowing the short one by half or more. Run at a higher nice value, the long pass takes only the CPU time
that short passes, gRPC and scoring leave idle, and all of it when they leave it all.

The nice value is relative: Linux shares the processor by nice value among the threads of one scheduling group (one
autogroup or cgroup, e.g. a container), so the long lane yields to the server's own threads; on a machine without
such groups it also yields to every other process. Linux only (elsewhere the nice value is per process, and the
passes run at normal priority); ``long_lane_nice=0`` turns it off.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

logger = logging.getLogger("semroute.service")

# Weight 110 against 1,024 at nice 0 (CFS): a long pass sharing a core with a short one gets a tenth of it.
DEFAULT_LONG_LANE_NICE = 10

_Result = TypeVar("_Result")


class BackgroundPasses:
    """A pool of ``threads`` threads that run passes at nice value ``nice`` (0: as the server's other threads)."""

    def __init__(self, threads: int, nice: int) -> None:
        """Start the pool; its threads are created on first use."""
        self._nice = nice if sys.platform == "linux" else 0
        self._pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="semroute-long-lane", initializer=self._lower_priority
        )

    def run(self, work: Callable[[], _Result]) -> _Result:
        """Run ``work`` on a pool thread and wait for its result (or its exception)."""
        return self._pool.submit(work).result()

    def close(self) -> None:
        """Stop taking passes; those running finish on their own."""
        self._pool.shutdown(wait=False)

    def _lower_priority(self) -> None:
        if not self._nice:
            return
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)  # Linux: this thread alone
        except OSError as error:  # a sandbox that forbids it: the passes run at normal priority
            logger.warning("cannot lower the long lane's CPU priority", extra={"fields": {"error": str(error)}})
