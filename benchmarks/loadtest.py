"""Load test of the gRPC service: finds the saturation rate with a realistic mix, holds it, and checks the targets.

Run with ``make loadtest`` (``python -m benchmarks.loadtest``; ``--quick`` for a smoke run). It starts the real
server (``semroute serve``) on a free loopback port, drives it with a load generator of its own (grpc.aio,
:mod:`benchmarks._loadgen`), prints one table row per phase and ends with one JSON line of the key figures (all of
them go to ``--out``):

1. unloaded: one call at a time, for each length class's unloaded p50;
2. search: Poisson arrivals at a rate rising x1.25 a step, then a bisection between the highest rate the server kept
   up with and the lowest it did not. It kept up when no call failed and each class's calls ended at 95 % or more
   of the rate they arrived, with p99 under a quarter of the deadline (a longer queue is not stable);
3. hold: that rate for ``--hold-seconds``, with the server's RSS at start and end. A minute can build a queue that
   five seconds do not: when the hold does not keep up, it is held again half a step lower (three holds at most),
   and the saturation rate is the last one held. The targets are judged on it: no errors; each class's p99 within
   5x its unloaded p50; RSS growth under 5 %;
4. alone: the short tasks of the hold without the long ones, so that the two p99s tell how much the long tasks delay
   the short ones;
5. overload: twice the saturation rate, where the only error the targets allow is RESOURCE_EXHAUSTED.

Open loop, because a closed loop (N callers, each waiting for its answer) slows its own arrivals down as the server
slows, so it never offers more than the server takes and hides queueing (coordinated omission). Here arrivals keep
their schedule whatever the server does, as independent callers would; every call's 2 s deadline bounds the calls
in flight. Calls go through the generated stub on a raw channel with retries off, not through ``AsyncRouterClient``,
whose retries of UNAVAILABLE would hide failures this test must count.

The generator shares the machine with the server, and the machine may be shared with other work: each row shows the
CPU the server, the generator and everything else used (in cores) and how late the generator sent its calls. A phase
starts once the machine is quiet and runs again when other processes took CPU meanwhile (``--busy-retries``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks._loadgen import (
    BUSY_MACHINE_CORES,
    DEADLINE_SECONDS,
    KINDS,
    Kind,
    Mix,
    Outcome,
    ServerProcess,
    Usage,
    Workload,
    nearest_rank_ms,
    one_at_a_time,
    open_channel,
    poisson_arrivals,
    quiet_machine,
    running_server,
    wait_until_serving,
)
from semroute.environment import default_index_path
from semroute.v1 import router_pb2_grpc

P99_OVER_UNLOADED_P50_LIMIT = 5.0  # target: a class's p99 at saturation within 5x its unloaded p50
MIN_DELIVERED_SHARE = 0.95  # a phase kept up when calls ended within it at 95 % of the rate they arrived
# ... and with each class's p99 under a quarter of the deadline: a queue that grew that long within one step is
# not stable, and held for a minute it ends in DEADLINE_EXCEEDED
MAX_STABLE_P99_MS = DEADLINE_SECONDS * 1000 / 4
RSS_GROWTH_LIMIT_PCT = 5.0  # target: the server's RSS grows less than this over the hold
STEP_FACTOR = 1.25  # the search raises the offered rate by this factor a step
OVERLOAD_FACTOR = 2.0  # the overload phase offers this multiple of the saturation rate
ALLOWED_BEYOND_SATURATION = frozenset({"RESOURCE_EXHAUSTED"})


@dataclass(frozen=True)
class ClassFigures:
    """What one length class got in one phase.

    Attributes:
        throughput_per_s: Calls that succeeded and ended within the phase, per second of it.
        delivered: Those calls over all the calls of the class: below 1 by the calls still running when the phase
            ended, well below when a backlog builds up.
        undelivered: The calls of the class that did not succeed within the phase.
    """

    calls: int
    ok: int
    throughput_per_s: float
    delivered: float
    undelivered: int
    p50_ms: float | None
    p99_ms: float | None
    errors: dict[str, int]


@dataclass(frozen=True)
class PhaseFigures:
    """What one phase offered and got, in total and per length class.

    Attributes:
        offered_per_s: Arrivals per second the schedule aimed at.
        arrivals_per_s: Arrivals per second it made (Poisson: close to ``offered_per_s``).
        throughput_per_s: Calls that succeeded and ended within the phase, per second of it.
        server_cores, generator_cores: CPU each process used during the phase, in cores.
        other_cores: CPU every other process of the machine used (and the hypervisor took) meanwhile: above a few
            tenths, other work shared the cores and the figures are not the server's alone.
        late_p99_ms: p99 of how late the generator sent a call against its schedule.
        rss_start_mb, rss_end_mb: The server's resident memory (MiB) right before the first call and after the last.
    """

    name: str
    offered_per_s: float
    seconds: float
    arrivals_per_s: float
    throughput_per_s: float
    errors: dict[str, int]
    classes: dict[Kind, ClassFigures]
    server_cores: float
    generator_cores: float
    other_cores: float
    late_p99_ms: float | None
    p99_over_unloaded_p50: dict[Kind, float | None]
    rss_start_mb: float
    rss_end_mb: float

    @property
    def kept_up(self) -> bool:
        """The server kept up: no call failed, and the calls of each class ended at (nearly) the rate they arrived."""
        return not self.errors and not self.backlogged

    @property
    def backlogged(self) -> list[str]:
        """The classes that built up a queue: their calls ended within the phase at less than
        :data:`MIN_DELIVERED_SHARE` of the rate they arrived, or their p99 passed :data:`MAX_STABLE_P99_MS`. One call
        still running when the phase ends is no queue (a long call that arrives in the phase's last 50 ms cannot end
        within it), and at a low rate it alone is over 5 % of a class's calls."""
        signs = []
        for kind, figures in self.classes.items():
            if figures.undelivered > 1 and figures.delivered < MIN_DELIVERED_SHARE:
                signs.append(f"{kind} delivered {figures.delivered:.0%}")
            elif figures.p99_ms is not None and figures.p99_ms > MAX_STABLE_P99_MS:
                signs.append(f"{kind} queue building")
        return signs

    @property
    def within_p99_limit(self) -> bool:
        """Each class sent stayed within :data:`P99_OVER_UNLOADED_P50_LIMIT` times its unloaded p50 at p99."""
        return not self.over_p99_limit

    @property
    def over_p99_limit(self) -> dict[Kind, float | None]:
        """The classes sent whose p99 broke the limit (None: not one call of the class succeeded), with the ratio."""
        return {
            kind: ratio
            for kind, ratio in self.p99_over_unloaded_p50.items()
            if self.classes[kind].calls and (ratio is None or ratio > P99_OVER_UNLOADED_P50_LIMIT)
        }

    @property
    def verdict(self) -> str:
        """``ok``, or what went wrong: failed calls by code, a backlog, classes over the p99 limit."""
        problems = [f"{code} x{count}" for code, count in self.errors.items()]
        problems += self.backlogged
        problems += [f"{kind} p99 {ratio}x" for kind, ratio in self.over_p99_limit.items()]
        return "; ".join(problems) or "ok"


def percentile_ms(samples: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of ``samples`` (seconds) in milliseconds; None for no samples."""
    return nearest_rank_ms(samples, fraction, digits=2)


def errors_by_code(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """Failed calls counted by status code name."""
    return dict(sorted(Counter(outcome.code for outcome in outcomes if outcome.code != "OK").items()))


def completed(outcomes: Sequence[Outcome], seconds: float) -> int:
    """Calls that succeeded and ended within the first ``seconds`` of their phase."""
    return sum(outcome.code == "OK" and outcome.ended <= seconds for outcome in outcomes)


def class_figures(outcomes: Sequence[Outcome], seconds: float) -> ClassFigures:
    """Throughput and latency of the successful calls among ``outcomes``, and the failed ones by code."""
    ok = [outcome.seconds for outcome in outcomes if outcome.code == "OK"]
    return ClassFigures(
        calls=len(outcomes),
        ok=len(ok),
        throughput_per_s=round(completed(outcomes, seconds) / seconds, 2),
        delivered=round(completed(outcomes, seconds) / max(1, len(outcomes)), 3),
        undelivered=len(outcomes) - completed(outcomes, seconds),
        p50_ms=percentile_ms(ok, 0.50),
        p99_ms=percentile_ms(ok, 0.99),
        errors=errors_by_code(outcomes),
    )


def phase_figures(
    name: str,
    mix: Mix,
    outcomes: Sequence[Outcome],
    usage: tuple[Usage, Usage],
    unloaded_p50_ms: dict[Kind, float],
) -> PhaseFigures:
    """Summarise one phase from its calls and the CPU used across it (``usage``: at its start and end)."""
    seconds = mix.seconds
    server_cores, generator_cores, other_cores = usage[1].cores_since(usage[0])
    classes = {kind: class_figures([o for o in outcomes if o.kind == kind], seconds) for kind in KINDS}
    return PhaseFigures(
        name=name,
        offered_per_s=round(mix.rate, 2),
        seconds=seconds,
        arrivals_per_s=round(len(outcomes) / seconds, 2),
        throughput_per_s=round(completed(outcomes, seconds) / seconds, 2),
        errors=errors_by_code(outcomes),
        classes=classes,
        server_cores=server_cores,
        generator_cores=generator_cores,
        other_cores=other_cores,
        late_p99_ms=percentile_ms([outcome.late_seconds for outcome in outcomes], 0.99),
        p99_over_unloaded_p50={kind: ratio(classes[kind].p99_ms, unloaded_p50_ms[kind]) for kind in KINDS},
        rss_start_mb=round(usage[0].rss_mib, 1),
        rss_end_mb=round(usage[1].rss_mib, 1),
    )


def ratio(p99_ms: float | None, unloaded_p50_ms: float) -> float | None:
    """A p99 over an unloaded p50, rounded; None without a p99 (no call of that class succeeded)."""
    return None if p99_ms is None else round(p99_ms / unloaded_p50_ms, 2)


@dataclass
class LoadRun:
    """A server, a channel to it and a workload: what every phase drives."""

    server: ServerProcess
    stub: Any
    workload: Workload
    arrivals: random.Random
    unloaded_p50_ms: dict[Kind, float]
    short_share: float
    busy_retries: int
    quiet_wait_seconds: float

    async def phase(self, name: str, rate: float, seconds: float, short_share: float | None = None) -> PhaseFigures:
        """Offer ``rate`` calls a second for ``seconds`` (the run's mix unless ``short_share``); print the row.

        The machine is shared: each phase starts once it is quiet, and runs again (up to ``busy_retries`` times)
        when other processes took CPU meanwhile.
        """
        mix = Mix(rate, seconds, self.short_share if short_share is None else short_share)
        for attempt in range(self.busy_retries + 1):
            await quiet_machine(self.quiet_wait_seconds)
            start = Usage.now(self.server)
            outcomes = await poisson_arrivals(self.stub, self.workload, mix, self.arrivals)
            figures = phase_figures(name, mix, outcomes, (start, Usage.now(self.server)), self.unloaded_p50_ms)
            busy = figures.other_cores > BUSY_MACHINE_CORES
            print_phase(figures, "  (other processes took CPU: again)" if busy and attempt < self.busy_retries else "")
            if not busy:
                break
        return figures


async def unloaded_p50s(stub: Any, workload: Workload, short: int, long: int) -> tuple[dict[Kind, float], list[str]]:
    """Each class's p50 one call at a time (after a warm-up), and the table rows that show it."""
    kinds: list[Kind] = [kind for kind, count in zip(KINDS, (short, long), strict=True) for _ in range(count)]
    random.Random(0).shuffle(kinds)
    await one_at_a_time(stub, workload, KINDS * 5)
    outcomes = await one_at_a_time(stub, workload, kinds)
    failed = errors_by_code(outcomes)
    if failed:
        raise RuntimeError(f"calls failed with no load at all: {failed}")
    p50s: dict[Kind, float] = {}
    rows = []
    for kind in KINDS:
        seconds = [outcome.seconds for outcome in outcomes if outcome.kind == kind]
        p50s[kind] = percentile_ms(seconds, 0.5) or 0.0
        p99 = percentile_ms(seconds, 0.99)
        rows.append(f"  {kind:6} n={len(seconds):3}  p50 {p50s[kind]:7.2f} ms  p99 {_ms(p99):>7} ms")
    return p50s, rows


def serial_rate(unloaded_p50_ms: dict[Kind, float], short_share: float) -> float:
    """Calls a second that one caller at a time would get through with this mix."""
    mean_ms = short_share * unloaded_p50_ms["short"] + (1 - short_share) * unloaded_p50_ms["long"]
    return 1000 / mean_ms


async def find_saturation(
    run: LoadRun, start_rate: float, step_seconds: float, refine_steps: int, max_steps: int
) -> tuple[float, list[PhaseFigures]]:
    """The saturation rate: the highest offered rate the server kept up with (:attr:`PhaseFigures.kept_up`); and every
    step.

    Climbs by :data:`STEP_FACTOR` until two steps in a row fail (steps down instead if the first one fails), then
    bisects (geometric mean) between the highest rate kept up with and the lowest failed one above it
    ``refine_steps`` times. Latency does not stop the climb: whether the p99s hold at saturation is what the test
    is for.
    """
    steps: list[PhaseFigures] = []
    rate, factor = start_rate, STEP_FACTOR
    while len(steps) < max_steps:
        steps.append(await run.phase("search", rate, step_seconds))
        if highest_rate(steps, kept_up_only=True) is None:
            factor = 1 / STEP_FACTOR  # the start is too high already: step down until the server keeps up
        elif factor < 1 or not any(step.kept_up for step in steps[-2:]):
            break  # kept up on the way down, or failed twice in a row on the way up
        rate *= factor
    for _ in range(refine_steps):
        best = highest_rate(steps, kept_up_only=True) or 0.0
        above = [step.offered_per_s for step in steps if not step.kept_up and step.offered_per_s > best]
        if not best or not above:
            break
        steps.append(await run.phase("refine", math.sqrt(best * min(above)), step_seconds))
    saturation = highest_rate(steps, kept_up_only=True)
    if saturation is None:
        raise RuntimeError("the server kept up with no offered rate, however low; see the steps above")
    return saturation, steps


def highest_rate(steps: Sequence[PhaseFigures], *, kept_up_only: bool) -> float | None:
    """The highest offered rate among the steps the server kept up with (and, unless ``kept_up_only``, within the
    p99 limit too); None if there is none."""
    passed = [step for step in steps if step.kept_up and (kept_up_only or step.within_p99_limit)]
    return max((step.offered_per_s for step in passed), default=None)


async def hold(run: LoadRun, rate: float, seconds: float, attempts: int) -> tuple[list[PhaseFigures], dict[str, float]]:
    """Offer ``rate`` for ``seconds``; while the server does not keep up, hold again half a step lower (at most
    ``attempts`` holds in all: a rate held for seconds can still build a queue over a minute). Returns every hold,
    the last one last, and the server's memory over that one."""
    holds = [await run.phase("hold", rate, seconds)]
    while not holds[-1].kept_up and len(holds) < attempts:
        rate /= math.sqrt(STEP_FACTOR)
        holds.append(await run.phase("hold", rate, seconds))
    held = holds[-1]
    memory = {
        "rss_start_mb": held.rss_start_mb,
        "rss_end_mb": held.rss_end_mb,
        "rss_peak_mb": round(run.server.peak_rss_mib(), 1),
        "rss_growth_pct": round((held.rss_end_mb - held.rss_start_mb) / held.rss_start_mb * 100, 2),
    }
    return holds, memory


HEADER = (
    f"{'phase':7} {'offered/s':>9} {'ok/s':>8} {'short p50':>9} {'p99':>8} {'long p50':>9} {'p99':>8}"
    f" {'srv cpu':>7} {'gen cpu':>7} {'oth cpu':>7} {'late p99':>8}  verdict"
)


def print_phase(phase: PhaseFigures, note: str = "") -> None:
    """One table row: rates, each class's p50/p99 (ms), CPU of server, generator and the rest of the machine (cores),
    and how late the generator sent its calls (ms)."""
    short, long = phase.classes["short"], phase.classes["long"]
    print(
        f"{phase.name:7} {phase.offered_per_s:9.1f} {phase.throughput_per_s:8.1f} {_ms(short.p50_ms):>9}"
        f" {_ms(short.p99_ms):>8} {_ms(long.p50_ms):>9} {_ms(long.p99_ms):>8} {phase.server_cores:7.2f}"
        f" {phase.generator_cores:7.2f} {phase.other_cores:7.2f} {_ms(phase.late_p99_ms):>8}  {phase.verdict}{note}",
        flush=True,
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def print_class_details(phase: PhaseFigures) -> None:
    """Per length class: calls, successes, throughput, latency and errors."""
    for kind, figures in phase.classes.items():
        print(
            f"  {phase.name} {kind:5}  calls {figures.calls:6}  ok {figures.ok:6}  {figures.throughput_per_s:7.1f}/s"
            f"  p50 {_ms(figures.p50_ms):>7} ms  p99 {_ms(figures.p99_ms):>7} ms  errors {figures.errors or '{}'}"
        )


def busy_machine_warning(phases: Sequence[PhaseFigures]) -> str | None:
    """A warning naming the phases during which other processes used the machine's CPU; None if none did."""
    busy = [
        f"{phase.name} at {phase.offered_per_s:.0f}/s ({phase.other_cores} cores)"
        for phase in phases
        if phase.other_cores > BUSY_MACHINE_CORES
    ]
    if not busy:
        return None
    return f"WARNING: other processes used CPU during {', '.join(busy)}: not the server's figures alone; rerun quiet"


@dataclass(frozen=True)
class Results:
    """Every phase of a run after the unloaded one.

    Attributes:
        steps: The search, in order.
        holds: The holds, the last one at the saturation rate (earlier ones, if any, did not keep up).
        alone: The short tasks of the last hold without the long ones.
        overload: :data:`OVERLOAD_FACTOR` times the saturation rate.
        memory: The server's RSS over the last hold, and its peak.
    """

    unloaded_p50_ms: dict[Kind, float]
    steps: list[PhaseFigures]
    holds: list[PhaseFigures]
    alone: PhaseFigures
    overload: PhaseFigures
    memory: dict[str, float]

    @property
    def phases(self) -> list[PhaseFigures]:
        """Every phase, in the order they ran."""
        return [*self.steps, *self.holds, self.alone, self.overload]


def summary(results: Results) -> dict[str, Any]:
    """The key figures and whether each target was met."""
    held, unloaded, memory = results.holds[-1], results.unloaded_p50_ms, results.memory
    ratios = held.p99_over_unloaded_p50
    return {
        "saturation_rate_per_s": held.offered_per_s,
        "search_rate_per_s": highest_rate(results.steps, kept_up_only=True),
        "latency_bound_rate_per_s": highest_rate(results.steps, kept_up_only=False),
        "max_throughput_per_s": max(phase.throughput_per_s for phase in results.phases),
        "hold_throughput_per_s": held.throughput_per_s,
        "hold_kept_up": held.kept_up,
        "short_p50_unloaded_ms": unloaded["short"],
        "long_p50_unloaded_ms": unloaded["long"],
        "short_p99_sat_ms": held.classes["short"].p99_ms,
        "long_p99_sat_ms": held.classes["long"].p99_ms,
        "short_p99_over_unloaded_p50": ratios["short"],
        "long_p99_over_unloaded_p50": ratios["long"],
        "errors_by_code": held.errors,
        "hold_other_cores": held.other_cores,
        "short_alone_p99_ms": results.alone.classes["short"].p99_ms,
        "short_alone_p99_over_unloaded_p50": results.alone.p99_over_unloaded_p50["short"],
        "overload_rate_per_s": results.overload.offered_per_s,
        "overload_errors_by_code": results.overload.errors,
        **memory,
        "targets_met": {
            "no_errors_at_saturation": not held.errors,
            "only_resource_exhausted_beyond_saturation": set(results.overload.errors) <= ALLOWED_BEYOND_SATURATION,
            "short_p99_within_5x_unloaded_p50": "short" not in held.over_p99_limit,
            "long_p99_within_5x_unloaded_p50": "long" not in held.over_p99_limit,
            "rss_growth_below_5_pct": memory["rss_growth_pct"] < RSS_GROWTH_LIMIT_PCT,
        },
    }


@dataclass(frozen=True)
class Plan:
    """How long each phase runs."""

    unloaded_short: int
    unloaded_long: int
    step_seconds: float
    refine_steps: int
    max_steps: int
    hold_seconds: float
    hold_attempts: int
    probe_seconds: float  # the alone and overload phases

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        """Full phases, or a few seconds each with ``--quick``."""
        if args.quick:
            return cls(20, 8, 3.0, 1, 10, min(args.hold_seconds, 10.0), 2, 4.0)
        return cls(50, 20, args.step_seconds, 2, 20, args.hold_seconds, 3, 2 * args.step_seconds)


async def loaded_phases(run: LoadRun, plan: Plan, start_rate: float) -> Results:
    """Search, hold, the short tasks alone, overload."""
    print(f"\nPoisson arrivals, {run.short_share:.0%} short; deadline {DEADLINE_SECONDS} s\n{HEADER}")
    found, steps = await find_saturation(run, start_rate, plan.step_seconds, plan.refine_steps, plan.max_steps)
    holds, memory = await hold(run, found, plan.hold_seconds, plan.hold_attempts)
    saturation = holds[-1].offered_per_s
    # the short tasks of the hold without the long ones: how much of their p99 the long ones cause
    alone = await run.phase("alone", saturation * run.short_share, plan.probe_seconds, short_share=1.0)
    overload = await run.phase("over", saturation * OVERLOAD_FACTOR, plan.probe_seconds)
    return Results(run.unloaded_p50_ms, steps, holds, alone, overload, memory)


async def load_test(args: argparse.Namespace, server: ServerProcess) -> Results:
    """Run every phase against ``server``, printing the table as it goes."""
    plan = Plan.from_args(args)
    workload = Workload(args.seed)
    async with open_channel(server.address) as channel:
        ready = await wait_until_serving(channel, server)
        print(f"server pid {server.process.pid} on {server.address}: SERVING after {ready:.1f} s")
        stub = router_pb2_grpc.RouterServiceStub(channel)
        await quiet_machine(args.quiet_wait)
        unloaded, rows = await unloaded_p50s(stub, workload, plan.unloaded_short, plan.unloaded_long)
        print("unloaded, one call at a time:", *rows, sep="\n")
        arrivals = random.Random(args.seed + 1)
        run = LoadRun(server, stub, workload, arrivals, unloaded, args.short_share, args.busy_retries, args.quiet_wait)
        start_rate = args.start_rate or serial_rate(unloaded, args.short_share) / 4
        return await loaded_phases(run, plan, start_rate)


def print_results(results: Results) -> None:
    """Per class figures of the last hold and what followed it, the server's memory, and a warning if the machine
    was busy with other work."""
    print()
    for phase in (results.holds[-1], results.alone, results.overload):
        print_class_details(phase)
    print(f"  server RSS over the hold: {results.memory}")
    if warning := busy_machine_warning(results.phases):
        print(warning)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and every option's default."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=_HelpFormatter)
    parser.add_argument("--index", type=Path, default=default_index_path(), help="index artifact to serve")
    parser.add_argument("--hold-seconds", type=float, default=60.0, help="how long to hold the saturation rate")
    parser.add_argument("--short-share", type=float, default=0.8, help="share of short tasks (the rest are long)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few seconds per phase")
    parser.add_argument("--step-seconds", type=float, default=5.0, help="length of each search step")
    parser.add_argument(
        "--start-rate", type=float, default=None, help="first offered rate; None: a quarter of one-at-a-time's"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the tasks and the arrival times")
    parser.add_argument(
        "--busy-retries", type=int, default=1, help="run a phase again this often when other processes took CPU"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=120.0, help="seconds to wait at most for a quiet machine before a phase"
    )
    parser.add_argument(
        "--semroute", type=Path, default=Path(sys.executable).with_name("semroute"), help="the semroute command"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results/loadtest.json"), help="all figures, as JSON")
    args = parser.parse_args()
    if not 0 < args.short_share < 1:
        parser.error("--short-share must be between 0 and 1 (exclusive): both classes are measured")
    return args


def main() -> None:
    args = parse_args()
    with running_server(args.semroute, args.index, args.out.with_name("loadtest-server.log")) as server:
        results = asyncio.run(load_test(args, server))
    print_results(results)
    figures = summary(results)
    details = {"unloaded_p50_ms": results.unloaded_p50_ms, "phases": [asdict(phase) for phase in results.phases]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**figures, "details": details}, indent=2))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
