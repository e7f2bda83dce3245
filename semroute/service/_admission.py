"""Admission control: how much routing work the server takes on, and in which order it runs.

Work is counted in what it costs, the tokens to embed (each text's prefix, at most the model's ``max_tokens``), not
in calls: a batch of 256 long texts is two thousand times the work of one short question. The server admits a call
only while the work it has admitted (running or waiting) stays within ``max_work`` and the calls within
``max_calls``; anything beyond is refused at once with RESOURCE_EXHAUSTED, so overload sheds load instead of
slowing every caller, and whatever was admitted is small enough to finish within the shutdown grace period.

Admitted calls run ``slots`` at a time, in two lanes so that a short task never waits behind a long one: calls of at
most ``short_work`` tokens take the short lane, the rest the long lane; each lane has its own slots and serves its
queue in arrival order. A call that waits past its deadline, or whose caller cancels, leaves the queue without
running.

The bounds alone would admit calls that cannot finish in time: a queue of long texts takes seconds to clear, longer
than a caller's 2 s deadline. So each lane also measures how long its work takes (seconds per token, a moving
average of the calls it ran) and refuses at once, with RESOURCE_EXHAUSTED, a call whose turn would come only after
its deadline: shedding then costs the caller nothing, where admitting it would cost the work of a call nobody reads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from semroute.service._errors import CallCancelledError, DeadlineExpiredError, OverloadedError

SHORT_WORK_TOKENS = 128  # a call of at most this many tokens is "short": one or a few questions


@dataclass(frozen=True)
class AdmissionLimits:
    """Bounds of admitted work.

    Attributes:
        slots: Calls embedding at once (both lanes together; each lane gets at least one).
        max_calls: Routing calls admitted at once, running or waiting.
        max_work: Embedding tokens admitted at once, running or waiting. One call larger than this is still admitted
            when nothing else is, so every valid request can run.
        short_work: Calls of at most this many tokens take the short lane.
    """

    slots: int
    max_calls: int
    max_work: int
    short_work: int = SHORT_WORK_TOKENS

    def __post_init__(self) -> None:
        if min(self.slots, self.max_calls, self.max_work, self.short_work) < 1:
            raise ValueError(f"admission limits must all be at least 1, got {self}")

    @property
    def lane_slots(self) -> dict[str, int]:
        """Slots of each lane: the long lane never takes every slot, the short lane at least one."""
        long_slots = max(1, self.slots // 2)
        return {"short": max(1, self.slots - long_slots), "long": long_slots}


@dataclass(eq=False)  # identity: two waiting calls of the same size are still two calls
class _Ticket:
    work: int
    lane: str
    running: bool = False
    started: float = 0.0  # time.monotonic() when it began running


RATE_WEIGHT = 0.2  # weight of the latest call in a lane's moving average of seconds per token
# The estimate is an average and calls vary: shedding a call whose expected finish is within a quarter of its deadline
# costs little, admitting one that then misses it costs its whole work.
SHED_MARGIN = 1.25


class Admission:
    """Admits, queues and schedules routing calls within :class:`AdmissionLimits` (thread-safe)."""

    def __init__(self, limits: AdmissionLimits) -> None:
        """Start with nothing admitted."""
        self.limits = limits
        self._condition = threading.Condition()
        self._queues: dict[str, deque[_Ticket]] = {lane: deque() for lane in limits.lane_slots}
        self._running: dict[str, int] = dict.fromkeys(limits.lane_slots, 0)
        self._calls = 0
        self._work = 0
        self._seconds_per_token: dict[str, float | None] = dict.fromkeys(limits.lane_slots)
        self._running_work_by_lane: dict[str, int] = dict.fromkeys(limits.lane_slots, 0)

    @property
    def admitted_calls(self) -> int:
        """Calls admitted now, running or waiting."""
        return self._calls

    @property
    def admitted_work(self) -> int:
        """Tokens admitted now, running or waiting."""
        return self._work

    @contextmanager
    def admitted(
        self, work: int, deadline: float | None, is_active: Callable[[], bool], wake: threading.Event
    ) -> Iterator[float]:
        """Admit a call of ``work`` tokens, wait for its turn, and hold a slot while the body runs.

        Args:
            work: Tokens the call will embed.
            deadline: ``time.monotonic()`` by which the caller stops waiting; None for no deadline.
            is_active: Whether the caller is still waiting for the answer.
            wake: Set when the call ends early (cancelled), to stop waiting at once.

        Yields:
            Seconds the call waited in the queue.

        Raises:
            OverloadedError: admitting the call would exceed the limits.
            DeadlineExpiredError: the deadline passed while the call waited.
            CallCancelledError: the caller went away while the call waited.
        """
        ticket = self._admit(work, deadline)
        queued_at = time.monotonic()
        try:
            self._wait_for_turn(ticket, deadline, is_active, wake)
            yield time.monotonic() - queued_at
        finally:
            self._release(ticket)

    def _admit(self, work: int, deadline: float | None) -> _Ticket:
        limits = self.limits
        lane = "short" if work <= limits.short_work else "long"
        with self._condition:
            if self._calls and (self._calls + 1 > limits.max_calls or self._work + work > limits.max_work):
                raise OverloadedError(
                    f"server busy: {self._calls} calls ({self._work:,} tokens of embedding) already admitted; "
                    "retry with backoff or send smaller batches"
                )
            wait = self._expected_seconds(lane, work)
            if deadline is not None and wait is not None and time.monotonic() + SHED_MARGIN * wait > deadline:
                raise OverloadedError(
                    f"server busy: this call would finish in about {wait:.1f} s, after its deadline; "
                    "retry with backoff or a longer deadline"
                )
            ticket = _Ticket(work, lane)
            self._calls += 1
            self._work += work
            self._queues[ticket.lane].append(ticket)
            self._start_waiting_calls()
            return ticket

    def _wait_for_turn(
        self, ticket: _Ticket, deadline: float | None, is_active: Callable[[], bool], wake: threading.Event
    ) -> None:
        with self._condition:
            while not ticket.running:
                if not is_active() or wake.is_set():
                    raise CallCancelledError("the caller cancelled the call while it waited its turn")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise DeadlineExpiredError("the call's deadline passed while it waited its turn")
                # woken by every release; the timeout bounds how late a cancellation is noticed
                self._condition.wait(0.05 if remaining is None else min(remaining, 0.05))

    def _expected_seconds(self, lane: str, work: int) -> float | None:
        """When a new call of ``work`` tokens would finish: the lane's work ahead of it shared among its slots, then
        its own; None until the lane has run a call to measure."""
        rate = self._seconds_per_token[lane]
        if rate is None:
            return None
        ahead = sum(ticket.work for ticket in self._queues[lane])
        slots = self.limits.lane_slots[lane]
        busy = self._running_work_by_lane[lane] if self._running[lane] >= slots else 0
        return rate * (ahead + busy) / slots + rate * work

    def _release(self, ticket: _Ticket) -> None:
        with self._condition:
            if ticket.running:
                self._running[ticket.lane] -= 1
                self._running_work_by_lane[ticket.lane] -= ticket.work
                self._measure(ticket)
            else:
                self._queues[ticket.lane].remove(ticket)
            self._calls -= 1
            self._work -= ticket.work
            self._start_waiting_calls()
            self._condition.notify_all()

    def _start_waiting_calls(self) -> None:
        for lane, slots in self.limits.lane_slots.items():
            queue = self._queues[lane]
            while queue and self._running[lane] < slots:
                ticket = queue.popleft()
                ticket.running, ticket.started = True, time.monotonic()
                self._running[lane] += 1
                self._running_work_by_lane[lane] += ticket.work
        self._condition.notify_all()

    def _measure(self, ticket: _Ticket) -> None:
        """Fold a finished call's seconds per token into its lane's moving average."""
        latest = (time.monotonic() - ticket.started) / max(1, ticket.work)
        previous = self._seconds_per_token[ticket.lane]
        self._seconds_per_token[ticket.lane] = (
            latest if previous is None else (1 - RATE_WEIGHT) * previous + RATE_WEIGHT * latest
        )
