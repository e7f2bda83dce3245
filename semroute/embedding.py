"""Text -> unit vectors, with fastembed on the CPU.

Only a bounded prefix of each text is embedded (``max_tokens`` tokens, after a character cut that keeps the
tokenizer's own work bounded), so a huge task costs no more to embed than a long paragraph.

A pass pads every text to the longest of its batch, so :meth:`FastEmbedEmbedder.embed` sorts the texts by length and
cuts them into batches of texts within a factor of two of each other: fifteen short questions and one long document
cost two passes of their own lengths, not sixteen long ones. The model embeds each text of a batch exactly as it
embeds it alone (rows never interact and padding is masked), so batching changes no vector, only the time.

``threads`` sets the ONNX threads of each pass (None: ONNX's default, every core). Fewer threads per pass suit a
server that runs several passes at once; see ``semroute.service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from semroute.environment import default_model_dir
from semroute.errors import ModelError
from semroute.model_store import DEFAULT_EMBEDDING_MODEL, sha256_of, verify_default_model
from semroute.schema import EmbeddingSettings

Vectors = npt.NDArray[np.float32]

# Generous upper bound on characters per token, so the character cut never shortens the token prefix.
_CHARS_PER_TOKEN_BOUND = 12
# Texts up to this many characters share a batch whatever their lengths: a pass's own cost dominates theirs.
_SMALL_TEXT_CHARS = 160


@dataclass(frozen=True)
class ModelIdentity:
    """What an index records about the model that built it; an index only serves with an identical identity."""

    model_id: str
    dim: int
    sha256: str
    max_tokens: int  # the embedded prefix: another length gives other vectors


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    @property
    def identity(self) -> ModelIdentity: ...

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Vectors: ...


class FastEmbedEmbedder:
    """A fastembed ``TextEmbedding`` loaded from a local folder or a download cache."""

    def __init__(self, settings: EmbeddingSettings, threads: int | None = None) -> None:
        self._max_chars = settings.max_tokens * _CHARS_PER_TOKEN_BOUND
        model_dir, sha256 = locate_model(settings)
        self._model = _load(settings, model_dir, threads)
        _limit_tokens(self._model, settings.max_tokens)
        dim = int(self._model.embedding_size)
        sha256 = sha256 or _hash_downloaded(self._model)
        self._identity = ModelIdentity(settings.model, dim, sha256, settings.max_tokens)

    @property
    def identity(self) -> ModelIdentity:
        """Model id, dimension and model file hash."""
        return self._identity

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> Vectors:
        """Embed ``texts`` (prefixes only) into an ``(n, dim)`` array of unit vectors."""
        if not texts:
            return np.zeros((0, self._identity.dim), dtype=np.float32)
        prefixes = [text[: self._max_chars] for text in texts]
        vectors = np.empty((len(prefixes), self._identity.dim), dtype=np.float32)
        for batch in length_batches([len(prefix) for prefix in prefixes], batch_size):
            embedded = self._model.embed([prefixes[position] for position in batch], batch_size=len(batch))
            vectors[batch] = np.asarray(list(embedded), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Positions of texts of these ``lengths`` (characters) cut into batches of at most ``batch_size``, each of texts
    within a factor of two of each other's length (all of up to ``_SMALL_TEXT_CHARS`` together), shortest first."""
    batches: list[list[int]] = []
    shortest = 0
    for position in sorted(range(len(lengths)), key=lengths.__getitem__):
        length = lengths[position]
        if batches and len(batches[-1]) < batch_size and length <= max(2 * shortest, _SMALL_TEXT_CHARS):
            batches[-1].append(position)
        else:
            batches.append([position])
            shortest = length
    return batches


def locate_model(settings: EmbeddingSettings) -> tuple[Path | None, str]:
    """The local folder and model file hash of the configured model, verified; ``(None, "")`` for a hub model.

    Raises:
        ModelError: the local model is missing or (for the default model) corrupt.
    """
    if settings.path is not None:
        model_dir = settings.path
    elif settings.model == DEFAULT_EMBEDDING_MODEL and settings.cache_dir is None:
        model_dir = default_model_dir()
    else:
        return None, ""  # a hub model: its hash is read from the cache once fastembed has fetched it
    if settings.model == DEFAULT_EMBEDDING_MODEL:
        return model_dir, verify_default_model(model_dir)
    onnx = model_dir / "model.onnx"
    if not onnx.is_file():
        raise ModelError(f"embedding model folder {model_dir} has no model.onnx")
    return model_dir, sha256_of(onnx)


def _load(settings: EmbeddingSettings, model_dir: Path | None, threads: int | None) -> Any:
    from fastembed import TextEmbedding  # imported here: it takes a second and only this module needs it

    options: dict[str, Any] = {"model_name": settings.model, "threads": threads}
    if model_dir is not None:
        options["specific_model_path"] = str(model_dir)
    if settings.cache_dir is not None:
        options["cache_dir"] = str(settings.cache_dir)
    try:
        return TextEmbedding(**options)
    except Exception as exc:  # fastembed raises bare ValueError/OSError/onnxruntime errors
        where = f" from {model_dir}" if model_dir else ""
        raise ModelError(f"could not load embedding model '{settings.model}'{where}: {exc}") from exc


def _hash_downloaded(model: Any) -> str:
    folder = getattr(getattr(model, "model", None), "_model_dir", None)
    files = sorted(Path(folder).rglob("*.onnx")) if folder else []
    if not files:
        raise ModelError(f"cannot find the ONNX file of embedding model {getattr(model, 'model_name', '?')}")
    return sha256_of(files[0])


def _limit_tokens(model: Any, max_tokens: int) -> None:
    # fastembed truncates at tokenizer_config.json's model_max_length; apply our bound instead when the tokenizer is
    # reachable (for the default model, up to the 512 positions it has).
    tokenizer = getattr(getattr(model, "model", None), "tokenizer", None)
    if tokenizer is not None and hasattr(tokenizer, "enable_truncation"):
        direction = (tokenizer.truncation or {}).get("direction", "right")
        tokenizer.enable_truncation(max_length=max_tokens, direction=direction)


def embed_texts(embedder: Embedder, texts: Sequence[str], *, batch_size: int = 64, progress: bool = True) -> Vectors:
    """Embed texts in batches with a progress bar."""
    parts = []
    with tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress) as bar:
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            parts.append(embedder.embed(batch, batch_size=batch_size))
            bar.update(len(batch))
    if not parts:
        return np.zeros((0, embedder.identity.dim), dtype=np.float32)
    return np.concatenate(parts).astype(np.float32)
