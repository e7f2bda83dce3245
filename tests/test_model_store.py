"""The provisioned default model: hash checks and the errors that say how to fix a broken copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from semroute.embedding import FastEmbedEmbedder
from semroute.errors import ModelError
from semroute.model_store import DEFAULT_MODEL_FILES, provision_default_model, verify_default_model
from semroute.schema import EmbeddingSettings


def test_provisioned_model_verifies(model_dir: Path) -> None:
    assert verify_default_model(model_dir) == DEFAULT_MODEL_FILES["model.onnx"].sha256
    assert provision_default_model(model_dir) is False  # already verified: nothing downloaded


def test_missing_model_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model\.onnx is missing; run `make model`"):
        verify_default_model(tmp_path)


def test_corrupt_model_file_is_refused(tmp_path: Path, model_dir: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(model_dir, copy)
    with (copy / "tokenizer.json").open("ab") as handle:
        handle.write(b" ")
    with pytest.raises(ModelError, match=r"tokenizer\.json is corrupt .*run `make model`"):
        verify_default_model(copy)
    with pytest.raises(ModelError, match="is corrupt"):
        FastEmbedEmbedder(EmbeddingSettings(path=copy))


def test_embeddings_match_known_values(embedder: FastEmbedEmbedder) -> None:
    vectors = embedder.embed(["hello world", "Summarize this article"])
    assert vectors.shape == (2, 384)
    assert vectors[0, :4].tolist() == pytest.approx([-0.0348, 0.0301, 0.0130, 0.0254], abs=1e-3)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(0.2084, abs=1e-3)


def test_only_a_bounded_prefix_is_embedded(embedder: FastEmbedEmbedder) -> None:
    head = "refactor the payment module. " * 200  # far beyond 256 tokens
    vectors = embedder.embed([head, head + "completely different tail about gardening " * 1000])
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1.0, abs=1e-5)


def test_max_tokens_sets_the_embedded_prefix(model_dir: Path, embedder: FastEmbedEmbedder) -> None:
    longer = FastEmbedEmbedder(EmbeddingSettings(path=model_dir, max_tokens=512))
    assert longer.identity.max_tokens == 512 and embedder.identity.max_tokens == 256
    head = "refactor the payment module. " * 60  # about 360 tokens
    texts = [head, head + "completely different tail about gardening " * 20]
    short_vectors, long_vectors = embedder.embed(texts), longer.embed(texts)
    assert float(short_vectors[0] @ short_vectors[1]) == pytest.approx(1.0, abs=1e-5)  # both cut at 256 tokens
    assert float(long_vectors[0] @ long_vectors[1]) < 0.999  # the tail is seen within 512 tokens
