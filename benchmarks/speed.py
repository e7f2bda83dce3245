"""Speed and memory of the request path and the index build: prints figures and ratios, writes JSON.

Run with ``make bench``. Timings are wall-clock on whatever else the machine is doing: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from semroute.client import RouterClient
from semroute.embedding import FastEmbedEmbedder
from semroute.features import extract_features
from semroute.index import build_index, load_index
from semroute.route_files import load_route_set
from semroute.router import Router, RouteRequest
from semroute.service import ServerConfig, create_server

QUERIES = [
    "write unit tests for the parser",
    "Summarize this article in three bullet points",
    "refactor the auth flow across the api, worker and web services",
    "fix the off-by-one in paginate() in utils.py",
    "what's a good recipe for banana bread?",
    "label each of these support tickets as bug, feature request or question",
]


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


def service_figures(index: Path, embedder: FastEmbedEmbedder, repeat: int) -> dict[str, Any]:
    """Round trips through the real client to a real server on loopback, one at a time and from 4 threads."""
    server, port = create_server(
        ServerConfig(host="127.0.0.1", port=0, index_path=index, watch_seconds=0), embedder=embedder
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--routes", type=Path, default=Path("routes"))
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench-results/speed.json"))
    args = parser.parse_args()

    route_set = load_route_set(args.routes)
    started = time.perf_counter()
    embedder = FastEmbedEmbedder(route_set.settings.embedding)
    load_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "index.zip"
        full = build_index(route_set, path, embedder, progress=False)
        again = build_index(route_set, path, embedder, progress=False)
        router = Router(load_index(path), embedder)
        service = service_figures(path, embedder, args.repeat)

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
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    embed_p50 = figures["embed_one"]["p50_ms"]
    figures["ratios"] = {
        "scoring_over_embedding": round(figures["scoring_one"]["p50_ms"] / embed_p50, 3),
        "route_900k_over_route_short": round(figures["route_900k_chars"]["p50_ms"] / figures["route_one"]["p50_ms"], 2),
        "batch_per_text_over_single": round(figures["route_batch64_per_text_ms"] / figures["route_one"]["p50_ms"], 3),
        "incremental_over_full_build": round(again.seconds / full.seconds, 3),
        "grpc_over_in_process": round(service["grpc_route_one"]["p50_ms"] / figures["route_one"]["p50_ms"], 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    for key, value in figures.items():
        print(f"{key:28} {value}")
    print(json.dumps({"route_one_p50_ms": figures["route_one"]["p50_ms"], **figures["ratios"]}))


if __name__ == "__main__":
    main()
