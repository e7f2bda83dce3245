"""Route files -> FAISS index artifact, and back.

The artifact is one zip file written atomically (a temporary file, then ``os.replace``), so a failed build never
replaces the previous good index and a server never sees half a file. It holds:

- ``manifest.json``: format, fingerprints, embedding model id/dim/hash, counts, build time, settings, resolved
  catalog, route targets and override rules: everything a decision needs besides the vectors;
- ``utterances.json``: the route number and text of each index row;
- ``index.faiss``: a FAISS inner-product index over the unit-length utterance vectors (inner product = cosine), exact
  or HNSW by size (:mod:`semroute.vector_index`), stored uncompressed and page-aligned so that loading maps it in
  place instead of copying it;
- ``classifier.npz``: the route classifier trained on those vectors;
- ``centroids.npy``: each route's unit mean vector (the ``centroid`` signal), so that a start reads no vector.

Builds are incremental: vectors of utterances already in the previous artifact (same model) are reused, the new ones
are embedded shortest first (batches of similar lengths carry little padding), the classifier is reused when its
training data did not change (or, with ``settings.index.warm_start``, starts from the previous coefficients), and a
build whose routes and model match the artifact's does nothing. Loading re-embeds and retrains nothing; an artifact
written before ``centroids.npy`` existed still loads (its centroids are computed from the vectors).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from semroute.catalog import resolve_catalog
from semroute.classifier import PreviousFit, RouteClassifier, Training, train_classifier, warm_train_classifier
from semroute.decision import Policy, RouteTarget
from semroute.embedding import Embedder, ModelIdentity, Vectors
from semroute.errors import IndexArtifactError, IndexModelMismatchError
from semroute.learning.artifact import LEARNED_ARRAYS, LEARNED_JSON, LearnedFileError, from_members, read_members
from semroute.learning.estimator import LearnedModels
from semroute.manifest import ARTIFACT_FORMAT, ClassifierSummary, Counts, IndexSummary, LearnedSummary, Manifest
from semroute.route_files import ROUTER_FILE, RouteSet
from semroute.schema import Settings
from semroute.types import ResolvedModel
from semroute.vector_index import (
    build_vector_index,
    nearest,
    prepare_for_queries,
    read_index_member,
    write_index_member,
)

_MANIFEST = "manifest.json"
_UTTERANCES = "utterances.json"
_FAISS = "index.faiss"
_CLASSIFIER = "classifier.npz"
_CENTROIDS = "centroids.npy"
EMBED_BATCH = 64
_EMBED_CHUNK = 1024  # texts per embedding call (the progress bar's step); the model batches them by EMBED_BATCH


@dataclass(frozen=True)
class IndexArtifact:
    """A loaded index: FAISS vectors, the route of each row, and the decision policy."""

    manifest: Manifest
    index: Any  # faiss.IndexFlatIP or faiss.IndexHNSWFlat (see index_summary); faiss ships no type information
    row_routes: np.ndarray  # route number of each row
    route_names: tuple[str, ...]
    utterances: tuple[str, ...]
    policy: Policy
    model: ModelIdentity
    classifier: RouteClassifier
    centroids: np.ndarray  # (routes, dim) unit mean vector of each route's utterances; zero for override-only routes
    learned: LearnedModels | None = None  # the learned model choice, when the index carries one

    @property
    def fingerprint(self) -> str:
        """Hash of the routes and the model this index was built from."""
        return self.manifest.fingerprint

    @property
    def index_summary(self) -> IndexSummary:
        """The type of the FAISS index (exact for an artifact from before index types) and its measured recall."""
        return self.manifest.index or IndexSummary(type="exact")

    def nearest(self, query: Vectors, top_k: int) -> tuple[Vectors, np.ndarray]:
        """Similarities and rows of the ``top_k`` nearest utterances to one query ``(1, dim)``, best first (rows
        -1 where the index holds fewer)."""
        return nearest(self.index, self.index_summary, query, top_k)

    def require_model(self, identity: ModelIdentity) -> None:
        """Refuse an embedding model other than the one that built this index.

        Raises:
            IndexModelMismatchError: model id, dimension or model file hash differ.
        """
        if identity != self.model:
            raise IndexModelMismatchError(
                f"index was built with {_describe(self.model)} but the loaded model is {_describe(identity)}; "
                "rebuild it with `make index` (or `semroute index`) using the model you serve with"
            )


@dataclass(frozen=True)
class BuildReport:
    """What ``build_index`` did."""

    path: Path
    fingerprint: str
    routes: int
    utterances: int
    embedded: int
    reused: int
    seconds: float
    up_to_date: bool = False


def routes_fingerprint(route_set: RouteSet) -> str:
    """Hash of everything in a route set that shapes the index or a decision."""
    canonical = {
        "settings": route_set.settings.model_dump(mode="json"),
        "models": {name: spec.model_dump(mode="json") for name, spec in sorted(route_set.models.items())},
        "routes": [route.model_dump(mode="json") for route in route_set.routes],
        "rules": [rule.model_dump(mode="json", by_alias=True) for rule in route_set.rules],
        "fitted": route_set.fitted.model_dump(mode="json") if route_set.fitted else None,
    }
    return _sha256_json(canonical)


def read_manifest(path: Path) -> Manifest | None:
    """The manifest of the artifact at ``path``, or None when there is no readable artifact or valid manifest."""
    try:
        with zipfile.ZipFile(path) as archive:
            return Manifest.from_json(archive.read(_MANIFEST))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def is_up_to_date(route_set: RouteSet, path: Path, model_sha256: str | None, learned: Path | None = None) -> bool:
    """Whether the artifact at ``path`` was built from these routes (and, when known, this model file) and the
    learned file ``learned`` (None or a missing file: none)."""
    manifest = read_manifest(path)
    if manifest is None:
        return False
    same_model = model_sha256 is None or manifest.model.sha256 == model_sha256
    built_with = manifest.learned.sha256 if manifest.learned else None
    same_learned = built_with == _learned_sha256(learned)
    return manifest.routes_fingerprint == routes_fingerprint(route_set) and same_model and same_learned


def _learned_sha256(learned: Path | None) -> str | None:
    if learned is None or not learned.is_file():
        return None
    return hashlib.sha256(learned.read_bytes()).hexdigest()


def build_index(
    route_set: RouteSet,
    path: Path,
    embedder: Embedder,
    *,
    resolve: Callable[[RouteSet], dict[str, ResolvedModel]] | None = None,
    progress: bool = True,
    learned: Path | None = None,
) -> BuildReport:
    """Embed every utterance (reusing vectors from the previous artifact) and write a new artifact atomically;
    ``learned`` (``semroute learn``'s output), when the file exists, goes in too.

    Raises:
        IndexArtifactError: the learned file is unreadable or was learned with another embedding model.
    """
    started = time.perf_counter()
    learned_members, learned_summary = _learned_members(learned, embedder.identity)
    catalog = (resolve or _resolve_catalog)(route_set)
    route_names = tuple(route.name for route in route_set.routes)
    rows = [(number, text) for number, route in enumerate(route_set.routes) for text in route.utterances]
    texts = [text for _, text in rows]
    previous = _previous(path, embedder.identity)
    vectors, embedded = _vectors_for(texts, previous, embedder, progress)
    settings = route_set.settings
    index, index_summary = build_vector_index(vectors, settings.index, settings.top_k)
    labels = np.asarray([number for number, _ in rows], dtype=np.int64)
    classifier, classifier_summary = _classifier_for(vectors, labels, texts, route_names, settings, previous)
    routes_hash = routes_fingerprint(route_set)
    fingerprint = _sha256_json(
        {"routes": routes_hash, "model": embedder.identity.__dict__}
        | ({"learned": learned_summary.sha256} if learned_summary else {})
    )
    manifest = Manifest(
        fingerprint=fingerprint,
        routes_fingerprint=routes_hash,
        model=embedder.identity,
        counts=Counts(routes=len(route_names), utterances=len(rows)),
        built_at=datetime.now(UTC).replace(microsecond=0),
        settings=route_set.settings,
        catalog=catalog,
        routes=tuple(_target(route_set, number) for number in range(len(route_names))),
        rules=route_set.rules,
        learned=learned_summary,
        index=index_summary,
        classifier=classifier_summary,
    )
    utterances = {"routes": [number for number, _ in rows], "texts": texts}
    centroids = route_centroids(vectors, labels, len(route_names))
    _write_atomically(path, manifest, utterances, index, classifier, centroids, learned_members)
    seconds = time.perf_counter() - started
    return BuildReport(path, fingerprint, len(route_names), len(rows), embedded, len(rows) - embedded, seconds)


def load_index(path: Path) -> IndexArtifact:
    """Read and check an artifact.

    Raises:
        IndexArtifactError: the file is missing, unreadable, of another format, or inconsistent.
    """
    if not path.is_file():
        raise IndexArtifactError(f"index {path} not found; build it with `make index` (or `semroute index`)")
    try:
        # one open file for every member: a build replacing the artifact meanwhile cannot mix two of them
        with open(path, "rb") as source, zipfile.ZipFile(source) as archive:
            raw_manifest = archive.read(_MANIFEST)
            _require_format(path, raw_manifest)
            utterances = json.loads(archive.read(_UTTERANCES))
            with np.load(io.BytesIO(archive.read(_CLASSIFIER))) as arrays:
                classifier = RouteClassifier.from_arrays(dict(arrays))
            names = set(archive.namelist())
            centroids = np.load(io.BytesIO(archive.read(_CENTROIDS))) if _CENTROIDS in names else None
            learned_members = {name: archive.read(name) for name in (LEARNED_JSON, LEARNED_ARRAYS) if name in names}
            index = read_index_member(source, archive, _FAISS)
    except IndexArtifactError:
        raise
    except (OSError, EOFError, KeyError, ValueError, RuntimeError, zipfile.BadZipFile) as exc:
        raise IndexArtifactError(f"index {path} is unreadable ({exc}); rebuild it with `make index`") from exc
    try:
        artifact = _assemble(Manifest.from_json(raw_manifest), utterances, index, classifier, centroids)
        if artifact.manifest.learned is None:
            return artifact
        return replace(artifact, learned=from_members(learned_members, artifact.model))
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexArtifactError(f"index {path} is inconsistent ({exc}); rebuild it with `make index`") from exc


def _require_format(path: Path, raw_manifest: bytes) -> None:
    try:
        found = json.loads(raw_manifest).get("format")
    except (ValueError, AttributeError):
        found = None
    if found != ARTIFACT_FORMAT:
        raise IndexArtifactError(f"index {path} has format {found}, expected {ARTIFACT_FORMAT}; rebuild it")


def _assemble(
    manifest: Manifest,
    utterances: dict[str, Any],
    index: Any,
    classifier: RouteClassifier,
    centroids: np.ndarray | None,
) -> IndexArtifact:
    model = manifest.model
    row_routes = np.asarray(utterances["routes"], dtype=np.int64)
    texts = tuple(str(text) for text in utterances["texts"])
    if index.ntotal != len(row_routes) or len(texts) != len(row_routes) or index.d != model.dim:
        raise ValueError(f"{index.ntotal} vectors of dim {index.d} for {len(row_routes)} rows of dim {model.dim}")
    policy = manifest.policy()
    names = tuple(target.name for target in manifest.routes)
    _check_consistent(manifest, policy, row_routes)
    if classifier.weights.shape != (model.dim, len(names)):
        raise ValueError(f"classifier shape {classifier.weights.shape} does not fit {len(names)} routes")
    if centroids is None:  # an artifact from before centroids.npy
        centroids = route_centroids(_all_vectors(index, model.dim), row_routes, len(names))
    if centroids.shape != (len(names), model.dim):
        raise ValueError(f"centroids of shape {centroids.shape} do not fit {len(names)} routes of dim {model.dim}")
    held = "hnsw" if hasattr(index, "hnsw") else "exact"
    if manifest.index is not None and manifest.index.type != held:
        raise ValueError(f"the manifest says {manifest.index.type} but index.faiss holds {type(index).__name__}")
    prepare_for_queries(index, manifest.index or IndexSummary(type="exact"))
    return IndexArtifact(
        manifest, index, row_routes, names, texts, policy, model, classifier, centroids.astype(np.float32)
    )


def _check_consistent(manifest: Manifest, policy: Policy, row_routes: np.ndarray) -> None:
    """Every reference inside the artifact points at something that exists, so no request can fail on it later."""
    routes = len(manifest.routes)
    if row_routes.size and (row_routes.min() < 0 or row_routes.max() >= routes):
        raise ValueError(f"utterance rows refer to route numbers outside 0..{routes - 1}")
    if (manifest.counts.routes, manifest.counts.utterances) != (routes, len(row_routes)):
        raise ValueError(f"counts {manifest.counts} do not match {routes} routes and {len(row_routes)} rows")
    for target in manifest.routes:
        for name in (target.model, *target.fallbacks):
            if name not in policy.models:
                raise ValueError(f"route {target.name} refers to model {name!r}, which the catalog lacks")
    if policy.settings.default_route not in policy.routes:
        raise ValueError(f"the default route {policy.settings.default_route!r} is not a route of the index")


def route_centroids(vectors: Vectors, row_routes: np.ndarray, routes: int) -> np.ndarray:
    """Each route's unit mean vector, ``(routes, dim)``; zero for a route without rows (override-only)."""
    centroids = np.zeros((routes, vectors.shape[1]), dtype=np.float32)
    if len(vectors):
        np.add.at(centroids, row_routes, vectors)
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    return np.where(norms > 0, centroids / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


def _all_vectors(index: Any, dim: int) -> Vectors:
    if index.ntotal == 0:
        return np.zeros((0, dim), dtype=np.float32)
    vectors: Vectors = index.reconstruct_n(0, index.ntotal)
    return vectors


def _learned_members(learned: Path | None, model: ModelIdentity) -> tuple[dict[str, bytes], LearnedSummary | None]:
    """The learned file's members, checked, and the manifest's summary of them; nothing when there is no file."""
    if learned is None or not learned.is_file():
        return {}, None
    try:
        members = read_members(learned)
        parsed = from_members(members, model)
    except LearnedFileError as error:
        raise IndexArtifactError(f"learned file {learned}: {error}") from None
    routes = {route: parsed.models(route) for route in parsed.routes}
    return members, LearnedSummary(sha256=hashlib.sha256(learned.read_bytes()).hexdigest(), routes=routes)


def _resolve_catalog(route_set: RouteSet) -> dict[str, ResolvedModel]:
    return resolve_catalog(route_set.models, ROUTER_FILE)


@dataclass(frozen=True)
class _Previous:
    """What a build takes from the artifact it replaces (built with the same model)."""

    artifact: IndexArtifact
    vectors: Vectors  # row i is artifact.utterances[i]

    def same_training(self, texts: Sequence[str], labels: np.ndarray, names: Sequence[str], settings: Settings) -> bool:
        """Whether its classifier was trained on exactly these rows, routes and regularisation."""
        artifact = self.artifact
        return (
            artifact.route_names == tuple(names)
            and artifact.utterances == tuple(texts)
            and np.array_equal(artifact.row_routes, labels)
            and artifact.policy.settings.classifier_regularisation == settings.classifier_regularisation
        )


def _previous(path: Path, identity: ModelIdentity) -> _Previous | None:
    try:
        artifact = load_index(path)
    except IndexArtifactError:
        return None
    if artifact.model != identity:
        return None
    return _Previous(artifact, _all_vectors(artifact.index, identity.dim))


def _vectors_for(
    texts: Sequence[str], previous: _Previous | None, embedder: Embedder, progress: bool
) -> tuple[Vectors, int]:
    """The vector of each text, reusing the previous artifact's, and how many were embedded."""
    dim = embedder.identity.dim
    reused: dict[str, int] = {}
    kept = np.zeros((0, dim), dtype=np.float32)
    if previous is not None:
        reused = {text: row for row, text in enumerate(previous.artifact.utterances)}
        kept = previous.vectors
    # shortest first: a batch is padded to its longest text, so similar lengths together embed the fewest tokens
    missing = sorted({text for text in texts if text not in reused}, key=lambda text: (len(text), text))
    fresh: dict[str, int] = {text: row for row, text in enumerate(missing)}
    embedded = np.zeros((len(missing), dim), dtype=np.float32)
    bar = tqdm(total=len(missing), desc="embedding utterances", unit="utt", disable=not progress or not missing)
    for start in range(0, len(missing), _EMBED_CHUNK):
        chunk = missing[start : start + _EMBED_CHUNK]
        embedded[start : start + len(chunk)] = embedder.embed(chunk, batch_size=EMBED_BATCH)
        bar.update(len(chunk))
    bar.close()
    vectors = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        vectors[row] = embedded[fresh[text]] if text in fresh else kept[reused[text]]
    return vectors, len(missing)


def _classifier_for(
    vectors: Vectors,
    labels: np.ndarray,
    texts: Sequence[str],
    names: Sequence[str],
    settings: Settings,
    previous: _Previous | None,
) -> tuple[RouteClassifier, ClassifierSummary]:
    """The previous classifier when its training data is unchanged (training again would give the same), else one
    trained here: from the previous fit with ``settings.index.warm_start`` when the routes are the same ones (only
    their utterances changed), else from zero."""
    if previous is not None and previous.same_training(texts, labels, names, settings):
        return previous.artifact.classifier, ClassifierSummary(training="reused", iterations=0)
    regularisation = settings.classifier_regularisation
    trained: Training
    if previous is not None and settings.index.warm_start and previous.artifact.route_names == tuple(names):
        before = previous.artifact
        fit = PreviousFit(
            classifier=before.classifier,
            names=before.route_names,
            vectors=previous.vectors,
            labels=before.row_routes,
            regularisation=before.policy.settings.classifier_regularisation,
        )
        trained = warm_train_classifier(vectors, labels, names, regularisation, fit)
    else:
        trained = train_classifier(vectors, labels, len(names), regularisation)
    summary = ClassifierSummary(training="warm" if trained.warm else "cold", iterations=trained.iterations)
    return trained.classifier, summary


def _target(route_set: RouteSet, number: int) -> RouteTarget:
    route = route_set.routes[number]
    return RouteTarget(
        name=route.name,
        model=route.model,
        fallbacks=tuple(route.fallbacks),
        config=route.config.to_config(),
        threshold=route_set.threshold(route),
        description=route.description,
        cascade=tuple(route.cascade),
        validators=tuple(entry.to_spec() for entry in route.validators),
        choice=route.choice.to_settings(),
    )


def _write_atomically(
    path: Path,
    manifest: Manifest,
    utterances: dict[str, Any],
    index: Any,
    classifier: RouteClassifier,
    centroids: np.ndarray,
    extra: dict[str, bytes],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_MANIFEST, manifest.to_json())
            archive.writestr(_UTTERANCES, json.dumps(utterances, ensure_ascii=False))
            arrays = io.BytesIO()
            np.savez(arrays, allow_pickle=False, **classifier.to_arrays())
            archive.writestr(_CLASSIFIER, arrays.getvalue())
            array = io.BytesIO()
            np.save(array, centroids, allow_pickle=False)
            archive.writestr(_CENTROIDS, array.getvalue())
            for name, data in extra.items():
                archive.writestr(name, data)
            write_index_member(archive, _FAISS, index)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a server running as another user must read it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _describe(identity: ModelIdentity) -> str:
    return f"'{identity.model_id}' (dim {identity.dim}, sha256 {identity.sha256[:12]}, {identity.max_tokens} tokens)"
