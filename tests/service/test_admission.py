"""Admission control on its own: bounds in work and calls, two lanes, and leaving the queue on deadline or cancel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import pytest

from semroute.service._admission import Admission, AdmissionLimits
from semroute.service._errors import CallCancelledError, DeadlineExpiredError, OverloadedError

NEVER_ENDS = threading.Event()


def active() -> bool:
    return True


@contextmanager
def held(admission: Admission, work: int) -> Iterator[float]:
    """Admit ``work`` and hold its slot until the block ends."""
    with admission.admitted(work, None, active, NEVER_ENDS) as queued:
        yield queued


def waiter(admission: Admission, work: int, started: list[str], name: str) -> threading.Thread:
    """A thread that waits for its turn, records that it started, and ends at once."""

    def run() -> None:
        with admission.admitted(work, time.monotonic() + 30, active, NEVER_ENDS):
            started.append(name)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_for(condition: Callable[[], bool], what: str) -> None:
    give_up = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < give_up, f"gave up waiting for {what}"
        time.sleep(0.005)


def test_work_beyond_the_bound_is_refused_at_once_and_the_books_balance() -> None:
    admission = Admission(AdmissionLimits(slots=4, max_calls=10, max_work=100))

    with held(admission, 60), held(admission, 40), pytest.raises(OverloadedError, match="server busy"):
        with held(admission, 1):
            pass
    assert (admission.admitted_calls, admission.admitted_work) == (0, 0)


def test_calls_beyond_the_bound_are_refused() -> None:
    admission = Admission(AdmissionLimits(slots=1, max_calls=2, max_work=1_000))

    with ExitStack() as stack:
        stack.enter_context(held(admission, 1))
        second = waiter(admission, 1, [], "second")  # admitted, waiting for the slot
        wait_for(lambda: admission.admitted_calls == 2, "the second call to queue")
        with pytest.raises(OverloadedError):
            stack.enter_context(held(admission, 1))
    second.join()


def test_a_call_larger_than_the_bound_runs_when_nothing_else_is_admitted() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=10, max_work=100))

    with held(admission, 5_000) as queued:
        assert queued < 1.0
        with pytest.raises(OverloadedError):
            with held(admission, 1):
                pass


def test_a_short_call_never_waits_behind_long_ones() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=10, max_work=20_000, short_work=128))
    started: list[str] = []

    with held(admission, 5_000):  # the long lane's only slot is taken
        long_waiting = waiter(admission, 5_000, started, "long")
        wait_for(lambda: admission.admitted_calls == 2, "the long call to queue")
        short = waiter(admission, 12, started, "short")
        short.join(timeout=10)
        assert started == ["short"]
    long_waiting.join()
    assert started == ["short", "long"]


def test_each_lane_serves_its_queue_in_arrival_order() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=10, max_work=10_000))
    started: list[str] = []

    with held(admission, 10):
        threads = []
        for count, name in enumerate(("first", "second", "third"), start=2):
            threads.append(waiter(admission, 10, started, name))
            wait_for(lambda expected=count: admission.admitted_calls == expected, f"{name} to queue")
    for thread in threads:
        thread.join()
    assert started == ["first", "second", "third"]


def test_a_call_whose_deadline_passes_in_the_queue_leaves_without_running() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=10, max_work=1_000))

    with held(admission, 10), pytest.raises(DeadlineExpiredError, match="waited its turn"):
        with admission.admitted(10, time.monotonic() + 0.05, active, NEVER_ENDS):
            pytest.fail("must not run")
    assert (admission.admitted_calls, admission.admitted_work) == (0, 0)


def test_a_cancelled_call_leaves_the_queue_at_once() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=10, max_work=1_000))
    ended = threading.Event()
    threading.Timer(0.05, ended.set).start()

    with held(admission, 10), pytest.raises(CallCancelledError):
        with admission.admitted(10, None, active, ended):
            pytest.fail("must not run")
    assert admission.admitted_calls == 0


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        AdmissionLimits(slots=0, max_calls=1, max_work=1)
    assert AdmissionLimits(slots=2, max_calls=1, max_work=1).lane_slots == {"short": 1, "long": 1}
    assert AdmissionLimits(slots=8, max_calls=1, max_work=1).lane_slots == {"short": 4, "long": 4}


def test_a_call_whose_turn_would_come_after_its_deadline_is_refused_at_once() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=10, max_work=10_000, short_work=1_000))
    with held(admission, 10):
        time.sleep(0.2)  # the lane learns: about 0.02 s per token
    started: list[str] = []

    with held(admission, 100):  # runs: about 2 s of work
        queued = waiter(admission, 100, started, "queued")  # about 2 s more
        wait_for(lambda: admission.admitted_calls == 2, "the second call to queue")
        with pytest.raises(OverloadedError, match="after its deadline"):
            with admission.admitted(10, time.monotonic() + 0.5, active, NEVER_ENDS):
                pytest.fail("must not be admitted")
        assert admission.admitted_calls == 2  # refused without taking a place
    queued.join()
    assert started == ["queued"]


def test_a_deadline_shorter_than_the_calls_own_work_is_a_deadline_not_a_busy_server() -> None:
    """On an idle server a call of 0.2 s of work with a deadline 0.05 s away used to get RESOURCE_EXHAUSTED "server
    busy ... retry with backoff": no retry can help it, and nothing was busy."""
    admission = Admission(AdmissionLimits(slots=2, max_calls=10, max_work=10_000, short_work=1_000))
    with held(admission, 10):
        time.sleep(0.2)  # the lane learns: about 0.02 s per token

    with pytest.raises(DeadlineExpiredError, match="shorter than this call's own work") as refused:
        with admission.admitted(10, time.monotonic() + 0.05, active, NEVER_ENDS):
            pytest.fail("must not be admitted")
    assert "busy" not in str(refused.value) and admission.admitted_calls == 0
    with admission.admitted(10, time.monotonic() + 5.0, active, NEVER_ENDS):  # a deadline it can meet
        assert admission.admitted_calls == 1
