"""Route files -> FAISS index artifact, and back.

The artifact is one zip file written atomically (a temporary file, then ``os.replace``), so a failed build never
replaces the previous good index and a server never sees half a file. It holds:

- ``manifest.json``: format, fingerprints, embedding model id/dim/hash, counts, build time, settings, resolved
  catalog, route targets and override rules: everything a decision needs besides the vectors;
- ``utterances.json``: the route number and text of each index row;
- ``index.faiss``: a FAISS inner-product index over the unit-length utterance vectors (inner product = cosine);
- ``classifier.npz``: the route classifier trained on those vectors.

Builds are incremental: vectors of utterances already in the previous artifact (same model) are reused, and a build
whose routes and model match the artifact's does nothing.
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

import faiss
import numpy as np
from tqdm import tqdm

from semroute.catalog import resolve_catalog
from semroute.classifier import RouteClassifier, train_classifier
from semroute.decision import Policy, RouteTarget
from semroute.embedding import Embedder, ModelIdentity, Vectors
from semroute.errors import IndexArtifactError, IndexModelMismatchError
from semroute.learning.artifact import LEARNED_ARRAYS, LEARNED_JSON, LearnedFileError, from_members, read_members
from semroute.learning.estimator import LearnedModels
from semroute.manifest import ARTIFACT_FORMAT, Counts, LearnedSummary, Manifest
from semroute.route_files import ROUTER_FILE, RouteSet
from semroute.types import ResolvedModel

_MANIFEST = "manifest.json"
_UTTERANCES = "utterances.json"
_FAISS = "index.faiss"
_CLASSIFIER = "classifier.npz"
EMBED_BATCH = 64


@dataclass(frozen=True)
class IndexArtifact:
    """A loaded index: FAISS vectors, the route of each row, and the decision policy."""

    manifest: Manifest
    index: Any  # faiss.IndexFlatIP; faiss ships no type information
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
    vectors, embedded = _vectors_for(texts, path, embedder, progress)
    index = faiss.IndexFlatIP(embedder.identity.dim)
    index.add(vectors)
    labels = np.asarray([number for number, _ in rows], dtype=np.int64)
    classifier = train_classifier(vectors, labels, len(route_names), route_set.settings.classifier_regularisation)
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
    )
    utterances = {"routes": [number for number, _ in rows], "texts": texts}
    _write_atomically(path, manifest, utterances, faiss.serialize_index(index), classifier, learned_members)
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
        with zipfile.ZipFile(path) as archive:
            raw_manifest = archive.read(_MANIFEST)
            utterances = json.loads(archive.read(_UTTERANCES))
            raw_index = np.frombuffer(archive.read(_FAISS), dtype=np.uint8)
            with np.load(io.BytesIO(archive.read(_CLASSIFIER))) as arrays:
                classifier = RouteClassifier.from_arrays(dict(arrays))
            names = set(archive.namelist())
            learned_members = {name: archive.read(name) for name in (LEARNED_JSON, LEARNED_ARRAYS) if name in names}
        index = faiss.deserialize_index(raw_index)
    except (OSError, EOFError, KeyError, ValueError, RuntimeError, zipfile.BadZipFile) as exc:
        raise IndexArtifactError(f"index {path} is unreadable ({exc}); rebuild it with `make index`") from exc
    _require_format(path, raw_manifest)
    try:
        artifact = _assemble(Manifest.from_json(raw_manifest), utterances, index, classifier)
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


def _assemble(manifest: Manifest, utterances: dict[str, Any], index: Any, classifier: RouteClassifier) -> IndexArtifact:
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
    centroids = _centroids(index, row_routes, len(names), model.dim)
    return IndexArtifact(manifest, index, row_routes, names, texts, policy, model, classifier, centroids)


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


def _centroids(index: Any, row_routes: np.ndarray, routes: int, dim: int) -> np.ndarray:
    centroids = np.zeros((routes, dim), dtype=np.float32)
    if index.ntotal:
        np.add.at(centroids, row_routes, index.reconstruct_n(0, index.ntotal))
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    return np.where(norms > 0, centroids / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


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


def _vectors_for(texts: Sequence[str], previous: Path, embedder: Embedder, progress: bool) -> tuple[Vectors, int]:
    known = _previous_vectors(previous, embedder.identity)
    missing = sorted({text for text in texts if _key(text) not in known})
    bar = tqdm(total=len(missing), desc="embedding utterances", unit="utt", disable=not progress or not missing)
    for start in range(0, len(missing), EMBED_BATCH):
        batch = missing[start : start + EMBED_BATCH]
        for text, vector in zip(batch, embedder.embed(batch, batch_size=EMBED_BATCH), strict=True):
            known[_key(text)] = vector
        bar.update(len(batch))
    bar.close()
    if not texts:
        return np.zeros((0, embedder.identity.dim), dtype=np.float32), 0
    return np.stack([known[_key(text)] for text in texts]).astype(np.float32), len(missing)


def _previous_vectors(path: Path, identity: ModelIdentity) -> dict[str, np.ndarray]:
    try:
        artifact = load_index(path)
    except IndexArtifactError:
        return {}
    if artifact.model != identity or artifact.index.ntotal == 0:
        return {}
    vectors = artifact.index.reconstruct_n(0, artifact.index.ntotal)
    return {_key(text): vector for text, vector in zip(artifact.utterances, vectors, strict=True)}


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
    index: np.ndarray,
    classifier: RouteClassifier,
    extra: dict[str, bytes],
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(_MANIFEST, manifest.to_json())
            archive.writestr(_UTTERANCES, json.dumps(utterances, ensure_ascii=False))
            archive.writestr(_FAISS, index.tobytes())
            arrays = io.BytesIO()
            np.savez(arrays, allow_pickle=False, **classifier.to_arrays())
            archive.writestr(_CLASSIFIER, arrays.getvalue())
            for name, data in extra.items():
                archive.writestr(name, data)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a server running as another user must read it
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _describe(identity: ModelIdentity) -> str:
    return f"'{identity.model_id}' (dim {identity.dim}, sha256 {identity.sha256[:12]}, {identity.max_tokens} tokens)"
