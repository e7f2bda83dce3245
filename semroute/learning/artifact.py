"""What ``semroute learn`` learned, as files: ``learned.zip`` (its output) and the same two members inside the index
artifact, so that serving stays read-only, hot-reloadable and the same on every replica.

- ``learned.json``: the learner's settings, the embedding model the vectors came from, and per route and model the
  small numbers (prior, calibrator, mean cost and output tokens), per route the pooled difficulty's prior and
  intercept;
- ``learned.npz``: the arrays (past task vectors as float16, outcomes, weights, the embedding regressions'
  coefficients, per model and pooled).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from semroute.embedding import ModelIdentity
from semroute.learning.estimator import LearnedModels, LearnerSettings, ModelEstimator, RouteDifficulty

LEARNED_JSON = "learned.json"
LEARNED_ARRAYS = "learned.npz"
LEARNED_FORMAT = 3  # 2: the pooled difficulty has a regression of the embedding (a fourth calibrator input); 3: a
# similarity floor for evidence and clipped structural inputs (a calibrator fitted without them would misjudge)


class LearnedFileError(ValueError):
    """A learned file that cannot be read, or that another embedding model wrote."""


def to_members(learned: LearnedModels, model: ModelIdentity, summary: dict[str, Any]) -> dict[str, bytes]:
    """The two archive members of ``learned`` (``summary``: what the learning saw, kept for ``semroute learn``'s
    readers, e.g. the metrics per model)."""
    meta: dict[str, Any] = {
        "format": LEARNED_FORMAT,
        "model": asdict(model),
        "settings": asdict(learned.settings),
        "summary": summary,
        "routes": {},
    }
    arrays: dict[str, np.ndarray] = {}
    for route, estimators in learned.routes.items():
        difficulty = learned.difficulty[route]
        arrays[f"{route}/difficulty/vectors"] = difficulty.vectors.astype("<f2")
        arrays[f"{route}/difficulty/rates"] = difficulty.rates
        arrays[f"{route}/difficulty/weights"] = difficulty.weights
        arrays[f"{route}/difficulty/embedding_coef"] = difficulty.embedding_coef
        models: dict[str, Any] = {}
        for name, estimator in estimators.items():
            key = f"{route}/{name}"
            arrays[f"{key}/vectors"] = estimator.vectors.astype("<f2")
            arrays[f"{key}/rates"] = estimator.rates
            arrays[f"{key}/weights"] = estimator.weights
            arrays[f"{key}/embedding_coef"] = estimator.embedding_coef
            models[name] = {
                "prior": estimator.prior,
                "embedding_intercept": estimator.embedding_intercept,
                "calibrator_coef": estimator.calibrator_coef.tolist(),
                "calibrator_intercept": estimator.calibrator_intercept,
                "calibrator_mean": estimator.calibrator_mean.tolist(),
                "calibrator_scale": estimator.calibrator_scale.tolist(),
                "mean_cost_usd": estimator.mean_cost_usd,
                "mean_output_tokens": estimator.mean_output_tokens,
            }
        meta["routes"][route] = {
            "difficulty_prior": difficulty.prior,
            "difficulty_intercept": difficulty.embedding_intercept,
            "models": models,
        }
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return {LEARNED_JSON: json.dumps(meta, indent=1).encode(), LEARNED_ARRAYS: buffer.getvalue()}


def from_members(members: dict[str, bytes], model: ModelIdentity) -> LearnedModels:
    """Read the two members back.

    Raises:
        LearnedFileError: malformed, of another format, or learned with another embedding model than ``model``.
    """
    try:
        meta = json.loads(members[LEARNED_JSON])
        with np.load(io.BytesIO(members[LEARNED_ARRAYS]), allow_pickle=False) as loaded:
            arrays = {key: loaded[key] for key in loaded.files}
        if meta.get("format") != LEARNED_FORMAT:
            raise LearnedFileError(
                f"format {meta.get('format')}, expected {LEARNED_FORMAT}; run `semroute learn` again"
            )
        if ModelIdentity(**meta["model"]) != model:
            raise LearnedFileError(
                f"learned with embedding model {meta['model'].get('model_id')} "
                f"(sha256 {str(meta['model'].get('sha256'))[:12]}), not the index's {model.model_id} "
                f"(sha256 {model.sha256[:12]}); run `semroute learn` again"
            )
        learned = LearnedModels(LearnerSettings(**meta["settings"]), {})
        for route, entry in meta["routes"].items():
            learned.difficulty[route] = RouteDifficulty(
                arrays[f"{route}/difficulty/vectors"].astype(np.float32),
                arrays[f"{route}/difficulty/rates"],
                arrays[f"{route}/difficulty/weights"],
                float(entry["difficulty_prior"]),
                arrays[f"{route}/difficulty/embedding_coef"],
                float(entry["difficulty_intercept"]),
            )
            learned.routes[route] = {
                name: _estimator(route, name, numbers, arrays) for name, numbers in entry["models"].items()
            }
        return learned
    except LearnedFileError:
        raise
    except (KeyError, TypeError, ValueError, OSError) as error:
        raise LearnedFileError(f"unreadable ({type(error).__name__}: {error}); run `semroute learn` again") from None


def _estimator(route: str, name: str, numbers: dict[str, Any], arrays: dict[str, np.ndarray]) -> ModelEstimator:
    key = f"{route}/{name}"
    return ModelEstimator(
        model=name,
        vectors=arrays[f"{key}/vectors"].astype(np.float32),
        rates=arrays[f"{key}/rates"],
        weights=arrays[f"{key}/weights"],
        prior=float(numbers["prior"]),
        embedding_coef=arrays[f"{key}/embedding_coef"],
        embedding_intercept=float(numbers["embedding_intercept"]),
        calibrator_coef=np.asarray(numbers["calibrator_coef"], dtype=np.float64),
        calibrator_intercept=float(numbers["calibrator_intercept"]),
        calibrator_mean=np.asarray(numbers["calibrator_mean"], dtype=np.float64),
        calibrator_scale=np.asarray(numbers["calibrator_scale"], dtype=np.float64),
        mean_cost_usd=numbers["mean_cost_usd"],
        mean_output_tokens=numbers["mean_output_tokens"],
    )


def write_learned(path: Path, members: dict[str, bytes]) -> None:
    """Write ``learned.zip`` atomically (a failed write never replaces the previous file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_members(path: Path) -> dict[str, bytes]:
    """The two members of a ``learned.zip``.

    Raises:
        LearnedFileError: missing or unreadable.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in (LEARNED_JSON, LEARNED_ARRAYS)}
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise LearnedFileError(f"{path}: unreadable ({error}); run `semroute learn` again") from None
