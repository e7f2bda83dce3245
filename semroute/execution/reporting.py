"""Reporting each completion to the service in the background: it never blocks or fails the caller's completion.

Reports wait in a bounded queue (:data:`REPORT_QUEUE`); a full queue drops the report and counts it, and a report the
service refuses (no outcome store, a store that is down) is counted as failed. The blocking client sends from one
daemon thread; the asyncio client from tasks on its own event loop, at most :data:`REPORT_QUEUE` of them at once
(reports in flight when that loop ends are lost: counted as dropped, with a warning). :class:`ReportCounters` says
what happened to every report.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from grpc import aio

from semroute.errors import SemrouteError
from semroute.types import Attempt

REPORT_QUEUE = 1024  # completions whose report may wait to be sent; more are dropped and counted
CLOSE_SECONDS = 2.0  # how long closing the client waits for reports still queued
# Reports the asyncio client sends at once; the others wait their turn in their task. The server bounds the reports
# one connection may have waiting for a commit (serve --max-reports-per-caller, 8 by default): a burst above it would
# be refused with RESOURCE_EXHAUSTED.
REPORTS_IN_FLIGHT = 4

logger = logging.getLogger("semroute.client")


@dataclass(frozen=True)
class PendingReport:
    """What one completion reports: its decision, every attempt, and whether an output was accepted."""

    decision_id: str
    attempts: tuple[Attempt, ...]
    accepted: bool
    labels: Mapping[str, str] = field(default_factory=dict)  # e.g. semroute.refused: constraint


@dataclass(frozen=True)
class ReportCounters:
    """What happened to the reports of this client's completions."""

    sent: int = 0  # acknowledged by the service (committed to its outcome store)
    dropped: int = 0  # the queue was full, or (asyncio) the event loop ended before it was sent
    failed: int = 0  # the service refused or could not be reached


class _Tally:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = {"sent": 0, "dropped": 0, "failed": 0}

    def add(self, what: str) -> None:
        with self._lock:
            self._counts[what] += 1

    def counters(self) -> ReportCounters:
        with self._lock:
            return ReportCounters(**self._counts)


def _outcome_of(send_error: BaseException | None, report: PendingReport, tally: _Tally) -> None:
    if send_error is None:
        tally.add("sent")
        return
    tally.add("failed")
    logger.debug(
        "outcome report not recorded", extra={"fields": {"decision_id": report.decision_id, "error": str(send_error)}}
    )


class ThreadReporter:
    """Sends reports from a daemon thread through ``send`` (the blocking client's ``report_outcome``)."""

    def __init__(self, send: Callable[[PendingReport], None]) -> None:
        """Start with an empty queue; the thread starts with the first report."""
        self._send = send
        self._queue: queue.Queue[PendingReport | None] = queue.Queue(maxsize=REPORT_QUEUE)
        self._tally = _Tally()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def counters(self) -> ReportCounters:
        """What happened to the reports so far."""
        return self._tally.counters()

    def submit(self, report: PendingReport) -> None:
        """Queue ``report``; drop and count it when the queue is full or the reporter closed. Never blocks, never
        raises."""
        if self._closed:  # a stream finalised after close(): no thread will send it
            self._tally.add("dropped")
            logger.warning(
                "outcome report of decision %s was lost: it came after the client was closed; read or close its "
                "stream before closing the client",
                report.decision_id,
            )
            return
        self._start()
        try:
            self._queue.put_nowait(report)
        except queue.Full:
            self._tally.add("dropped")

    def close(self, seconds: float = CLOSE_SECONDS) -> None:
        """Send what is queued, for at most ``seconds``, then stop."""
        self._closed = True
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=seconds)
        except queue.Full:
            return
        self._thread.join(seconds)

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="semroute-reports", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while (report := self._queue.get()) is not None:
            try:
                self._send(report)
            except (SemrouteError, OSError, ValueError) as error:
                _outcome_of(error, report, self._tally)
            else:
                _outcome_of(None, report, self._tally)


class TaskReporter:
    """Sends reports as tasks on the running event loop through ``send`` (the asyncio client's
    ``report_outcome``).

    The tasks live and die with the caller's loop: a loop that ends (``asyncio.run`` returning) before the client is
    closed cancels the reports still in flight. Each is then counted as dropped and a warning is logged naming its
    decision and the fix (close the client before the loop ends), rather than losing it in silence.
    """

    def __init__(self, send: Callable[[PendingReport], Awaitable[None]]) -> None:
        """Start with no report in flight."""
        self._send = send
        self._tasks: set[asyncio.Task[None]] = set()
        self._tally = _Tally()
        self._turns: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    @property
    def counters(self) -> ReportCounters:
        """What happened to the reports so far."""
        return self._tally.counters()

    def submit(self, report: PendingReport) -> None:
        """Start sending ``report``; drop and count it when too many are in flight. Never blocks, never raises."""
        if len(self._tasks) >= REPORT_QUEUE:
            self._tally.add("dropped")
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a stream finalised after its loop ended
            self._lost(report, "no event loop was running to send it")
            return
        task = loop.create_task(self._deliver(report), name=f"semroute-report-{report.decision_id}")
        self._tasks.add(task)  # a reference: the loop keeps only weak ones
        task.add_done_callback(functools.partial(self._delivered, report))

    async def close(self, seconds: float = CLOSE_SECONDS) -> None:
        """Wait for the reports in flight, for at most ``seconds``."""
        # A stream abandoned just before (an async generator dropped after a break) is closed, and reports, in a task
        # the loop creates for it one step later, which starts one step after that: let both steps run first.
        for _ in range(2):
            await asyncio.sleep(0)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=seconds)

    async def _deliver(self, report: PendingReport) -> None:
        loop = asyncio.get_running_loop()
        if self._turns is None or self._turns[0] is not loop:  # a semaphore serves the loop it was first used on
            self._turns = (loop, asyncio.Semaphore(REPORTS_IN_FLIGHT))
        try:
            async with self._turns[1]:
                await self._send(report)
        except (SemrouteError, OSError, ValueError, aio.UsageError) as error:  # UsageError: the client was closed
            _outcome_of(error, report, self._tally)
        else:
            _outcome_of(None, report, self._tally)

    def _delivered(self, report: PendingReport, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            self._lost(report, "the event loop ended, cancelling it, before the service acknowledged it")

    def _lost(self, report: PendingReport, why: str) -> None:
        self._tally.add("dropped")
        logger.warning(
            "outcome report of decision %s was lost: %s; close the client before its event loop ends "
            "(async with AsyncRouterClient(...) as client, or await client.close()), which waits for reports in "
            "flight",
            report.decision_id,
            why,
        )
