"""CLINC150 through the product's path on a small subset: routes from train, fit on val, report on test.

Runs only where the shared data folder exists (``../shared/data/clinc150``); the full protocol is
``make bench-quality``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from semroute.embedding import FastEmbedEmbedder
from semroute.index import build_index, load_index
from semroute.quality.batch import route_labelled
from semroute.quality.dataset_routes import write_dataset_routes
from semroute.quality.datasets import LabelledSet, load_labelled
from semroute.quality.fitting import FitSearch, Objective
from semroute.quality.runs import fit_routed, report_of
from semroute.route_files import load_route_set, write_fitted
from semroute.router import Router
from tests.conftest import SHARED_DATA

CLINC = SHARED_DATA / "clinc150" / "data_full.json"
INTENTS = 8  # of 150: enough to have confusable routes, small enough to embed in seconds
OOS_ITEMS = 100

pytestmark = pytest.mark.skipif(not CLINC.is_file(), reason=f"CLINC150 not found at {CLINC} (shared data absent)")


def subset(splits: str, intents: set[str] | None = None) -> LabelledSet:
    data = load_labelled(CLINC, splits)
    keep = intents or set(sorted(set(data.labels) - {"oos"})[:INTENTS])
    pairs = [(t, label) for t, label in zip(data.texts, data.labels, strict=True) if label in keep]
    pairs += [(t, label) for t, label in zip(data.texts, data.labels, strict=True) if label == "oos"][:OOS_ITEMS]
    return LabelledSet(data.source, tuple(t for t, _ in pairs), tuple(label for _, label in pairs))


def test_subset_end_to_end(tmp_path: Path, model_dir: Path, embedder: FastEmbedEmbedder) -> None:
    train = subset("train+oos_train")
    intents = set(train.labels) - {"oos"}
    folder = write_dataset_routes(train, tmp_path / "routes", settings={"embedding": {"path": str(model_dir)}}).folder
    index = tmp_path / "index.zip"
    build_index(load_route_set(folder), index, embedder, progress=False)
    router = Router(load_index(index), embedder)
    validation = route_labelled(router, subset("val+oos_val", intents), progress=False)
    fitted = fit_routed(validation, router, load_route_set(folder), "oos", Objective(), FitSearch(per_route=False))
    write_fitted(folder, fitted.parameters)
    build_index(load_route_set(folder), index, embedder, progress=False)
    router = Router(load_index(index), embedder)
    report = report_of(route_labelled(router, subset("test+oos_test", intents), progress=False), router, "oos")
    assert report.in_scope_items == INTENTS * 30 and report.oos_items == OOS_ITEMS
    assert report.in_scope_accuracy >= 0.9, report
    assert report.oos_recall is not None and report.oos_recall >= 0.7, report
