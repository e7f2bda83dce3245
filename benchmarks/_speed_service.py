"""Speed of the gRPC service against its encoder: what ``make bench`` reports about serving (issue #11, keys 1-4).

Every figure comes from one ``semroute serve`` subprocess on loopback (its own interpreter, as deployed; no outcome
store, whose cost ``speed.py`` measures apart), called through the real clients, with tasks that are never repeated
unless a figure is about repetition:

1. ``grpc_vs_embed_p50_ratio`` (and p99, and both for long tasks): single-stream ``Route`` through ``RouterClient`` over
   embedding the same kind of task in this process with the model as the server runs it (same ONNX threads). The two
   are measured in alternation, so that both see the same machine; so is the floor under both, a bare gRPC Python
   server whose one method embeds the text (:mod:`benchmarks._grpc_floor`): ``grpc_floor_vs_embed_p50_ratio`` is
   what gRPC Python alone adds to the encoder, ``grpc_vs_floor_p50_ratio`` what semroute adds to that.
2. Throughput and p50/p99 at concurrency 1, 4, 16 and 64 through ``AsyncRouterClient`` (closed loop: each of the
   concurrent callers sends its next task when the previous answer is back), for short tasks and for a mix of 80 %
   short and 20 % long ones; ``throughput_gain_c16``, ``p99_c16_over_p50_c16`` and ``short_p99_ms_mix_c16``. The
   levels take turns over several rounds, so that drift in the machine's load touches them alike. Throughput counts
   every call; latencies are those of the steady state, the calls that start once every caller has had its first
   answer and the first fifth of the loop has passed: the callers start together, and their first calls arrive as
   one burst, which the table shows apart (``p99 with start``).
3. ``cache_hit_p50_ms``: the round trip of a task the server has seen before.
4. ``batch64_per_item_ratio``: a ``RouteBatch`` of 64 distinct short tasks, per task, over a single ``Route``.

Timings are wall-clock on whatever else the machine does: read the ratios, which are measured within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import grpc

from benchmarks._grpc_floor import METHOD
from benchmarks._loadgen import Kind, Workload, free_port, nearest_rank_ms, stop
from semroute.client import AsyncRouterClient, RouterClient, ServiceError, ServingStatus
from semroute.embedding import FastEmbedEmbedder
from semroute.environment import default_index_path
from semroute.index import load_index
from semroute.service._config import DEFAULT_COMPUTE_SLOTS, DEFAULT_EMBEDDING_THREADS

LEVELS = (1, 4, 16, 64)
SHORT_SHARE = 0.8
WARM_UP_SHARE = 0.2  # the first fifth of a closed loop is its warm-up, left out of its latencies
START_TIMEOUT_SECONDS = 120.0
BIN = Path(sys.executable).parent


def percentile_ms(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``samples`` (seconds), in milliseconds; NaN when there are none."""
    value = nearest_rank_ms(samples, fraction)
    return math.nan if value is None else value


def p50_p99(samples: Sequence[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    return {"p50_ms": percentile_ms(samples, 0.5), "p99_ms": percentile_ms(samples, 0.99)}


@contextmanager
def served(index: Path, *options: str) -> Iterator[str]:
    """``semroute serve`` of ``index`` on a free loopback port, without an outcome store, once SERVING; its target."""
    port = free_port()
    command = [
        str(BIN / "semroute"), "serve", "--host", "127.0.0.1", "--port", str(port), "--index", str(index),
        "--watch-seconds", "0", "--drain-seconds", "0", "--no-store", "--log-level", "warning", *options,
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        target = f"127.0.0.1:{port}"
        try:
            with RouterClient(target) as client:
                give_up = time.monotonic() + START_TIMEOUT_SECONDS
                while not _serving(client):
                    if process.poll() is not None or time.monotonic() > give_up:
                        log.seek(0)
                        raise RuntimeError(f"semroute serve did not become SERVING: {log.read()[-2000:]!r}")
                    time.sleep(0.2)
            yield target
        finally:
            stop(process)


def _serving(client: RouterClient) -> bool:
    try:
        return client.health(timeout=1.0) is ServingStatus.SERVING
    except ServiceError:
        return False


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@contextmanager
def floor_served(index: Path, embedding_threads: int) -> Iterator[Callable[[str], bytes]]:
    """The bare gRPC server of :mod:`benchmarks._grpc_floor` in a child process, once it serves; a call of its one
    method, through a plain channel."""
    port = free_port()
    command = [
        sys.executable, "-m", "benchmarks._grpc_floor", "--port", str(port), "--index", str(index),
        "--embedding-threads", str(embedding_threads),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parent.parent)
    try:
        if process.stdout is None or process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the gRPC floor server did not start")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            method = channel.unary_unary(METHOD)
            yield lambda text: method(text.encode(), timeout=START_TIMEOUT_SECONDS)
    finally:
        stop(process, grace_seconds=10)


def single_stream_figures(
    target: str,
    embedder: FastEmbedEmbedder,
    workload: Workload,
    repeat: int,
    floor: Callable[[str], bytes] | None = None,
) -> dict[str, dict[str, float]]:
    """Route over gRPC and in-process embedding of distinct tasks (and the bare gRPC embedding ``floor``, if given),
    taking turns; p50/p99 of each, per kind."""
    figures: dict[str, dict[str, float]] = {}
    with RouterClient(target) as client:
        paths: dict[str, Callable[[str], Any]] = {"embed": lambda text: embedder.embed([text]), "grpc": client.route}
        if floor is not None:
            paths["floor"] = floor
        counts: tuple[tuple[Kind, int], ...] = (("short", repeat), ("long", max(20, repeat // 4)))
        for kind, count in counts:
            for _ in range(5):  # warm every path up with this kind of text
                for path in paths.values():
                    path(workload.text(kind))
            samples: dict[str, list[float]] = {name: [] for name in paths}
            for _ in range(count):
                for name, path in paths.items():
                    text = workload.text(kind)
                    samples[name].append(_timed(partial(path, text)))
            figures[kind] = {
                f"{name}_{key}": value for name, taken in samples.items() for key, value in p50_p99(taken).items()
            }
    return figures


@dataclass(frozen=True)
class Outcome:
    """One call of a closed loop: its kind of task, status code and latency, and whether it ran in the steady state
    (see :func:`_closed_loop`)."""

    kind: Kind
    code: str
    seconds: float
    steady: bool = True


async def _closed_loop(
    client: AsyncRouterClient, tasks: Sequence[tuple[Kind, str]], concurrency: int
) -> tuple[float, list[Outcome]]:
    """``concurrency`` callers sending ``tasks`` one after another each; the elapsed seconds and every outcome.

    The callers start together, so their first calls arrive as one burst (at 16 callers, about 13 short tasks within
    a millisecond: some 60 ms of one core's work, whatever the scheduling), and the mix of tasks in flight settles
    only once the long ones have drawn their share of callers. The loop's steady state (:attr:`Outcome.steady`) is
    the calls that start once every caller has had its first answer and the first fifth of the loop has passed."""
    pending = list(reversed(tasks))
    timed: list[tuple[Kind, str, float, float]] = []  # kind, code, started, ended
    first_answers: list[float] = []

    async def caller() -> None:
        first = True
        while pending:
            kind, text = pending.pop()
            started = time.perf_counter()
            try:
                await client.route(text)
                code = "OK"
            except ServiceError as error:
                code = error.code.name
            ended = time.perf_counter()
            timed.append((kind, code, started, ended))
            if first:
                first_answers.append(ended)
                first = False

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    warmed = (
        max(max(first_answers), started + WARM_UP_SHARE * elapsed) if len(first_answers) == concurrency else math.inf
    )
    return elapsed, [Outcome(kind, code, ended - began, began >= warmed) for kind, code, began, ended in timed]


def _tasks(workload: Workload, rng: random.Random, count: int, short_share: float) -> list[tuple[Kind, str]]:
    kinds: list[Kind] = ["short" if rng.random() < short_share else "long" for _ in range(count)]
    return [(kind, workload.text(kind)) for kind in kinds]


async def _concurrency_rounds(
    target: str, workload: Workload, calls: int, rounds: int, seed: int
) -> dict[str, dict[int, tuple[float, list[Outcome]]]]:
    rng = random.Random(seed)
    totals: dict[str, dict[int, tuple[float, list[Outcome]]]] = {"short": {}, "mix": {}}
    async with AsyncRouterClient(target) as client:
        await _closed_loop(client, _tasks(workload, rng, 64, SHORT_SHARE), 16)  # warm-up: channel, threads, lanes
        for _ in range(rounds):
            for mix, share in (("short", 1.0), ("mix", SHORT_SHARE)):
                for level in LEVELS:
                    count = max(calls, 10 * level)  # the steady state needs calls after every caller's first
                    seconds, outcomes = await _closed_loop(client, _tasks(workload, rng, count, share), level)
                    before_seconds, before = totals[mix].get(level, (0.0, []))
                    totals[mix][level] = (before_seconds + seconds, before + outcomes)
    return totals


def _level_figures(seconds: float, outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Throughput over the whole loops; latencies of the steady state (``*_with_start``: of every call)."""
    answered = [outcome for outcome in outcomes if outcome.code == "OK"]
    steady = [outcome.seconds for outcome in answered if outcome.steady]
    figures: dict[str, Any] = {
        "calls": len(outcomes),
        "steady_calls": len(steady),
        "per_s": round(len(answered) / seconds, 1),
        **p50_p99(steady),
        "p99_ms_with_start": percentile_ms([outcome.seconds for outcome in answered], 0.99),
        "not_ok": dict(Counter(outcome.code for outcome in outcomes if outcome.code != "OK")),
    }
    for kind in ("short", "long"):
        of_kind = [outcome for outcome in answered if outcome.kind == kind]
        if of_kind and len(of_kind) < len(answered):
            figures.update(
                {f"{kind}_{key}": value for key, value in p50_p99([o.seconds for o in of_kind if o.steady]).items()}
            )
            figures[f"{kind}_p99_ms_with_start"] = percentile_ms([outcome.seconds for outcome in of_kind], 0.99)
    return figures


def concurrency_figures(
    target: str, workload: Workload, calls: int = 320, rounds: int = 2, seed: int = 11
) -> dict[str, dict[int, dict[str, Any]]]:
    """Throughput and latency at each concurrency level, for short tasks and for the 80/20 mix."""
    totals = asyncio.run(_concurrency_rounds(target, workload, calls, rounds, seed))
    return {mix: {level: _level_figures(*totals[mix][level]) for level in LEVELS} for mix in ("short", "mix")}


def cache_figures(target: str, workload: Workload, repeat: int) -> dict[str, float]:
    """Round trips of tasks the server answered before (its vector cache), against new ones, in alternation."""
    with RouterClient(target) as client:
        seen = [workload.text("short") for _ in range(16)]
        for text in seen:
            client.route(text)
        hits: list[float] = []
        misses: list[float] = []
        for position in range(repeat):
            hit, miss = seen[position % len(seen)], workload.text("short")
            hits.append(_timed(partial(client.route, hit)))
            misses.append(_timed(partial(client.route, miss)))
    return {
        "cache_hit_p50_ms": percentile_ms(hits, 0.5),
        "cache_hit_p99_ms": percentile_ms(hits, 0.99),
        "cache_miss_p50_ms": percentile_ms(misses, 0.5),
    }


def batch_figures(target: str, workload: Workload, repeat: int) -> dict[str, float]:
    """RouteBatch of 64 distinct short tasks per task, against single Route calls of distinct short tasks, taking
    turns; ``batch64_per_item_ratio`` is the per-task p50 over the single p50."""
    with RouterClient(target) as client:
        client.route_batch([workload.text("short") for _ in range(64)])
        batches: list[float] = []
        singles: list[float] = []
        for _ in range(repeat):
            tasks = [workload.text("short") for _ in range(64)]
            batches.append(_timed(partial(client.route_batch, tasks)) / 64)
            for _ in range(4):
                text = workload.text("short")
                singles.append(_timed(partial(client.route, text)))
    per_item, single = statistics.median(batches), statistics.median(singles)
    return {
        "batch64_per_item_ms": round(per_item * 1000, 3),
        "batch64_single_p50_ms": round(single * 1000, 3),
        "batch64_per_item_ratio": round(per_item / single, 3),
    }


async def _alternating_c16(targets: Sequence[str], workload: Workload, calls: int, rounds: int) -> list[float]:
    rng = random.Random(5)
    totals = [[0.0, 0] for _ in targets]
    clients = [AsyncRouterClient(target) for target in targets]
    try:
        for client in clients:
            await _closed_loop(client, _tasks(workload, rng, 64, 1.0), 16)
        for _ in range(rounds):
            for total, client in zip(totals, clients, strict=True):
                seconds, outcomes = await _closed_loop(client, _tasks(workload, rng, calls, 1.0), 16)
                total[0] += seconds
                total[1] += sum(outcome.code == "OK" for outcome in outcomes)
    finally:
        for client in clients:
            await client.close()
    return [round(answered / seconds, 1) for seconds, answered in totals]


def batching_effect(
    index: Path, workload: Workload, calls: int, rounds: int, embedding_threads: int = DEFAULT_EMBEDDING_THREADS
) -> dict[str, float]:
    """Short tasks at concurrency 16 on a server with micro-batching and on one without (``--max-batch-texts 1``),
    taking turns: decisions per second of each and their ratio."""
    threads = ("--embedding-threads", str(embedding_threads))
    with served(index, *threads) as batching, served(index, *threads, "--max-batch-texts", "1") as alone:
        with_batches, without = asyncio.run(_alternating_c16([batching, alone], workload, calls, rounds))
    return {
        "c16_per_s_batched": with_batches,
        "c16_per_s_unbatched": without,
        "batching_gain_c16": round(with_batches / without, 3),
    }


def service_speed_figures(
    index: Path,
    *,
    repeat: int = 200,
    calls: int = 320,
    rounds: int = 2,
    embedding_threads: int = DEFAULT_EMBEDDING_THREADS,
    serve_options: Sequence[str] = (),
    seed: int = 11,
    show: bool = True,
    compare_unbatched: bool = False,
) -> dict[str, Any]:
    """Every figure of this module against one ``semroute serve`` of ``index``; prints the table when ``show``.

    Args:
        index: The index artifact to serve.
        repeat: Single-stream samples per kind of task (long tasks: a quarter), and cache-hit samples.
        calls: Calls per concurrency level and round for short tasks (the mix: half as many, at least 2 per caller).
        rounds: Rounds in which the concurrency levels take turns.
        embedding_threads: ONNX threads per pass, for the server and for the in-process embedding it is compared to.
        serve_options: More ``semroute serve`` options (e.g. ``("--max-batch-texts", "1")``).
        seed: Seed of the tasks.
        show: Print the table.
        compare_unbatched: Also measure short tasks at concurrency 16 with micro-batching off (two more servers).

    Returns:
        The figures: ``grpc_vs_embed`` (per kind), ``concurrency`` (per mix and level), the cache and batch figures,
        and the headline keys (``grpc_vs_embed_p50_ratio``, ``throughput_gain_c16``, ``p99_c16_over_p50_c16``,
        ``short_p99_ms_mix_c16``, ``cache_hit_p50_ms``, ``batch64_per_item_ratio``...).
    """
    workload = Workload(seed)
    embedder = FastEmbedEmbedder(load_index(index).policy.settings.embedding, threads=embedding_threads)
    options = ("--embedding-threads", str(embedding_threads), *serve_options)
    with served(index, *options) as target:
        with floor_served(index, embedding_threads) as floor:
            single = single_stream_figures(target, embedder, workload, repeat, floor)
        levels = concurrency_figures(target, workload, calls, rounds, seed)
        cache = cache_figures(target, workload, repeat)
        batch = batch_figures(target, workload, max(10, repeat // 10))
    figures = headline(single, levels, cache, batch)
    if compare_unbatched:
        figures.update(batching_effect(index, workload, calls, rounds, embedding_threads))
    figures["server"] = {
        "compute_slots": DEFAULT_COMPUTE_SLOTS,
        "embedding_threads": embedding_threads,
        "options": list(serve_options),
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }
    if show:
        print_table(figures)
    return figures


def headline(
    single: dict[str, dict[str, float]],
    levels: dict[str, dict[int, dict[str, Any]]],
    cache: dict[str, float],
    batch: dict[str, float],
) -> dict[str, Any]:
    """The figures with the issue's headline keys and ratios computed from them."""
    short, long = single["short"], single["long"]
    c1, c16 = levels["short"][1], levels["short"][16]
    mix16 = levels["mix"][16]
    shed = sum(sum(levels[mix][level]["not_ok"].values()) for mix in levels for level in (16, 64))
    return {
        "grpc_vs_embed": single,
        "concurrency": levels,
        **cache,
        **batch,
        "grpc_vs_embed_p50_ratio": round(short["grpc_p50_ms"] / short["embed_p50_ms"], 3),
        "grpc_vs_embed_p99_ratio": round(short["grpc_p99_ms"] / short["embed_p99_ms"], 3),
        "grpc_vs_embed_p50_ratio_long": round(long["grpc_p50_ms"] / long["embed_p50_ms"], 3),
        "grpc_vs_embed_p99_ratio_long": round(long["grpc_p99_ms"] / long["embed_p99_ms"], 3),
        "grpc_floor_vs_embed_p50_ratio": round(short["floor_p50_ms"] / short["embed_p50_ms"], 3),
        "grpc_vs_floor_p50_ratio": round(short["grpc_p50_ms"] / short["floor_p50_ms"], 3),
        "throughput_gain_c16": round(c16["per_s"] / c1["per_s"], 3),
        "p99_c16_over_p50_c16": round(c16["p99_ms"] / c16["p50_ms"], 3),
        "short_p99_ms_mix_c16": mix16.get("short_p99_ms", mix16["p99_ms"]),
        "short_p99_mix_c16_over_single_short_p50": round(
            mix16.get("short_p99_ms", mix16["p99_ms"]) / short["grpc_p50_ms"], 3
        ),
        "short_p99_ms_mix_c16_with_start": mix16.get("short_p99_ms_with_start", mix16["p99_ms_with_start"]),
        "not_ok_c16_c64": shed,
    }


HEADLINE_KEYS = (
    "grpc_vs_embed_p50_ratio",
    "grpc_vs_embed_p99_ratio",
    "grpc_vs_embed_p50_ratio_long",
    "grpc_vs_embed_p99_ratio_long",
    "grpc_floor_vs_embed_p50_ratio",
    "grpc_vs_floor_p50_ratio",
    "throughput_gain_c16",
    "p99_c16_over_p50_c16",
    "short_p99_ms_mix_c16",
    "short_p99_mix_c16_over_single_short_p50",
    "short_p99_ms_mix_c16_with_start",
    "cache_hit_p50_ms",
    "batch64_per_item_ratio",
    "not_ok_c16_c64",
)


def print_table(figures: dict[str, Any]) -> None:
    """The figures as a table, then the headline keys."""
    print("single stream (ms)          embed p50   embed p99    gRPC p50    gRPC p99   floor p50   floor p99")
    for kind, row in figures["grpc_vs_embed"].items():
        print(
            f"  {kind:25} {row['embed_p50_ms']:9.2f}   {row['embed_p99_ms']:9.2f}   "
            f"{row['grpc_p50_ms']:9.2f}   {row['grpc_p99_ms']:9.2f}   "
            f"{row['floor_p50_ms']:9.2f}   {row['floor_p99_ms']:9.2f}"
        )
    print("  (floor: a bare gRPC Python server that only embeds the text, benchmarks/_grpc_floor.py)")
    print("concurrency (AsyncRouterClient, distinct tasks)")
    print(
        "  mix    level   calls   per s    p50 ms    p99 ms   with start   short p50/p99 ms   long p50/p99 ms   not OK"
    )
    for mix, levels in figures["concurrency"].items():
        for level, row in levels.items():
            short = f"{row.get('short_p50_ms', 0):7.1f} / {row.get('short_p99_ms', 0):6.1f}" if mix == "mix" else ""
            long = f"{row.get('long_p50_ms', 0):7.1f} / {row.get('long_p99_ms', 0):6.1f}" if mix == "mix" else ""
            print(
                f"  {mix:6} {level:5} {row['calls']:7} {row['per_s']:7.1f} {row['p50_ms']:9.2f} {row['p99_ms']:9.2f}"
                f"   {row['p99_ms_with_start']:10.2f}   {short:>16}   {long:>15}   {row['not_ok'] or ''}"
            )
    print(
        f"cache: hit p50 {figures['cache_hit_p50_ms']} ms, p99 {figures['cache_hit_p99_ms']} ms "
        f"(miss p50 {figures['cache_miss_p50_ms']} ms)"
    )
    print(
        f"RouteBatch of 64: {figures['batch64_per_item_ms']} ms a task against {figures['batch64_single_p50_ms']} ms "
        "for a single Route"
    )
    if "batching_gain_c16" in figures:
        print(
            f"short tasks at concurrency 16: {figures['c16_per_s_batched']}/s with micro-batching, "
            f"{figures['c16_per_s_unbatched']}/s without (x{figures['batching_gain_c16']})"
        )
    print(f"server: {figures['server']}")
    for key in HEADLINE_KEYS:
        print(f"  {key:42} {figures[key]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=None, help="index artifact (default: the one `make index` built)")
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--calls", type=int, default=320)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--embedding-threads", type=int, default=DEFAULT_EMBEDDING_THREADS)
    parser.add_argument("--serve-option", action="append", default=[], help="more `semroute serve` options")
    parser.add_argument("--compare-unbatched", action="store_true", help="also run c16 with micro-batching off")
    args = parser.parse_args()
    figures = service_speed_figures(
        args.index or default_index_path(),
        repeat=args.repeat,
        calls=args.calls,
        rounds=args.rounds,
        embedding_threads=args.embedding_threads,
        serve_options=[part for option in args.serve_option for part in option.split()],
        compare_unbatched=args.compare_unbatched,
    )
    extra = ("batching_gain_c16",) if args.compare_unbatched else ()
    print(json.dumps({key: figures[key] for key in (*HEADLINE_KEYS, *extra)}))


if __name__ == "__main__":
    main()
