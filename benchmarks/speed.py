"""Speed and memory of the request path, the index build and the client import, then the service under concurrency
(:mod:`benchmarks._speed_service`) and large route sets (:mod:`benchmarks._speed_index`): prints figures and ratios,
writes JSON, ends with one JSON line of the headline keys.

Run with ``make bench`` (``python -m benchmarks.speed``). Timings are wall-clock on whatever else the machine is
doing: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import _speed_index, _speed_service
from semroute.client import RouterClient
from semroute.embedding import FastEmbedEmbedder
from semroute.features import extract_features
from semroute.index import build_index, load_index
from semroute.route_files import load_route_set
from semroute.router import Router
from semroute.service import ServerConfig, create_server
from semroute.store import StoreSettings, sqlite_url
from semroute.types import RouteRequest

QUERIES = [
    "write unit tests for the parser",
    "Summarize this article in three bullet points",
    "refactor the auth flow across the api, worker and web services",
    "fix the off-by-one in paginate() in utils.py",
    "what's a good recipe for banana bread?",
    "label each of these support tickets as bug, feature request or question",
]
# The server's dependencies: the client, which needs only the base install, must load none of them.
HEAVY_MODULES = frozenset(
    {"numpy", "faiss", "fastembed", "onnxruntime", "pydantic", "yaml", "sklearn", "litellm", "tqdm", "scipy"}
)
IMPORT_STATEMENTS = {"bare": "pass", "client": "import semroute.client", "grpc": "import grpc, google.protobuf"}
LIST_CLIENT_MODULES = "import json, sys, semroute.client; print(json.dumps(sorted(sys.modules)))"
REPO = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".semroute", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "bench-results"
)


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95 in milliseconds."""
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
    }


def timed(action: Callable[[], Any], repeat: int) -> list[float]:
    """Wall-clock seconds of each of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return samples


def service_figures(
    index: Path, embedder: FastEmbedEmbedder, repeat: int, store: StoreSettings | None = None
) -> dict[str, Any]:
    """Round trips through the real client to a real server on loopback, one at a time and from 4 threads."""
    server, port = create_server(
        ServerConfig(host="127.0.0.1", port=0, index_path=index, watch_seconds=0, store=store), embedder=embedder
    )
    server.start()
    server.load()
    try:
        with RouterClient(f"127.0.0.1:{port}") as client:
            single = timed(lambda: client.route(QUERIES[0]), repeat)
            calls = 4 * 50
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(lambda i: client.route(QUERIES[i % len(QUERIES)]), range(calls)))
            throughput = calls / (time.perf_counter() - started)
    finally:
        server.stop(drain_seconds=0, grace_seconds=1)
    return {"grpc_route_one": percentiles(single), "grpc_4_threads_per_s": round(throughput, 1)}


def store_overhead(index: Path, embedder: FastEmbedEmbedder, repeat: int, store: StoreSettings) -> float:
    """p50 of routing over gRPC with every decision recorded, over p50 with no store: two servers, called in turn so
    that both see the same machine."""
    servers = [
        create_server(
            ServerConfig(host="127.0.0.1", port=0, index_path=index, watch_seconds=0, store=settings), embedder=embedder
        )
        for settings in (None, store)
    ]
    samples: list[list[float]] = [[], []]
    try:
        clients = []
        for server, port in servers:
            server.start()
            server.load()
            clients.append(RouterClient(f"127.0.0.1:{port}"))
        for _ in range(repeat * 2):
            for client, seconds in zip(clients, samples, strict=True):
                seconds.extend(timed(partial(client.route, QUERIES[0]), 1))
    finally:
        for client in clients:
            client.close()
        for server, _ in servers:
            server.stop(drain_seconds=0, grace_seconds=1)
    return round(statistics.median(samples[1]) / statistics.median(samples[0]), 3)


def interpreter_seconds(python: Path, code: str) -> float:
    """Wall-clock seconds of a fresh interpreter ``python`` running ``code`` (isolated: no source tree on its path)."""
    started = time.perf_counter()
    subprocess.run([python, "-I", "-c", code], check=True, cwd=tempfile.gettempdir())
    return time.perf_counter() - started


def lean_python(folder: Path) -> Path:
    """The interpreter of a virtualenv holding only ``pip install .`` (the base install), made or refreshed."""
    folder = folder.resolve()
    python = folder / "bin" / "python"
    with tempfile.TemporaryDirectory() as scratch:
        # a copy: pip builds a local project in place, and its build/ folder must not land in the working tree
        source = Path(scratch) / "semroute"
        shutil.copytree(REPO, source, ignore=NOT_SOURCE)
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", folder], check=True)
            subprocess.run([python, "-m", "pip", "install", "--quiet", source], check=True)
        else:  # the dependencies are there already; only semroute itself may have changed
            subprocess.run(
                [python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", source], check=True
            )
    return python


def import_figures(python: Path, runs: int = 15) -> dict[str, Any]:
    """What ``import semroute.client`` costs a fresh interpreter, against ``import grpc, google.protobuf``.

    Each figure is the fastest of ``runs`` interpreters less the fastest start-up of one that imports nothing (noise
    on a shared machine only ever adds time, so the minimum is the steadiest estimate, as ``timeit`` advises); the
    three kinds take turns so that drift in the machine's load touches them alike.
    """
    samples: dict[str, list[float]] = {name: [] for name in IMPORT_STATEMENTS}
    for _ in range(runs):
        for name, code in IMPORT_STATEMENTS.items():
            samples[name].append(interpreter_seconds(python, code))
    bare = min(samples["bare"])
    listed = subprocess.run(
        [python, "-I", "-c", LIST_CLIENT_MODULES], check=True, capture_output=True, text=True, cwd=tempfile.gettempdir()
    )
    loaded = {name.partition(".")[0] for name in json.loads(listed.stdout)}
    return {
        "client_import_ms": round((min(samples["client"]) - bare) * 1000, 1),
        "grpc_protobuf_import_ms": round((min(samples["grpc"]) - bare) * 1000, 1),
        "client_import_modules_heavy": sorted(loaded & HEAVY_MODULES),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--routes", type=Path, default=Path("routes"))
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench-results/speed.json"))
    parser.add_argument("--lean-venv", type=Path, default=Path(".semroute/bench/lean-venv"), help="base-install venv")
    parser.add_argument("--clinc", type=Path, default=_speed_index.DEFAULT_CLINC, help="CLINC150 folder")
    parser.add_argument(
        "--index-sizes", default="10000,100000,1000000", help="route-like set sizes for the search figures"
    )
    parser.add_argument("--skip", default="", help="comma-separated: service, index (the long parts)")
    args = parser.parse_args()
    skipped = set(filter(None, args.skip.split(",")))

    # first: fresh interpreters, measured while this process is still idle, in a venv with only the base install
    imports = import_figures(lean_python(args.lean_venv))
    route_set = load_route_set(args.routes)
    started = time.perf_counter()
    embedder = FastEmbedEmbedder(route_set.settings.embedding)
    load_seconds = time.perf_counter() - started
    index_part: dict[str, Any] = {}
    if "index" not in skipped:  # first, while nothing else is embedded or imported (see _speed_index)
        sizes = [int(size) for size in args.index_sizes.split(",") if size]
        index_part = _speed_index.index_figures(
            embedder, Path("bench-results/speed_index"), clinc=args.clinc if args.clinc.exists() else None, sizes=sizes
        )

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "index.zip"
        full = build_index(route_set, path, embedder, progress=False)
        again = build_index(route_set, path, embedder, progress=False)
        router = Router(load_index(path), embedder)
        service = service_figures(path, embedder, args.repeat)  # no outcome store
        store_ratio = store_overhead(path, embedder, args.repeat, StoreSettings(sqlite_url(Path(scratch) / "o.db")))
        service_part = {} if "service" in skipped else _speed_service.service_speed_figures(path)

    requests = [RouteRequest(text) for text in QUERIES]
    vectors = embedder.embed(QUERIES)
    embed_one = timed(lambda: embedder.embed([QUERIES[0]]), args.repeat)
    score_one = timed(lambda: router.candidates(vectors[:1], requests[:1]), args.repeat)
    route_one = timed(lambda: router.route(requests[0]), args.repeat)
    batch = [RouteRequest(QUERIES[i % len(QUERIES)] + f" #{i}") for i in range(64)]
    batch_seconds = min(timed(lambda: router.route_batch(batch), 5))
    huge = RouteRequest("refactor the payment module and its callers. " * 20_000)  # ~900k characters
    route_huge = timed(lambda: router.route(huge), 20)
    features_huge = timed(lambda: extract_features(huge.text), 20)

    figures = {
        "model_load_s": round(load_seconds, 3),
        "index_build_full_s": round(full.seconds, 3),
        "index_build_incremental_s": round(again.seconds, 3),
        "utterances": full.utterances,
        "embed_one": percentiles(embed_one),
        "scoring_one": percentiles(score_one),
        "route_one": percentiles(route_one),
        "route_batch64_per_text_ms": round(batch_seconds / 64 * 1000, 3),
        "route_900k_chars": percentiles(route_huge),
        "features_900k_chars": percentiles(features_huge),
        **service,
        **imports,
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    embed_p50 = figures["embed_one"]["p50_ms"]
    figures["ratios"] = {
        "scoring_over_embedding": round(figures["scoring_one"]["p50_ms"] / embed_p50, 3),
        "route_900k_over_route_short": round(figures["route_900k_chars"]["p50_ms"] / figures["route_one"]["p50_ms"], 2),
        "batch_per_text_over_single": round(figures["route_batch64_per_text_ms"] / figures["route_one"]["p50_ms"], 3),
        "incremental_over_full_build": round(again.seconds / full.seconds, 3),
        "grpc_over_in_process": round(service["grpc_route_one"]["p50_ms"] / figures["route_one"]["p50_ms"], 3),
        # routing with every decision recorded (SQLite, this run) over routing with no store; target <= 1.05
        "store_overhead_p50_ratio": store_ratio,
        "client_import_over_grpc_ratio": round(imports["client_import_ms"] / imports["grpc_protobuf_import_ms"], 2),
    }
    figures["service"] = service_part
    figures["index"] = index_part
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, default=str))
    for key, value in figures.items():
        if key not in ("service", "index"):
            print(f"{key:28} {value}")
    headline = {key: service_part[key] for key in _speed_service.HEADLINE_KEYS if key in service_part}
    headline |= {key: index_part[key] for key in _speed_index.HEADLINE if key in index_part}
    print(json.dumps({"route_one_p50_ms": figures["route_one"]["p50_ms"], **imports, **figures["ratios"], **headline}))


if __name__ == "__main__":
    main()
