"""CLINC150 end to end through the product's path: routes from train, fit on validation, report on test.

    python -m benchmarks.clinc150 [CLINC150_DIR] [--out bench-results/quality.json]

The protocol of Larson et al. (EMNLP 2019): routes (and so the index's classifier) from ``train`` + ``oos_train``;
every decision parameter fitted on ``val`` + ``oos_val`` only; figures on ``test`` + ``oos_test``: in-scope accuracy
(a rejected in-scope query counts as wrong) and out-of-scope recall. Configurations:

- ``default``: the routes as written by ``routes-from-dataset``, shipped settings, nothing fitted;
- ``fitted``: ``semroute fit`` with everything (blend, threshold, margin, per-route thresholds if they cross-validate);
- ``fitted_threshold_only``: the fit may change the global threshold (and margin) only;
- ``fitted_no_oos_utterances``: as ``fitted``, but the default route gets no out-of-scope training texts.

The best configuration is the fitted one with the best *validation* objective (never chosen on test). The last line
printed is one JSON object with the best configuration's test figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semroute.embedding import FastEmbedEmbedder, Vectors, embed_texts
from semroute.index import build_index, load_index
from semroute.quality.batch import RoutedSet, route_labelled
from semroute.quality.dataset_routes import write_dataset_routes
from semroute.quality.datasets import LabelledSet, load_labelled
from semroute.quality.evaluation import QualityReport, expected_routes
from semroute.quality.fitting import FitResult, FitSearch, Objective, current_parameters
from semroute.quality.operating_points import Targets, tradeoff_curve
from semroute.quality.plots import plot_confusion, plot_tradeoff, plots_available
from semroute.quality.runs import fit_routed, report_of
from semroute.route_files import load_route_set, write_fitted
from semroute.router import Router
from semroute.schema import EmbeddingSettings

DEFAULT_DATA = Path("../shared/data/clinc150")
DATA_FILE = "data_full.json"
FIT_SPLITS = "val+oos_val"
TEST_SPLITS = "test+oos_test"


@dataclass(frozen=True)
class Variant:
    """One configuration: how its routes are written and what the fit may change (None: no fit)."""

    name: str
    oos_utterances: bool
    search: FitSearch | None


VARIANTS = (
    Variant("default", True, None),
    Variant("fitted", True, FitSearch()),
    Variant("fitted_threshold_only", True, FitSearch(blend=False, per_route=False)),
    Variant("fitted_no_oos_utterances", False, FitSearch()),
)


@dataclass(frozen=True)
class Prepared:
    """Everything embedded once: the test and validation sets and their vectors."""

    validation: LabelledSet
    test: LabelledSet
    validation_vectors: Vectors
    test_vectors: Vectors
    embed_ms: float


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    args = _arguments(argv)
    data_file = args.data / DATA_FILE
    if not data_file.is_file():
        print(
            f"CLINC150 not found: {data_file} does not exist. Pass the folder holding {DATA_FILE}, e.g.\n"
            f"  make bench-quality CLINC=/path/to/clinc150",
            file=sys.stderr,
        )
        return 2
    work: Path = args.work
    train = load_labelled(data_file, "train+oos_train")
    model_dir = Path(args.model_dir).resolve() if args.model_dir else None
    embedder = FastEmbedEmbedder(EmbeddingSettings(path=model_dir))
    prepared = _prepare(data_file, embedder)
    objective = Objective()
    results = {
        variant.name: _run(variant, work, train, prepared, embedder, objective, model_dir) for variant in VARIANTS
    }
    fitted = [name for name, result in results.items() if result["validation_rank"] is not None]
    best = max(fitted, key=lambda name: tuple(results[name]["validation_rank"]))
    summary = {
        "protocol": f"routes from train+oos_train; fit on {FIT_SPLITS}; report on {TEST_SPLITS} ({data_file})",
        "objective": objective.describe(),
        "best": best,
        "configurations": {name: {k: v for k, v in r.items() if k != "validation_rank"} for name, r in results.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    _print_table(results, best, args.out)
    test = results[best]["test"]
    print(json.dumps({"configuration": best, **{k: test[k] for k in ("in_scope_accuracy", "oos_recall", "accuracy")}}))
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.clinc150", description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA, help="folder with data_full.json")
    parser.add_argument("--out", type=Path, default=Path("bench-results/quality.json"), help="JSON results")
    parser.add_argument("--work", type=Path, default=Path("bench-results/clinc150"), help="routes, indexes, plots")
    parser.add_argument(
        "--model-dir", default=None, help="embedding model folder [default: the one `make model` fills]"
    )
    return parser.parse_args(argv)


def _prepare(data_file: Path, embedder: FastEmbedEmbedder) -> Prepared:
    validation = load_labelled(data_file, FIT_SPLITS)
    test = load_labelled(data_file, TEST_SPLITS)
    started = time.perf_counter()
    test_vectors = embed_texts(embedder, test.texts)
    embed_ms = (time.perf_counter() - started) * 1000 / len(test)
    return Prepared(validation, test, embed_texts(embedder, validation.texts), test_vectors, embed_ms)


def _routes(work: Path, train: LabelledSet, oos_utterances: bool, model_dir: Path | None) -> Path:
    folder = work / ("routes" if oos_utterances else "routes_no_oos")
    if folder.exists():
        shutil.rmtree(folder)  # rewritten each run: the fitted.yaml of an earlier run must not leak in
    settings = {"embedding": {"path": str(model_dir)}} if model_dir else None
    write_dataset_routes(train, folder, oos_utterances=oos_utterances, settings=settings)
    return folder


def _run(
    variant: Variant,
    work: Path,
    train: LabelledSet,
    prepared: Prepared,
    embedder: FastEmbedEmbedder,
    objective: Objective,
    model_dir: Path | None,
) -> dict[str, Any]:
    print(f"\n== {variant.name}", file=sys.stderr)
    folder = _routes(work, train, variant.oos_utterances, model_dir)
    index = work / f"{variant.name}.zip"
    _seed(work, index)
    build = build_index(load_route_set(folder), index, embedder)
    result: dict[str, Any] = {"build_seconds": round(build.seconds, 1), "validation_rank": None}
    if variant.search is not None:
        router = Router(load_index(index), embedder)
        routed = route_labelled(router, prepared.validation, vectors=prepared.validation_vectors)
        fitted = fit_routed(routed, router, load_route_set(folder), "oos", objective, variant.search)
        write_fitted(folder, fitted.parameters)
        result.update(_fit_summary(fitted, objective))
        rebuild = build_index(load_route_set(folder), index, embedder)  # vectors reused: the classifier retrains
        result["build_seconds"] = round(rebuild.seconds, 1)
    router = Router(load_index(index), embedder)
    started = time.perf_counter()
    routed_test = route_labelled(router, prepared.test, vectors=prepared.test_vectors)
    scoring_ms = (time.perf_counter() - started) * 1000 / len(prepared.test)
    report = report_of(routed_test, router, "oos")
    result["test"] = _test_json(report)
    result["per_request_ms"] = {"scoring_and_decision": round(scoring_ms, 2), "embedding": round(prepared.embed_ms, 2)}
    result["plots"] = _plots(routed_test, router, work / variant.name, variant.name)
    return result


def _seed(work: Path, index: Path) -> None:
    """Start from any earlier artifact so that the build reuses its vectors instead of embedding 15,000 texts."""
    earlier = [path for path in sorted(work.glob("*.zip")) if path != index]
    if not index.exists() and earlier:
        shutil.copyfile(earlier[0], index)


def _fit_summary(fitted: FitResult, objective: Objective) -> dict[str, Any]:
    return {
        "fitted": fitted.parameters.model_dump(mode="json", exclude_none=True, exclude={"route_thresholds"}),
        "per_route_thresholds": len(fitted.parameters.route_thresholds),
        "adopted": {name: gate.adopted for name, gate in fitted.gates.items()},
        "validation": {
            "in_scope_accuracy": round(fitted.fitted.in_scope_accuracy, 4),
            "oos_recall": None if fitted.fitted.oos_recall is None else round(fitted.fitted.oos_recall, 4),
        },
        "validation_rank": list(objective.rank(fitted.fitted)),
    }


def _test_json(report: QualityReport) -> dict[str, Any]:
    return {
        "in_scope_accuracy": round(report.in_scope_accuracy, 4),
        "oos_recall": None if report.oos_recall is None else round(report.oos_recall, 4),
        "accuracy": round(report.accuracy, 4),
        "false_rejection_rate": round(report.false_rejection_rate, 4),
        "ambiguous_rate": round(report.ambiguous_rate, 4),
        "items": report.items,
        "most_confused": [f"{p.expected}->{p.chosen} x{p.count}" for p in report.confused_pairs[:5]],
    }


def _plots(routed: RoutedSet, router: Router, folder: Path, name: str) -> list[str]:
    if not plots_available():
        return []
    sweep = routed.sweep(router)
    default_route = router.artifact.policy.settings.default_route
    targets = Targets.of(sweep, routed.data.labels, "oos", routed.data.source)
    curve = tradeoff_curve(sweep, targets, current_parameters(sweep))
    title = f"CLINC150 test, {name}"
    expected = expected_routes(routed.data.labels, default_route, "oos")
    return [
        str(plot_tradeoff(curve, folder / "tradeoff.png", title=title, min_oos_recall=0.8)),
        str(plot_confusion(expected, [d.route for d in routed.decisions], folder / "confusion.png", title=title)),
    ]


def _print_table(results: dict[str, dict[str, Any]], best: str, out: Path) -> None:
    print(f"\nCLINC150 test (4,500 in-scope + 1,000 out-of-scope); best on validation: {best}; details in {out}")
    print(
        f"{'configuration':28s} {'in-scope':>9s} {'OOS rec.':>9s} {'overall':>8s} {'val in/oos':>14s} {'build s':>8s}"
    )
    for name, result in results.items():
        test, validation = result["test"], result.get("validation")
        val = f"{validation['in_scope_accuracy']:.3f}/{validation['oos_recall']:.2f}" if validation else "-"
        print(
            f"{name:28s} {test['in_scope_accuracy']:9.1%} {test['oos_recall']:9.1%} {test['accuracy']:8.1%} "
            f"{val:>14s} {result['build_seconds']:8.1f}"
        )
    cost = results[best]["per_request_ms"]
    print(f"per request: scoring + decision {cost['scoring_and_decision']} ms vs embedding {cost['embedding']} ms")


if __name__ == "__main__":
    sys.exit(main())
