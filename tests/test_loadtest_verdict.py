"""The load test's verdict on a phase, from hand-made calls: one call still running when the phase ends is no
backlog, however few calls its class had; several are, below 95 % delivered."""

from __future__ import annotations

from benchmarks._loadgen import Mix, Outcome, Usage
from benchmarks.loadtest import phase_figures

SECONDS = 5.0
USAGE = (Usage(0.0, 0.0, 0.0, 0.0, 300.0), Usage(1.0, 0.1, 1.2, SECONDS, 300.0))
UNLOADED = {"short": 7.0, "long": 45.0}


def _phase(long_ended: list[float]) -> list[str]:
    shorts = [Outcome("short", "OK", 0.008, 0.0, 0.1 * n) for n in range(1, 40)]
    longs = [Outcome("long", "OK", 0.045, 0.0, ended) for ended in long_ended]
    return phase_figures("search", Mix(17.0, SECONDS, 0.8), [*shorts, *longs], USAGE, UNLOADED).backlogged


def test_one_long_call_running_past_the_phase_end_is_no_backlog() -> None:
    # 16 of 17 long calls ended within the phase (94 %): the last one arrived in its final 45 ms
    assert _phase([0.3 * n for n in range(1, 17)] + [SECONDS + 0.02]) == []


def test_several_calls_running_past_the_phase_end_are_a_backlog() -> None:
    signs = _phase([0.3 * n for n in range(1, 15)] + [SECONDS + 0.02, SECONDS + 0.3, SECONDS + 0.6])
    assert signs == ["long delivered 82%"]
