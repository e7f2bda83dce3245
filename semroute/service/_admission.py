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

**Micro-batching.** A call of one text (Route) may share its slot: when a slot frees, the first call waiting in the
lane takes along the calls queued behind it in the same length group (:func:`length_group`: prefixes within a factor
of two, so that a short text is never padded to a long one), up to ``batch_texts`` texts and ``batch_tokens`` padded
tokens, and its thread embeds them all in one pass and hands each call its row. There is no timer: a call waits for
a batch only while its lane's slots are busy with the batches ahead of it, which is when more calls gather behind
it; alone, it runs at once. A call whose deadline passes or whose caller leaves while it waits is never put in a
batch; one that leaves a running batch stops waiting for it and the others get their rows all the same.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from semroute.service._errors import CallCancelledError, DeadlineExpiredError, OverloadedError

SHORT_WORK_TOKENS = 128  # a call of at most this many tokens is "short": one or a few questions
# A batch's bounds. Measured on 2 cores with one ONNX thread a pass: a short text costs 0.7-0.8 of its single cost
# from 8 texts a pass on, and nothing more is won beyond; larger batches only make the unlucky wait longer (16 short
# callers: p99/p50 of 1.7 with batches of 8, 2.2 with 16 or 32, at the same throughput). A long text costs as much in
# a batch as alone, so long texts do not share a pass (512 padded tokens: 8 texts of up to 64 tokens, 4 of 128).
BATCH_TEXTS = 8
BATCH_TOKENS = 512
SMALLEST_GROUP_TOKENS = 32  # texts up to this long share one length group: the pass's own overhead dominates them

_Item = TypeVar("_Item")
_Row = TypeVar("_Row")


def length_group(work: int) -> int:
    """The length group of a text whose embedding costs ``work`` tokens (its prefix and two special tokens): prefixes
    of up to 32 tokens, then up to 64, 128, 256...; two texts of one group differ by at most a factor of two."""
    return max(0, (work - 3).bit_length() - (SMALLEST_GROUP_TOKENS - 1).bit_length())


@dataclass(frozen=True)
class AdmissionLimits:
    """Bounds of admitted work.

    Attributes:
        slots: Calls (or batches of calls) embedding at once, both lanes together; each lane gets at least one.
        max_calls: Routing calls admitted at once, running or waiting.
        max_work: Embedding tokens admitted at once, running or waiting. One call larger than this is still admitted
            when nothing else is, so every valid request can run.
        short_work: Calls of at most this many tokens take the short lane.
        batch_texts: Calls of one text embedded together at most.
        batch_tokens: Padded tokens of a batch at most (texts times the longest); a lone call may exceed it.
    """

    slots: int
    max_calls: int
    max_work: int
    short_work: int = SHORT_WORK_TOKENS
    batch_texts: int = BATCH_TEXTS
    batch_tokens: int = BATCH_TOKENS

    def __post_init__(self) -> None:
        bounds = (self.slots, self.max_calls, self.max_work, self.short_work, self.batch_texts, self.batch_tokens)
        if min(bounds) < 1:
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
    group: int | None = None  # length group of a call that may share its slot; None: it runs alone
    item: Any = None  # what the batch needs from this call (the text to embed)
    deadline: float | None = None
    is_active: Callable[[], bool] | None = None
    wake: threading.Event | None = None  # rung when a batched call's turn comes or its batch ends
    running: bool = False
    started: float = 0.0  # time.monotonic() when it began running
    batch: _Batch | None = None
    left: bool = False  # taken out of the queue by its own thread, which gave up waiting

    def gone(self, now: float) -> bool:
        """Whether nobody waits for this call any more (deadline passed, or the caller left)."""
        late = self.deadline is not None and now >= self.deadline
        return late or (self.is_active is not None and not self.is_active())


@dataclass(eq=False)
class _Batch:
    lane: str
    members: list[_Ticket]
    started: float
    work: int
    done: bool = False
    rows: Sequence[Any] = ()
    error: BaseException | None = None


@dataclass(frozen=True)
class Turn(Generic[_Row]):
    """What a batched call got: its row of the batch's result, and how it went.

    Attributes:
        row: This call's row of what the batch's leader computed.
        queued_seconds: Time from admission to the batch's start.
        batch_size: Calls in the batch, this one included.
        led: Whether this call's thread ran the batch.
    """

    row: _Row
    queued_seconds: float
    batch_size: int
    led: bool


RATE_WEIGHT = 0.2  # weight of the latest call in a lane's moving average of seconds per token
# The estimate is an average and calls vary: shedding a call whose expected finish is within a quarter of its deadline
# costs little, admitting one that then misses it costs its whole work.
SHED_MARGIN = 1.25


@dataclass
class _Lane:
    slots: int
    queue: deque[_Ticket] = field(default_factory=deque)
    running: int = 0  # slots in use: calls running alone, and batches
    running_work: int = 0
    seconds_per_token: float | None = None


class Admission:
    """Admits, queues, batches and schedules routing calls within :class:`AdmissionLimits` (thread-safe)."""

    def __init__(self, limits: AdmissionLimits) -> None:
        """Start with nothing admitted."""
        self.limits = limits
        self._condition = threading.Condition()
        self._lanes = {name: _Lane(slots) for name, slots in limits.lane_slots.items()}
        self._calls = 0
        self._work = 0

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
        """Admit a call of ``work`` tokens, wait for its turn, and hold a slot of its own while the body runs.

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
        ticket = self._admit(_Ticket(work, self.lane_of(work)), deadline)
        queued_at = time.monotonic()
        try:
            self._wait_for_turn(ticket, deadline, is_active, wake)
            yield time.monotonic() - queued_at
        finally:
            self._release(ticket)

    @contextmanager
    def batched(
        self,
        work: int,
        item: _Item,
        run: Callable[[list[_Item]], Sequence[_Row]],
        deadline: float | None,
        is_active: Callable[[], bool],
        wake: threading.Event,
    ) -> Iterator[Turn[_Row]]:
        """Admit a call of one item, have it computed in a batch with others of its lane and length group, and hold
        the call's admission while the body runs (the slot is the batch's, and is freed when the batch ends).

        Args:
            work: Tokens the item costs to embed.
            item: What ``run`` needs from this call.
            run: Computes the rows of a batch's items, in order; called on the thread of the batch's first call.
            deadline: ``time.monotonic()`` by which the caller stops waiting; None for no deadline.
            is_active: Whether the caller is still waiting for the answer.
            wake: Set when the call ends early; the admission also sets it (and clears it) to signal the call's turn
                and its batch's end.

        Yields:
            This call's row of the batch's result, and how it was computed.

        Raises:
            OverloadedError: admitting the call would exceed the limits.
            DeadlineExpiredError: the deadline passed while the call waited for a batch.
            CallCancelledError: the caller went away while the call waited.
            Exception: whatever ``run`` raised, in every call of the batch.
        """
        lane = self.lane_of(work)
        ticket = _Ticket(work, lane, length_group(work), item, deadline, is_active, wake)
        ticket = self._admit(ticket, deadline)
        queued_at = time.monotonic()
        try:
            batch = self._wait_for_batch(ticket, deadline, is_active, wake)
            queued = batch.started - queued_at
            led = batch.members[0] is ticket
            if led:
                self._run_batch(batch, run)
            else:
                self._wait_for_rows(batch, is_active, wake)
            if batch.error is not None:
                raise batch.error
            position = batch.members.index(ticket)
            yield Turn(batch.rows[position], max(0.0, queued), len(batch.members), led)
        finally:
            self._release(ticket)

    @contextmanager
    def counted(self) -> Iterator[None]:
        """Admit a call that embeds nothing (its vector was cached) within ``max_calls``, without taking a slot.

        Raises:
            OverloadedError: the calls admitted are at their bound.
        """
        with self._condition:
            if self._calls and self._calls + 1 > self.limits.max_calls:
                raise OverloadedError(f"server busy: {self._calls} calls already admitted; retry with backoff")
            self._calls += 1
        try:
            yield
        finally:
            with self._condition:
                self._calls -= 1

    def lane_of(self, work: int) -> str:
        """The lane of a call of ``work`` tokens: ``short`` or ``long``."""
        return "short" if work <= self.limits.short_work else "long"

    def _admit(self, ticket: _Ticket, deadline: float | None) -> _Ticket:
        limits, work = self.limits, ticket.work
        with self._condition:
            if self._calls and (self._calls + 1 > limits.max_calls or self._work + work > limits.max_work):
                raise OverloadedError(
                    f"server busy: {self._calls} calls ({self._work:,} tokens of embedding) already admitted; "
                    "retry with backoff or send smaller batches"
                )
            expected = self._expected_seconds(ticket.lane, work)
            if deadline is not None and expected is not None:
                ahead, own = expected
                left = deadline - time.monotonic()
                if SHED_MARGIN * own > left:  # even alone it would miss its deadline: waiting or retrying cannot help
                    raise DeadlineExpiredError(
                        f"the call's deadline ({max(left, 0.0) * 1000:.0f} ms left) is shorter than this call's own "
                        f"work (about {own * 1000:.0f} ms): give it a longer deadline"
                    )
                if SHED_MARGIN * (ahead + own) > left:
                    raise OverloadedError(
                        f"server busy: this call would finish in about {ahead + own:.1f} s, after its deadline; "
                        "retry with backoff or a longer deadline"
                    )
            self._calls += 1
            self._work += work
            self._lanes[ticket.lane].queue.append(ticket)
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

    def _wait_for_batch(
        self, ticket: _Ticket, deadline: float | None, is_active: Callable[[], bool], wake: threading.Event
    ) -> _Batch:
        """Wait, on the call's own doorbell, until the call is put in a batch."""
        while True:
            with self._condition:  # leaving and being put in a batch exclude each other: a batch never lacks its leader
                if ticket.batch is not None:
                    return ticket.batch
                remaining = None if deadline is None else deadline - time.monotonic()
                if not is_active() or (remaining is not None and remaining <= 0):
                    self._lanes[ticket.lane].queue.remove(ticket)
                    ticket.left = True
                    if remaining is not None and remaining <= 0:
                        raise DeadlineExpiredError("the call's deadline passed while it waited for a batch")
                    raise CallCancelledError("the caller cancelled the call while it waited for a batch")
            wake.wait(remaining)
            wake.clear()  # the state is read again above: a ring after this point rings again

    def _wait_for_rows(self, batch: _Batch, is_active: Callable[[], bool], wake: threading.Event) -> None:
        while not batch.done:
            if not is_active():
                raise CallCancelledError("the caller cancelled the call while its batch ran")
            wake.wait()
            wake.clear()

    def _run_batch(self, batch: _Batch, run: Callable[[list[Any]], Sequence[Any]]) -> None:
        rows: Sequence[Any] = ()
        error: BaseException | None = None
        try:
            rows = run([member.item for member in batch.members])
            if len(rows) != len(batch.members):
                raise RuntimeError(f"a batch of {len(batch.members)} items computed {len(rows)} rows")
        except BaseException as exc:  # every member gets it; the leader re-raises it
            error = exc
        with self._condition:
            batch.rows, batch.error, batch.done = rows, error, True
            lane = self._lanes[batch.lane]
            lane.running -= 1
            lane.running_work -= batch.work
            self._measure(batch.lane, batch.started, batch.work)
            for member in batch.members[1:]:
                if member.wake is not None:
                    member.wake.set()
            self._start_waiting_calls()

    def _expected_seconds(self, lane_name: str, work: int) -> tuple[float, float] | None:
        """How long a new call of ``work`` tokens would take: the lane's work ahead of it shared among its slots, and
        its own; None until the lane has run a call to measure."""
        lane = self._lanes[lane_name]
        rate = lane.seconds_per_token
        if rate is None:
            return None
        ahead = sum(ticket.work for ticket in lane.queue)
        busy = lane.running_work if lane.running >= lane.slots else 0
        return rate * (ahead + busy) / lane.slots, rate * work

    def _release(self, ticket: _Ticket) -> None:
        with self._condition:
            lane = self._lanes[ticket.lane]
            if ticket.running and ticket.group is None:
                lane.running -= 1
                lane.running_work -= ticket.work
                self._measure(ticket.lane, ticket.started, ticket.work)
            elif not ticket.running and not ticket.left:
                lane.queue.remove(ticket)
            self._calls -= 1
            self._work -= ticket.work
            self._start_waiting_calls()

    def _start_waiting_calls(self) -> None:
        now = time.monotonic()
        for name, lane in self._lanes.items():
            while lane.running < lane.slots:
                head = next((ticket for ticket in lane.queue if not ticket.gone(now)), None)
                if head is None:
                    break
                lane.queue.remove(head)
                lane.running += 1
                if head.group is None:
                    head.running, head.started = True, now
                    lane.running_work += head.work
                    continue
                members = [head, *self._gather(lane.queue, head, now)]
                batch = _Batch(name, members, now, sum(member.work for member in members))
                lane.running_work += batch.work
                for member in members:
                    member.running, member.started, member.batch = True, now, batch
                    if member.wake is not None:
                        member.wake.set()
        self._condition.notify_all()

    def _gather(self, queue: deque[_Ticket], head: _Ticket, now: float) -> list[_Ticket]:
        """The calls queued behind ``head`` that join its batch, taken out of the queue: same length group, callers
        still waiting, within the batch's bounds; arrival order is kept."""
        taken: list[_Ticket] = []
        widest = head.work
        for ticket in list(queue):
            if 1 + len(taken) >= self.limits.batch_texts:
                break
            if ticket.group != head.group or ticket.gone(now):
                continue
            wider = max(widest, ticket.work)
            if (2 + len(taken)) * wider > self.limits.batch_tokens:
                continue
            widest = wider
            taken.append(ticket)
            queue.remove(ticket)
        return taken

    def _measure(self, lane_name: str, started: float, work: int) -> None:
        """Fold a finished call's (or batch's) seconds per token into its lane's moving average."""
        lane = self._lanes[lane_name]
        latest = (time.monotonic() - started) / max(1, work)
        previous = lane.seconds_per_token
        lane.seconds_per_token = latest if previous is None else (1 - RATE_WEIGHT) * previous + RATE_WEIGHT * latest
