"""Index figures of ``make bench`` (issue #11, keys 5-7): search by route-set size, approximate-index decisions,
cold start, build speed. Each ``*_figures`` function prints its table and returns its figures; ``index_figures``
runs them all. Standalone: ``python -m benchmarks._speed_index [--sizes 10000,100000,1000000] [--clinc DIR]``; the
last line printed is one JSON object.

- Search (``search_figures``): route sets of random unit vectors, searched one query at a time on one thread, as the
  router does, with the index type ``auto`` picks (exact up to 50,000 utterances, HNSW above). Two kinds of set:
  *route-like* (the headline figures): ``rows / 100`` routes, each a random unit centre with 100 utterances scattered
  around it at CLINC150's spread (cosine 0.71 to their route's mean), queries drawn the same way; *uniform*: vectors
  and queries uniform on the sphere, the case where the nearest neighbours are barely nearer than the rest and every
  index degrades toward a scan. The index is written as in an artifact and searched by a child process that maps it
  in place, whose peak RSS (Python, FAISS, the graph and the vector pages the queries touched) is ``rss_mb``.
  Recall@10 is against the exact scan of the same vectors.
- Decisions (``ann_decision_agreement``): CLINC150's 15,100 training utterances as routes, on the exact index and on
  a forced HNSW index with the same vectors and classifier; the share of its 5,500 test decisions (route, model,
  ambiguity, rules) that are identical.
- Cold start (``start_figures``): ``semroute serve`` child processes, from process start to SERVING on the standard
  health service, for the bundled routes and for a 100,000-utterance artifact (100 route-like routes of 1,000).
- Build (``build_figures``): 10,000 real utterances (CLINC150 train: every intent's first 66, and the 100
  out-of-scope ones; the bundled routes without ../shared), embedded and indexed from nothing; then one route
  changed (10 utterances added) and rebuilt with ``warm_start``, against a cold rebuild of the same routes: its time
  and the share of identical test decisions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faiss
import grpc
import numpy as np
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from benchmarks._loadgen import free_port
from semroute.embedding import Embedder, FastEmbedEmbedder, ModelIdentity, Vectors, embed_texts
from semroute.index import BuildReport, build_index, load_index
from semroute.manifest import IndexSummary
from semroute.quality.batch import route_labelled
from semroute.quality.dataset_routes import write_dataset_routes
from semroute.quality.datasets import LabelledSet, load_labelled
from semroute.route_files import load_route_set
from semroute.router import Router
from semroute.schema import EmbeddingSettings, IndexSettings
from semroute.types import RouteDecision
from semroute.vector_index import (
    build_vector_index,
    nearest,
    prepare_for_queries,
    read_index_member,
    write_index_member,
)
from semroute.wire import SERVICE_NAME

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CLINC = Path("../shared/data/clinc150")
SEARCH_SIZES = (10_000, 100_000, 1_000_000)
UNIFORM_SIZES = (100_000,)
QUERIES = 1_000
PER_ROUTE = 100
SPREAD = 1.0  # noise norm over centre norm: cosine ~0.71 to the centre, CLINC150's utterances to their intent's mean
DIM = 384
BUILD_ROWS = 10_000
ADDED = 10  # utterances added to one route for the rebuild
START_RUNS = 3
STEPS = ("build", "ann", "start", "search")
SERVING_TIMEOUT_S = 120.0


def rounded(value: float, digits: int = 3) -> float:
    """``value`` rounded for the table and the JSON."""
    return round(float(value), digits)


def unit(rows: np.ndarray) -> Vectors:
    """Rows scaled to unit length, float32."""
    scaled: Vectors = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return scaled


def route_like(rows: int, queries: int, seed: int, per_route: int = PER_ROUTE) -> tuple[Vectors, Vectors]:
    """``rows`` utterance vectors of ``rows / per_route`` routes and ``queries`` query vectors drawn the same way."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((max(1, rows // per_route), DIM), dtype=np.float32))
    vectors = np.empty((rows, DIM), dtype=np.float32)
    for start in range(0, rows, 100_000):  # in slices: the noise of a million rows at once would double the memory
        owners = np.arange(start, min(rows, start + 100_000)) // per_route
        noise = unit(rng.standard_normal((len(owners), DIM), dtype=np.float32))
        vectors[start : start + len(owners)] = unit(centres[owners] + SPREAD * noise)
    owners = rng.integers(0, len(centres), queries)
    return vectors, unit(centres[owners] + SPREAD * unit(rng.standard_normal((queries, DIM), dtype=np.float32)))


def uniform(rows: int, queries: int, seed: int) -> tuple[Vectors, Vectors]:
    """``rows`` and ``queries`` vectors uniform on the unit sphere."""
    rng = np.random.default_rng(seed)
    return unit(rng.standard_normal((rows, DIM), dtype=np.float32)), unit(rng.standard_normal((queries, DIM)))


def percentile_ms(seconds: Sequence[float], share: float) -> float:
    """The ``share`` percentile of ``seconds``, in milliseconds."""
    return rounded(float(np.percentile(np.asarray(seconds), share * 100)) * 1000)


def process_rss_mb(key: str = "VmHWM", pid: int | str = "self") -> float:
    """A memory figure of ``/proc/<pid>/status`` (peak RSS by default), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/{pid}/status has no {key}")


# --- search ---------------------------------------------------------------------------------------------------------


def search_set(kind: str, rows: int, work: Path, settings: IndexSettings) -> dict[str, Any]:
    """Build the index of one set, search it from a child process, and measure recall against the exact scan."""
    make = route_like if kind == "route_like" else uniform
    vectors, queries = make(rows, QUERIES, seed=rows)
    started = time.perf_counter()
    index, summary = build_vector_index(vectors, settings, top_k=10)
    build_s = time.perf_counter() - started
    path = work / f"search-{kind}-{rows}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("summary.json", summary.model_dump_json())
        write_index_member(archive, "index.faiss", index)
    del index
    np.save(work / "queries.npy", queries)
    _, truth = faiss.knn(queries, vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
    exact_s = exact_scan_seconds(vectors, queries[: 20 if rows >= 1_000_000 else 200])
    del vectors
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks._speed_index", "--search-child", str(path), str(work / "queries.npy")],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    served = json.loads(child.stdout.strip().splitlines()[-1])
    found = np.load(work / "found.npy")
    recall = np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(found, truth, strict=True)])
    path.unlink()
    return {
        "set": kind,
        "rows": rows,
        "type": summary.type,
        "build_s": rounded(build_s, 1),
        "build_recall": summary.recall,
        "load_s": served["load_s"],
        "search_p50_ms": served["p50_ms"],
        "search_p99_ms": served["p99_ms"],
        "recall_at_10": rounded(recall, 4),
        "rss_mb": served["rss_mb"],
        "exact_p50_ms": rounded(statistics.median(exact_s) * 1000),
    }


def exact_scan_seconds(vectors: Vectors, queries: Vectors) -> list[float]:
    """Seconds of the exact scan of each query, one at a time on one thread."""
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        samples = []
        for query in queries:
            started = time.perf_counter()
            faiss.knn(query[None], vectors, 10, metric=faiss.METRIC_INNER_PRODUCT)
            samples.append(time.perf_counter() - started)
        return samples
    finally:
        faiss.omp_set_num_threads(threads)


def search_child(path: Path, queries_path: Path) -> None:
    """In a fresh process: map the index in place, search every query one at a time on one thread, as the router
    does; write the rows found beside the queries and print timings and peak RSS as one JSON line."""
    queries = np.load(queries_path)
    faiss.omp_set_num_threads(1)
    started = time.perf_counter()
    with open(path, "rb") as source, zipfile.ZipFile(source) as archive:
        summary = IndexSummary.model_validate_json(archive.read("summary.json"))
        index = read_index_member(source, archive, "index.faiss")
    prepare_for_queries(index, summary)
    load_s = time.perf_counter() - started
    seconds, found = [], []
    for query in queries:
        began = time.perf_counter()
        _, rows = nearest(index, summary, query[None], 10)
        seconds.append(time.perf_counter() - began)
        found.append(rows)
    np.save(queries_path.with_name("found.npy"), np.stack(found))
    figures = {"load_s": rounded(load_s), "p50_ms": percentile_ms(seconds, 0.5), "p99_ms": percentile_ms(seconds, 0.99)}
    print(json.dumps(figures | {"rss_mb": rounded(process_rss_mb(), 1)}))


def search_figures(
    work: Path, sizes: Sequence[int] = SEARCH_SIZES, uniform_sizes: Sequence[int] = UNIFORM_SIZES
) -> dict[str, Any]:
    """Build time, search p50/p99, recall@10 and serving RSS by route-set size (route-like sets, then uniform ones),
    with the default index settings; keys ``search_p50_ms_1m``, ``recall_at_10_1m``, ``rss_mb_1m`` when 1M is run."""
    settings = IndexSettings()
    rows = [search_set("route_like", size, work, settings) for size in sizes]
    rows += [search_set("uniform", size, work, settings) for size in uniform_sizes]
    print_table("search (one query, one thread; child process mapping the index)", rows)
    figures: dict[str, Any] = {"search": rows}
    for row in rows:
        suffix = _size_suffix(row["rows"]) + ("" if row["set"] == "route_like" else "_uniform")
        figures |= {
            f"search_p50_ms_{suffix}": row["search_p50_ms"],
            f"search_p99_ms_{suffix}": row["search_p99_ms"],
            f"recall_at_10_{suffix}": row["recall_at_10"],
            f"rss_mb_{suffix}": row["rss_mb"],
        }
    return figures


def _size_suffix(rows: int) -> str:
    return f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else f"{rows // 1000}k"


# --- CLINC150 (or the bundled routes): the real sets ----------------------------------------------------------------


@dataclass(frozen=True)
class RealSets:
    """The real utterances: a 10k training cut, the full training set, the rows one route gains, the test set."""

    cut: LabelledSet
    full: LabelledSet
    added: LabelledSet
    test: LabelledSet
    name: str


def real_sets(clinc: Path | None) -> RealSets:
    """CLINC150's sets, or the bundled routes' utterances and their held-out test file without ../shared."""
    data = clinc / "data_full.json" if clinc else None
    if data is not None and data.is_file():
        train = load_labelled(data, "train+oos_train")
        taken: dict[str, int] = {}
        cut, added = [], []
        first = sorted(set(train.labels) - {"oos"})[0]
        for text, label in zip(train.texts, train.labels, strict=True):
            taken[label] = taken.get(label, 0) + 1
            if label == "oos" or taken[label] <= 66:
                cut.append((text, label))
            elif label == first and taken[label] <= 66 + ADDED:
                added.append((text, label))
        return RealSets(
            _labelled(train.source + " (10k cut)", cut),
            train,
            _labelled(train.source + " (added)", added),
            load_labelled(data, "test+oos_test"),
            "CLINC150",
        )
    route_set = load_route_set(REPO / "routes")
    rows = [(text, route.name) for route in route_set.routes for text in route.utterances]
    tests = [json.loads(line) for line in (REPO / "tests/data/default_routes_test.jsonl").read_text().splitlines()]
    test = _labelled("default_routes_test.jsonl", [(row["text"], row["label"]) for row in tests])
    first = route_set.routes[0].name
    kept = [row for row in rows if row[1] != first] + [row for row in rows if row[1] == first][:-ADDED]
    added = [row for row in rows if row[1] == first][-ADDED:]
    return RealSets(
        _labelled("routes/", kept), _labelled("routes/", rows), _labelled("routes/", added), test, "bundled"
    )


def _labelled(source: str, pairs: Sequence[tuple[str, str]]) -> LabelledSet:
    return LabelledSet(source, tuple(text for text, _ in pairs), tuple(label for _, label in pairs))


def dataset_routes(data: LabelledSet, folder: Path, **index: Any) -> Path:
    """A fresh routes folder for ``data`` with ``settings.index`` set to ``index``."""
    if folder.exists():
        shutil.rmtree(folder)
    return write_dataset_routes(data, folder, settings={"index": index} if index else None).folder


def decisions(path: Path, embedder: Embedder, test: LabelledSet, vectors: Vectors) -> list[tuple[Any, ...]]:
    """What the router on the artifact at ``path`` decides for every test item (route, model, ambiguity, rules)."""
    routed = route_labelled(Router(load_index(path), embedder), test, vectors=vectors, progress=False)
    return [_decision_key(decision) for decision in routed.decisions]


def _decision_key(decision: RouteDecision) -> tuple[Any, ...]:
    return (decision.route, decision.model.name, decision.ambiguous, tuple(decision.rules))


def agreement(first: Sequence[tuple[Any, ...]], second: Sequence[tuple[Any, ...]]) -> float:
    """Share of identical decisions."""
    return sum(a == b for a, b in zip(first, second, strict=True)) / len(first)


def test_vectors(embedder: Embedder, sets: RealSets, work: Path) -> Vectors:
    """The test set's vectors, embedded once per work folder."""
    cache = work / f"test-vectors-{sets.name}.npy"
    if cache.is_file():
        cached: Vectors = np.load(cache)
        return cached
    vectors = embed_texts(embedder, list(sets.test.texts), progress=False)
    np.save(cache, vectors)
    return vectors


def build_figures(embedder: Embedder, work: Path, clinc: Path | None = DEFAULT_CLINC) -> dict[str, Any]:
    """``index_utterances_per_s`` (10k real utterances from nothing), ``rebuild_one_route_s`` (one route changed,
    warm-started classifier) with the cold rebuild beside it, and ``warm_start_agreement`` on the test set."""
    sets = real_sets(clinc)
    changed = _labelled("one route changed", _pairs(sets.cut) + _pairs(sets.added))
    path, first_copy, cold_path = work / "build-10k.zip", work / "build-10k-first.zip", work / "build-10k-cold.zip"
    path.unlink(missing_ok=True)
    first = _build(embedder, sets.cut, work / "routes-10k", path, warm_start=True)
    shutil.copyfile(path, first_copy)
    shutil.copyfile(path, cold_path)
    warm = _build(embedder, changed, work / "routes-10k-warm", path, warm_start=True)
    cold = _build(embedder, changed, work / "routes-10k-cold", cold_path)
    vectors = test_vectors(embedder, sets, work)
    same = agreement(decisions(path, embedder, sets.test, vectors), decisions(cold_path, embedder, sets.test, vectors))
    rows = [
        {"build": f"{first.utterances:,} utterances from nothing", "seconds": rounded(first.seconds, 2),
         "embedded": first.embedded, "classifier": _training(first_copy)},
        {"build": "one route changed, warm start", "seconds": rounded(warm.seconds, 2), "embedded": warm.embedded,
         "classifier": _training(path)},
        {"build": "one route changed, cold", "seconds": rounded(cold.seconds, 2), "embedded": cold.embedded,
         "classifier": _training(cold_path)},
    ]  # fmt: skip
    print_table(f"build ({sets.name})", rows)
    print(f"warm-start decisions identical to the cold rebuild's on {len(sets.test):,} test items: {same:.4f}")
    return {
        "build_set": sets.name,
        "index_utterances_per_s": rounded(first.utterances / first.seconds, 1),
        "index_build_10k_s": rounded(first.seconds, 2),
        "rebuild_one_route_s": rounded(warm.seconds, 2),
        "rebuild_one_route_cold_s": rounded(cold.seconds, 2),
        "warm_start_agreement": rounded(same, 4),
    }


def _build(embedder: Embedder, data: LabelledSet, folder: Path, path: Path, **index: Any) -> BuildReport:
    return build_index(load_route_set(dataset_routes(data, folder, **index)), path, embedder, progress=False)


def _training(path: Path) -> str:
    summary = load_index(path).manifest.classifier
    return "-" if summary is None else f"{summary.training}, {summary.iterations} iterations"


def _pairs(data: LabelledSet) -> list[tuple[str, str]]:
    return list(zip(data.texts, data.labels, strict=True))


def ann_agreement_figures(embedder: Embedder, work: Path, clinc: Path | None = DEFAULT_CLINC) -> dict[str, Any]:
    """``ann_decision_agreement``: the full training set as routes on the exact index and on a forced HNSW index
    (same vectors, same classifier); the share of identical test decisions."""
    sets = real_sets(clinc)
    exact_path, hnsw_path = work / "ann-exact.zip", work / "ann-hnsw.zip"
    earlier = work / "build-10k-first.zip"
    if not exact_path.exists() and earlier.exists():
        shutil.copyfile(earlier, exact_path)  # its vectors are reused
    full_routes = load_route_set(dataset_routes(sets.full, work / "routes-full"))
    exact = build_index(full_routes, exact_path, embedder, progress=False)
    shutil.copyfile(exact_path, hnsw_path)
    hnsw_routes = dataset_routes(sets.full, work / "routes-full-hnsw", type="hnsw")
    hnsw = build_index(load_route_set(hnsw_routes), hnsw_path, embedder, progress=False)
    vectors = test_vectors(embedder, sets, work)
    same = agreement(
        decisions(exact_path, embedder, sets.test, vectors), decisions(hnsw_path, embedder, sets.test, vectors)
    )
    summary = load_index(hnsw_path).index_summary
    rows = [
        {"index": "exact", "utterances": exact.utterances, "build_s": rounded(exact.seconds, 2), "recall@10": 1.0},
        {"index": f"hnsw M={summary.hnsw_m} efC={summary.ef_construction} ef={summary.ef_search}",
         "utterances": hnsw.utterances, "build_s": rounded(hnsw.seconds, 2), "recall@10": summary.recall},
    ]  # fmt: skip
    print_table(f"approximate index on {sets.name} ({len(sets.test):,} test decisions)", rows)
    print(f"decisions identical to the exact index's: {same:.4f}")
    return {"ann_decision_agreement": rounded(same, 4), "ann_build_recall_at_10": summary.recall}


# --- cold start -----------------------------------------------------------------------------------------------------


class TableEmbedder:
    """Vectors looked up by text, under the real model's identity: builds a synthetic artifact that ``semroute
    serve`` with the real model accepts, without embedding its texts."""

    def __init__(self, identity: ModelIdentity, table: dict[str, np.ndarray]) -> None:
        self._identity = identity
        self._table = table

    @property
    def identity(self) -> ModelIdentity:
        """The real model's identity."""
        return self._identity

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Vectors:
        """The stored vectors of ``texts``."""
        return np.stack([self._table[text] for text in texts]).astype(np.float32)


def synthetic_artifact(path: Path, identity: ModelIdentity, rows: int, routes: int) -> float:
    """A ``rows``-utterance artifact of ``routes`` route-like routes at ``path``; returns its build seconds."""
    vectors, _ = route_like(rows, 1, seed=7, per_route=rows // routes)
    folder = path.with_suffix(".routes")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    catalog = {"m": {"litellm": "openai/m", "tier": "mid", "input_cost_per_mtok": 1, "output_cost_per_mtok": 2,
                     "context_window": 128000}}  # fmt: skip
    router = {"settings": {"default_route": "r0"}, "models": catalog}
    (folder / "router.yaml").write_text(yaml.safe_dump(router))
    per_route = rows // routes
    table = {}
    for number in range(routes):
        texts = [f"route {number} utterance {row}" for row in range(per_route)]
        table |= dict(zip(texts, vectors[number * per_route : (number + 1) * per_route], strict=True))
        route = {"name": f"r{number}", "model": "m", "utterances": texts}
        (folder / f"r{number}.yaml").write_text(yaml.safe_dump(route))
    report = build_index(load_route_set(folder), path, TableEmbedder(identity, table), progress=False)
    return report.seconds


def seconds_to_serving(index: Path, log: Path) -> tuple[float, float]:
    """Start ``semroute serve`` on ``index``; seconds from process start to SERVING, and its RSS then (MiB)."""
    semroute = Path(sys.executable).parent / "semroute"
    port = free_port()
    command = [
        str(semroute), "serve", "--host", "127.0.0.1", "--port", str(port), "--index", str(index.resolve()),
        "--watch-seconds", "0", "--drain-seconds", "0", "--log-level", "warning", "--no-store",
    ]  # fmt: skip
    with log.open("ab") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=REPO)  # REPO: the model
    try:
        seconds = _wait_until_serving(f"127.0.0.1:{port}", process, started)
        return seconds, process_rss_mb("VmRSS", process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


def _wait_until_serving(address: str, process: subprocess.Popen[bytes], started: float) -> float:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.perf_counter() - started < SERVING_TIMEOUT_S:
            if process.poll() is not None:
                raise RuntimeError(f"semroute serve exited with {process.returncode}")
            try:
                answer = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=0.5)
                if answer.status == health_pb2.HealthCheckResponse.SERVING:
                    return time.perf_counter() - started
            except grpc.RpcError:
                pass  # not listening yet
            time.sleep(0.02)
    raise TimeoutError(f"not SERVING after {SERVING_TIMEOUT_S:.0f} s")


def start_figures(embedder: Embedder, work: Path, default_index: Path | None = None) -> dict[str, Any]:
    """``start_s_default`` and ``start_s_100k``: medians of ``START_RUNS`` starts each, taken in turn."""
    if default_index is None:
        default_index = work / "default.zip"
        build_index(load_route_set(REPO / "routes"), default_index, embedder, progress=False)
    big = work / "start-100k.zip"
    build_s = synthetic_artifact(big, embedder.identity, 100_000, 100)
    samples: dict[str, list[tuple[float, float]]] = {"default": [], "100k": []}
    for _ in range(START_RUNS):
        for name, path in (("default", default_index), ("100k", big)):
            samples[name].append(seconds_to_serving(path, work / "serve.log"))
    rows = []
    for name, path in (("default", default_index), ("100k", big)):
        manifest = load_index(path).manifest
        rows.append({
            "artifact": name, "utterances": manifest.counts.utterances,
            "index": manifest.index.type if manifest.index else "exact", "mb": rounded(path.stat().st_size / 2**20, 1),
            "start_s": [rounded(s, 2) for s, _ in samples[name]], "rss_mb": rounded(samples[name][-1][1], 1),
        })  # fmt: skip
    print_table(f"cold start: process start to SERVING (100k artifact built in {build_s:.0f} s)", rows)
    return {
        "start_s_default": rounded(statistics.median(s for s, _ in samples["default"]), 2),
        "start_s_100k": rounded(statistics.median(s for s, _ in samples["100k"]), 2),
        "start_rss_mb_100k": rounded(samples["100k"][-1][1], 1),
    }


# --- all ------------------------------------------------------------------------------------------------------------


def print_table(title: str, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of equal keys as an aligned table under ``title``."""
    print(f"\n{title}")
    if not rows:
        return
    keys = list(rows[0])
    cells = [[str(row.get(key, "")) for key in keys] for row in rows]
    widths = [max(len(key), *(len(cell[n]) for cell in cells)) for n, key in enumerate(keys)]
    print("  ".join(key.ljust(width) for key, width in zip(keys, widths, strict=True)))
    for cell in cells:
        print("  ".join(value.ljust(width) for value, width in zip(cell, widths, strict=True)))


def index_figures(
    embedder: Embedder,
    work: Path,
    *,
    clinc: Path | None = DEFAULT_CLINC,
    sizes: Sequence[int] = SEARCH_SIZES,
    uniform_sizes: Sequence[int] = UNIFORM_SIZES,
    default_index: Path | None = None,
    steps: Sequence[str] = STEPS,
) -> dict[str, Any]:
    """The figures of ``steps`` (default all, in this order: build first, while nothing is embedded or imported
    yet; search last)."""
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "build": lambda: build_figures(embedder, work, clinc),
        "ann": lambda: ann_agreement_figures(embedder, work, clinc),
        "start": lambda: start_figures(embedder, work, default_index),
        "search": lambda: search_figures(work, sizes, uniform_sizes),
    }
    figures: dict[str, Any] = {}
    for step in STEPS:
        if step in steps:
            figures |= runs[step]()
    return figures


HEADLINE = (
    "search_p50_ms_1m", "search_p99_ms_1m", "recall_at_10_1m", "rss_mb_1m", "ann_decision_agreement",
    "start_s_default", "start_s_100k", "index_utterances_per_s", "rebuild_one_route_s", "warm_start_agreement",
)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clinc", type=Path, default=DEFAULT_CLINC, help="folder with CLINC150's data_full.json")
    parser.add_argument("--sizes", default=",".join(map(str, SEARCH_SIZES)), help="route-like set sizes")
    parser.add_argument("--uniform-sizes", default=",".join(map(str, UNIFORM_SIZES)), help="uniform set sizes")
    parser.add_argument("--work", type=Path, default=Path("bench-results/speed_index"), help="scratch folder")
    parser.add_argument("--out", type=Path, default=Path("bench-results/speed_index.json"))
    parser.add_argument("--steps", default=",".join(STEPS), help="which figures: build, ann, start, search")
    parser.add_argument("--search-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_child:
        search_child(*args.search_child)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    embedder = FastEmbedEmbedder(EmbeddingSettings())
    sizes = [int(size) for size in args.sizes.split(",") if size]
    uniform_sizes = [int(size) for size in args.uniform_sizes.split(",") if size]
    steps = args.steps.split(",")
    figures = index_figures(
        embedder, args.work, clinc=args.clinc, sizes=sizes, uniform_sizes=uniform_sizes, steps=steps
    )
    figures["machine"] = {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(json.dumps({key: figures[key] for key in HEADLINE if key in figures}))


if __name__ == "__main__":
    main()
