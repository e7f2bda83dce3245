"""Admission control's micro-batches on their own: who shares a pass, within which bounds, and what each call gets."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from semroute.service._admission import Admission, AdmissionLimits, length_group
from semroute.service._errors import OverloadedError

NEVER_ENDS = threading.Event()


def active() -> bool:
    return True


class Passes:
    """A pass function that records the items of every pass and answers each item with its double."""

    def __init__(self) -> None:
        self.items: list[list[int]] = []
        self.failure: Exception | None = None

    def __call__(self, items: list[int]) -> Sequence[int]:
        self.items.append(items)
        if self.failure is not None:
            raise self.failure
        return [2 * item for item in items]


@contextmanager
def short_lane_held(admission: Admission) -> Iterator[None]:
    """Hold the short lane's only slot (``slots=2``) with a call of its own until the block ends."""
    with admission.admitted(1, None, active, NEVER_ENDS):
        yield


def batched_calls(admission: Admission, passes: Passes, items: Sequence[tuple[int, int]]) -> tuple[list[Any], Any]:
    """A thread per ``(work, item)`` pair, started in order (each admitted before the next starts); their outcomes
    (``(row, batch size)`` or the exception) by position, and a function that joins them."""
    outcomes: list[Any] = [None] * len(items)
    threads = []

    def call(position: int, work: int, item: int) -> None:
        try:
            with admission.batched(work, item, passes, time.monotonic() + 30, active, threading.Event()) as turn:
                outcomes[position] = (turn.row, turn.batch_size)
        except Exception as error:
            outcomes[position] = error

    for position, (work, item) in enumerate(items):
        expected = admission.admitted_calls + 1
        thread = threading.Thread(target=call, args=(position, work, item))
        thread.start()
        threads.append(thread)
        wait_for(lambda expected=expected: admission.admitted_calls >= expected, f"call {position} to be admitted")

    def join() -> None:
        for thread in threads:
            thread.join(timeout=30)

    return outcomes, join


def wait_for(condition: Callable[[], bool], what: str) -> None:
    give_up = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < give_up, f"gave up waiting for {what}"
        time.sleep(0.005)


def test_calls_waiting_together_share_one_pass_in_arrival_order_and_each_gets_its_row() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=20, max_work=1_000))
    passes = Passes()

    with short_lane_held(admission):
        outcomes, join = batched_calls(admission, passes, [(10, item) for item in (3, 1, 4, 1, 5)])
    join()

    assert passes.items == [[3, 1, 4, 1, 5]]
    assert outcomes == [(6, 5), (2, 5), (8, 5), (2, 5), (10, 5)]
    assert (admission.admitted_calls, admission.admitted_work) == (0, 0)


def test_a_call_that_finds_its_lane_idle_runs_at_once_alone() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=20, max_work=1_000))
    passes = Passes()

    with admission.batched(10, 7, passes, None, active, threading.Event()) as turn:
        assert (turn.row, turn.batch_size, turn.led) == (14, 1, True)
    assert passes.items == [[7]]


def test_passes_respect_the_bounds_in_texts_and_padded_tokens() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=20, max_work=10_000, batch_texts=3, batch_tokens=100))
    passes = Passes()

    with short_lane_held(admission):
        outcomes, join = batched_calls(admission, passes, [(10, 1), (10, 2), (10, 3), (10, 4), (30, 5), (34, 6)])
    join()

    # 3 texts at most; then 3 texts padded to 34 tokens would be over 100
    assert passes.items == [[1, 2, 3], [4, 5], [6]]
    assert all(not isinstance(outcome, Exception) for outcome in outcomes)


def test_texts_of_different_length_groups_never_share_a_pass() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=20, max_work=10_000))
    passes = Passes()
    works = {1: 12, 2: 60, 3: 20, 4: 100, 5: 64}  # groups: up to 32 tokens of prefix, 64, 128

    with short_lane_held(admission):
        _, join = batched_calls(admission, passes, [(work, item) for item, work in works.items()])
    join()

    assert passes.items == [[1, 3], [2, 5], [4]]
    assert [length_group(work) for work in (12, 34, 35, 66, 67, 130, 131, 258)] == [0, 0, 1, 1, 2, 2, 3, 3]


def test_short_and_long_calls_take_their_own_lanes_and_passes() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=20, max_work=10_000, batch_tokens=1_000))
    passes = Passes()

    with short_lane_held(admission), admission.admitted(500, None, active, NEVER_ENDS):  # both lanes busy
        _, join = batched_calls(admission, passes, [(200, 1), (10, 2), (258, 3), (12, 4)])
    join()

    assert sorted(passes.items) == [[1, 3], [2, 4]]


def test_a_failed_pass_fails_every_call_of_its_batch_and_the_books_balance() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=20, max_work=1_000))
    passes = Passes()
    passes.failure = RuntimeError("the model broke")

    with short_lane_held(admission):
        outcomes, join = batched_calls(admission, passes, [(10, 1), (10, 2), (10, 3)])
    join()

    assert len(passes.items) == 1
    assert [str(outcome) for outcome in outcomes] == ["the model broke"] * 3
    assert (admission.admitted_calls, admission.admitted_work) == (0, 0)


def test_a_counted_call_takes_a_place_among_the_calls_but_no_slot() -> None:
    admission = Admission(AdmissionLimits(slots=2, max_calls=2, max_work=1_000))

    with short_lane_held(admission), admission.counted():
        assert admission.admitted_calls == 2
        with pytest.raises(OverloadedError, match="server busy"), admission.counted():
            pass
    with admission.counted(), admission.batched(10, 1, Passes(), None, active, threading.Event()) as turn:
        assert turn.row == 2  # the slot was free: a counted call holds none
    assert admission.admitted_calls == 0
