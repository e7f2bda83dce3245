"""The closed loop of ``make bench`` separates the callers' simultaneous start from the steady state: a caller whose
first answer is slow keeps every call that starts before it out of the steady-state latencies, so does the loop's
first fifth, throughput counts every call, and the start's p99 is reported beside the steady one."""

from __future__ import annotations

import asyncio
import math
from typing import Any, cast

from benchmarks._speed_service import Outcome, _closed_loop, _level_figures
from semroute.client import AsyncRouterClient


class _ScriptedClient:
    """Answers after the delay its script gives the text: the loop's timing logic on known latencies."""

    def __init__(self, delays: dict[str, float]) -> None:
        self._delays = delays

    async def route(self, text: str) -> None:
        await asyncio.sleep(self._delays[text])


def test_calls_that_start_before_every_caller_had_its_first_answer_are_not_steady() -> None:
    # two callers: the first task takes 0.2 s; the other caller gets through several quick ones meanwhile
    delays = {"slow": 0.2, **{f"quick{n}": 0.01 for n in range(40)}}
    tasks: list[tuple[Any, str]] = [("long", "slow"), *[("short", f"quick{n}") for n in range(40)]]
    client = cast(AsyncRouterClient, _ScriptedClient(delays))

    seconds, outcomes = asyncio.run(_closed_loop(client, tasks, concurrency=2))

    assert len(outcomes) == len(tasks) and all(outcome.code == "OK" for outcome in outcomes)
    slow = next(outcome for outcome in outcomes if outcome.kind == "long")
    assert not slow.steady
    unsteady_quick = [o for o in outcomes if o.kind == "short" and not o.steady]
    steady_quick = [o for o in outcomes if o.kind == "short" and o.steady]
    # about 0.2 s / 0.01 s of quick calls ran while the slow first call was out; the rest ran after it
    assert len(unsteady_quick) >= 5 and steady_quick
    assert seconds >= 0.2


def test_the_first_fifth_of_the_loop_is_warm_up_even_after_every_first_answer() -> None:
    delays = {f"quick{n}": 0.02 for n in range(10)}
    client = cast(AsyncRouterClient, _ScriptedClient(delays))

    _, outcomes = asyncio.run(_closed_loop(client, [("short", text) for text in delays], concurrency=1))

    # one caller: its first answer comes after 0.02 s, but the warm-up lasts a fifth of the 0.2 s loop
    steady = [outcome.steady for outcome in outcomes]
    assert steady[:2] == [False, False] and all(steady[3:])


def test_a_loop_whose_callers_did_not_all_answer_has_no_steady_state() -> None:
    client = cast(AsyncRouterClient, _ScriptedClient({"a": 0.0}))
    _, outcomes = asyncio.run(_closed_loop(client, [("short", "a")], concurrency=3))
    assert [outcome.steady for outcome in outcomes] == [False]


def test_level_figures_take_latency_percentiles_from_the_steady_state_and_throughput_from_every_call() -> None:
    burst = [Outcome("short", "OK", 0.060, steady=False) for _ in range(10)]
    steady = [Outcome("short", "OK", 0.010, steady=True) for _ in range(90)]
    refused = [Outcome("long", "RESOURCE_EXHAUSTED", 0.001, steady=True)]
    longs = [Outcome("long", "OK", 0.500, steady=True) for _ in range(20)]

    figures = _level_figures(2.0, [*burst, *steady, *refused, *longs])

    assert figures["calls"] == 121 and figures["steady_calls"] == 110
    assert figures["per_s"] == 60.0  # 120 answered in 2 s, the burst included
    assert figures["short_p99_ms"] == 10.0  # the burst is not in the steady state
    assert figures["short_p99_ms_with_start"] == 60.0
    assert figures["long_p50_ms"] == 500.0
    assert figures["not_ok"] == {"RESOURCE_EXHAUSTED": 1}


def test_a_level_without_steady_calls_reports_nan_rather_than_failing() -> None:
    figures = _level_figures(1.0, [Outcome("short", "OK", 0.01, steady=False)])
    assert figures["steady_calls"] == 0 and math.isnan(figures["p99_ms"])
    assert figures["p99_ms_with_start"] == 10.0
