"""The FAISS index over the utterance vectors: its type, its build, its search and how it is stored.

Two types (``settings.index``, :class:`semroute.schema.IndexSettings`):

- ``exact``: ``IndexFlatIP``, every utterance scored for every query. ``auto`` keeps it up to ``exact_up_to``
  utterances (50,000 by default: about 2 ms a query on one core, against 7 ms for the embedding).
- ``hnsw``: ``IndexHNSWFlat`` with the inner-product metric, a graph walked from a few entry points. It keeps the
  float32 vectors and scores every candidate it visits with the kernel of the exact scan, so a neighbour it finds has
  bitwise the similarity the exact scan gives it; ``ef_search`` candidates are scored per query, and the best
  ``top_k`` of them (re-ranked by similarity, then row) are the neighbours. What the graph can miss is a neighbour:
  the build measures its recall@top_k against the exact scan on a sample of utterances, each one a query with
  itself left out, and the manifest keeps it. Graphs built on several threads differ from build to build.

The index is stored uncompressed and page-aligned in the artifact (zip) and read in place: FAISS reads it through a
read-only memory map of the artifact without copying the vectors (``faiss.ZeroCopyIOReader``), so a start reads
nothing but the graph, and the pages of the vectors come in as queries touch them (and are shared by every process
serving the same file). An artifact from before index types (its index member compressed) is read into memory.
"""

from __future__ import annotations

import os
import struct
import zipfile
from typing import IO, Any, Literal

import faiss
import numpy as np
import numpy.typing as npt

from semroute.manifest import IndexSummary
from semroute.schema import IndexSettings, IndexType

Vectors = npt.NDArray[np.float32]
Rows = npt.NDArray[np.int64]
IndexKind = Literal["exact", "hnsw"]

PAGE = 4096
_ALIGNMENT_EXTRA_ID = 0xD935  # the zip "extra field" id Android's zipalign pads with
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # signature ... file name length, extra field length
_ZIP64_EXTRA_BYTES = 20  # what zipfile appends to a forced-zip64 member's local header
_WRITE_BLOCK = 1 << 20


def chosen_kind(settings: IndexSettings, rows: int) -> IndexKind:
    """The index type a build of ``rows`` utterances writes."""
    if settings.type is IndexType.AUTO:
        return "exact" if rows <= settings.exact_up_to else "hnsw"
    return "exact" if settings.type is IndexType.EXACT else "hnsw"


def build_vector_index(vectors: Vectors, settings: IndexSettings, top_k: int) -> tuple[Any, IndexSummary]:
    """The FAISS index of ``vectors`` (unit rows) and what it is; for HNSW, its recall@``top_k`` measured."""
    dim = vectors.shape[1]
    if chosen_kind(settings, len(vectors)) == "exact":
        exact = faiss.IndexFlatIP(dim)
        exact.add(vectors)
        return exact, IndexSummary(type="exact")
    graph = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = settings.ef_construction
    graph.hnsw.efSearch = settings.ef_search
    with _all_threads():
        graph.add(vectors)
        recall, sample = measure_recall(graph, vectors, top_k, settings.recall_sample)
    summary = IndexSummary(
        type="hnsw",
        hnsw_m=settings.hnsw_m,
        ef_construction=settings.ef_construction,
        ef_search=settings.ef_search,
        recall_k=top_k,
        recall=recall,
        recall_sample=sample,
    )
    return graph, summary


def measure_recall(index: Any, vectors: Vectors, k: int, sample: int, seed: int = 0) -> tuple[float | None, int]:
    """Recall@``k`` of ``index`` against the exact scan over ``vectors``, with ``sample`` of them as queries (each
    one left out of its own neighbours), and the number of queries; None when there are fewer than two vectors."""
    rows = len(vectors)
    k = min(k, rows - 1)
    if k < 1:
        return None, 0
    picked = np.sort(np.random.default_rng(seed).choice(rows, size=min(sample, rows), replace=False))
    queries = np.ascontiguousarray(vectors[picked])
    _, exact = faiss.knn(queries, vectors, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
    _, found = search_rows(index, queries, k + 1)
    hits = 0
    for own, truth, approximate in zip(picked.tolist(), exact, found, strict=True):
        expected = [row for row in truth.tolist() if row != own][:k]
        got = {row for row in approximate.tolist() if row != own}
        hits += sum(row in got for row in expected)
    return hits / (k * len(picked)), len(picked)


def search_rows(index: Any, queries: Vectors, k: int) -> tuple[Vectors, Rows]:
    """FAISS's own search, ``k`` capped at the index size (what the exact scan has always answered)."""
    similarities, rows = index.search(queries, min(k, index.ntotal))
    return similarities, rows


def nearest(index: Any, summary: IndexSummary, query: Vectors, top_k: int) -> tuple[Vectors, Rows]:
    """The ``top_k`` nearest rows of one query ``(1, dim)`` and their similarities, best first, as the exact scan
    ranks them; HNSW scores ``ef_search`` candidates (at least ``top_k``) and keeps the best ``top_k``."""
    if summary.type == "exact":
        similarities, rows = search_rows(index, query, top_k)
        return similarities[0], rows[0]
    shortlist = max(top_k, summary.ef_search or top_k)
    similarities, rows = search_rows(index, query, shortlist)
    found = rows[0] >= 0
    candidates, scores = rows[0][found], similarities[0][found]
    order = np.lexsort((candidates, -scores))[:top_k]  # by similarity, ties by row: one answer for one query
    wanted = min(top_k, index.ntotal)
    best_rows = np.full(wanted, -1, dtype=np.int64)
    best_scores = np.full(wanted, -np.inf, dtype=np.float32)
    best_rows[: len(order)], best_scores[: len(order)] = candidates[order], scores[order]
    return best_scores, best_rows


def prepare_for_queries(index: Any, summary: IndexSummary) -> None:
    """Set the query-time parameters the manifest records (HNSW's ``ef_search``)."""
    if summary.type == "hnsw" and summary.ef_search is not None:
        index.hnsw.efSearch = summary.ef_search


def write_index_member(archive: zipfile.ZipFile, name: str, index: Any) -> None:
    """Write ``index`` as member ``name``: uncompressed, its data starting on a page boundary, streamed without a
    serialized copy in memory."""
    member = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    member.compress_type = zipfile.ZIP_STORED
    member.external_attr = 0o644 << 16
    start = archive.fp.tell() if archive.fp is not None else 0
    header = _LOCAL_HEADER.size + len(name.encode()) + 4 + _ZIP64_EXTRA_BYTES
    padding = (-(start + header)) % PAGE
    member.extra = struct.pack("<HH", _ALIGNMENT_EXTRA_ID, padding) + bytes(padding)
    with archive.open(member, "w", force_zip64=True) as out:
        writer = faiss.PyCallbackIOWriter(out.write, _WRITE_BLOCK)  # type: ignore[attr-defined]  # not in faiss's stubs
        faiss.write_index(index, writer)


def read_index_member(source: IO[bytes], archive: zipfile.ZipFile, name: str) -> Any:
    """Read member ``name`` of the open artifact ``source`` (``archive`` reads the same file) into a FAISS index:
    in place through a read-only memory map when it is stored uncompressed, else decompressed into memory.

    Raises:
        KeyError: no such member.
        RuntimeError: FAISS cannot read it.
        ValueError, OSError: the member's header is damaged.
    """
    member = archive.getinfo(name)
    if member.compress_type != zipfile.ZIP_STORED or member.file_size == 0:
        return faiss.deserialize_index(np.frombuffer(archive.read(name), dtype=np.uint8))
    source.seek(member.header_offset)
    fields = _LOCAL_HEADER.unpack(source.read(_LOCAL_HEADER.size))
    if fields[0] != b"PK\x03\x04":
        raise ValueError(f"member {name} has no local header")
    start = member.header_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]
    if start + member.file_size > os.fstat(source.fileno()).st_size:
        raise ValueError(f"member {name} runs past the end of the file")
    mapped = np.memmap(source, dtype=np.uint8, mode="r", offset=start, shape=(member.file_size,))
    reader = faiss.ZeroCopyIOReader(faiss.swig_ptr(mapped), member.file_size)  # type: ignore[attr-defined]
    index: Any = faiss.read_index(reader)
    index.referenced_objects = [mapped]  # the vectors live in the map: it must outlive the index
    return index


class _all_threads:
    """Build on every core, then restore the thread count in force (the router runs queries on one)."""

    def __enter__(self) -> None:
        self._threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(os.cpu_count() or 1)

    def __exit__(self, *_: object) -> None:
        faiss.omp_set_num_threads(self._threads)
