"""The load generator of ``benchmarks/loadtest.py``: distinct tasks, the server under test, open-loop arrivals over
grpc.aio, and the CPU and memory readings that go with them (Linux ``/proc``)."""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from semroute.v1 import router_pb2 as pb
from semroute.wire import MAX_MESSAGE_BYTES, SERVICE_NAME

Kind = Literal["short", "long"]
KINDS: tuple[Kind, ...] = ("short", "long")

DEADLINE_SECONDS = 2.0  # every routing call's deadline, as the client's default
SERVING_TIMEOUT_SECONDS = 120.0
BUSY_MACHINE_CORES = 0.25  # other processes using more than this during a phase make its figures suspect

SHORT_TEMPLATES = (
    "write unit tests for the {0} {1} in the {2} module",
    "summarize this {0} about the {1} in three bullet points",
    "fix the off-by-one bug in the {0} {1} {2} handler",
    "translate the {0} release notes about {1} into French",
    "what is a good {0} recipe for a {1} {2}?",
    "label these {0} tickets as {1}, {2} or question",
    "refactor the {0} flow across the {1} and {2} services",
    "explain why the {0} {1} test fails on the {2} branch",
)
VOCABULARY = tuple(
    """
    account alert api archive audit backup balance banana batch billing branch browser budget buffer cache calendar
    campaign catalog checkout client cluster column commit compiler config contract cookie coupon cron customer
    dashboard database deadline deploy device diff discount docker domain draft email encoder endpoint engine error
    event export feature feedback filter firewall font form garden gateway graph handler header index inventory
    invoice kernel ledger license login logger mailbox manifest market memory metric migration mobile module monitor
    network notebook order package parser partner payment pipeline plugin policy portal pricing printer profile
    project proxy query queue quota receipt record refund region release report request resolver response retry
    review router runtime sandbox scheduler schema search secret sensor server session shipment signal socket sprint
    storage stream subscription supplier survey table tenant ticket timeline token tracker trade upload user vendor
    version video wallet warehouse webhook widget worker
    """.split()
)
LONG_WORDS = 300


@dataclass(frozen=True)
class Outcome:
    """One routing call: its length class, status code name, latency, how late the generator sent it, and when it
    ended (seconds after its phase began)."""

    kind: Kind
    code: str
    seconds: float
    late_seconds: float
    ended: float


class Workload:
    """Distinct routing tasks: short ones (about 10 words) and long ones (about 300), none ever sent twice."""

    def __init__(self, seed: int) -> None:
        """Draw tasks from ``random.Random(seed)``."""
        self._rng = random.Random(seed)
        self._seen: set[str] = set()

    def text(self, kind: Kind) -> str:
        """A task of class ``kind`` never returned before (nothing the server sees is trivially repeated)."""
        while True:
            text = self._short() if kind == "short" else self._long()
            if text not in self._seen:
                self._seen.add(text)
                return text

    def _short(self) -> str:
        return self._rng.choice(SHORT_TEMPLATES).format(*self._rng.sample(VOCABULARY, 3))

    def _long(self) -> str:
        sentences: list[str] = []
        words = 0
        while words < LONG_WORDS:
            sentence = self._rng.choices(VOCABULARY, k=self._rng.randint(8, 16))
            sentences.append(" ".join(sentence).capitalize() + ".")
            words += len(sentence)
        return " ".join(sentences)


@dataclass(frozen=True)
class Mix:
    """Offered load: Poisson arrivals at ``rate`` a second for ``seconds``, each short with ``short_share``."""

    rate: float
    seconds: float
    short_share: float


@dataclass
class ServerProcess:
    """The ``semroute serve`` subprocess under test."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        """Where it listens."""
        return f"127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        """Resident memory now (``VmRSS``), in MiB."""
        return self._status_kib("VmRSS") / 1024

    def peak_rss_mib(self) -> float:
        """Peak resident memory since it started (``VmHWM``), in MiB."""
        return self._status_kib("VmHWM") / 1024

    def cpu_seconds(self) -> float:
        """User plus system CPU time it has used."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)

    def _status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise RuntimeError(f"/proc/{self.process.pid}/status has no {key}")


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_server(semroute: Path, index: Path, log: Path) -> Iterator[ServerProcess]:
    """Start ``semroute serve`` on a free loopback port; stop it with SIGTERM on the way out."""
    port = free_port()
    command = [
        str(semroute), "serve", "--host", "127.0.0.1", "--port", str(port), "--index", str(index),
        "--watch-seconds", "0", "--drain-seconds", "0", "--log-level", "warning",
    ]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield ServerProcess(process, port, log)
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any], grace_seconds: float = 40.0) -> None:
    """SIGTERM a child server, and kill it if it has not exited within ``grace_seconds``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def nearest_rank_ms(samples: Sequence[float], fraction: float, digits: int = 3) -> float | None:
    """The nearest-rank percentile of ``samples`` (seconds) in milliseconds, rounded; None for no samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return round(ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000, digits)


async def wait_until_serving(channel: aio.Channel, server: ServerProcess) -> float:
    """Poll the standard health service until the routing service is SERVING; return the seconds it took."""
    stub = health_pb2_grpc.HealthStub(channel)
    started = time.perf_counter()
    while time.perf_counter() - started < SERVING_TIMEOUT_SECONDS:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            answer = await stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=1.0)
            if answer.status == health_pb2.HealthCheckResponse.SERVING:
                return time.perf_counter() - started
        except aio.AioRpcError:
            pass  # not listening yet
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the server was not SERVING after {SERVING_TIMEOUT_SECONDS:.0f} s")


def open_channel(address: str) -> aio.Channel:
    """A plaintext channel with retries off: every status the server answers is counted as it came."""
    options = [
        ("grpc.enable_retries", 0),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]
    return aio.insecure_channel(address, options=options)


async def timed_route(stub: Any, kind: Kind, text: str, late_seconds: float = 0.0, since: float = 0.0) -> Outcome:
    """Send one Route call and time it from send to answer; ``since``: the ``perf_counter`` its phase began at."""
    started = time.perf_counter()
    try:
        await stub.Route(pb.RouteRequest(text=text), timeout=DEADLINE_SECONDS)
        code = "OK"
    except aio.AioRpcError as error:
        code = error.code().name
    ended = time.perf_counter()
    return Outcome(kind, code, ended - started, late_seconds, ended - since)


async def one_at_a_time(stub: Any, workload: Workload, kinds: Sequence[Kind]) -> list[Outcome]:
    """Send one call of each of ``kinds`` in turn, each after the previous answer."""
    return [await timed_route(stub, kind, workload.text(kind)) for kind in kinds]


async def poisson_arrivals(stub: Any, workload: Workload, mix: Mix, rng: random.Random) -> list[Outcome]:
    """Start calls at exponentially spaced times for ``mix.seconds``; await them all."""
    start = due = time.perf_counter()
    calls: list[asyncio.Task[Outcome]] = []
    while (due := due + rng.expovariate(mix.rate)) < start + mix.seconds:
        if (delay := due - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        kind: Kind = "short" if rng.random() < mix.short_share else "long"
        late = time.perf_counter() - due
        calls.append(asyncio.create_task(timed_route(stub, kind, workload.text(kind), late, start)))
    return list(await asyncio.gather(*calls))


@dataclass(frozen=True)
class Usage:
    """CPU time of the server, of this process and of the whole machine, the wall clock, and the server's RSS (MiB),
    at one moment."""

    server: float
    generator: float
    machine: float
    wall: float
    rss_mib: float

    @classmethod
    def now(cls, server: ServerProcess) -> Usage:
        """Read them all."""
        cpu = (server.cpu_seconds(), time.process_time(), machine_busy_seconds())
        return cls(*cpu, time.perf_counter(), server.rss_mib())

    def cores_since(self, earlier: Usage) -> tuple[float, float, float]:
        """Cores used on average since ``earlier`` by the server, by this process and by everything else."""
        wall = self.wall - earlier.wall
        server = (self.server - earlier.server) / wall
        generator = (self.generator - earlier.generator) / wall
        others = max(0.0, (self.machine - earlier.machine) / wall - server - generator)
        return round(server, 2), round(generator, 2), round(others, 2)


def machine_busy_seconds() -> float:
    """CPU time the machine has spent busy since boot, all processes together (``/proc/stat``; steal included)."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


async def quiet_machine(max_wait_seconds: float) -> float:
    """Wait (at most ``max_wait_seconds``) for a second in which the machine used under :data:`BUSY_MACHINE_CORES`
    cores, counting the idle server and this process; return the cores the last second used."""
    deadline = time.perf_counter() + max_wait_seconds
    while True:
        before = machine_busy_seconds()
        await asyncio.sleep(1.0)
        busy = machine_busy_seconds() - before
        if busy < BUSY_MACHINE_CORES or time.perf_counter() >= deadline:
            return busy
