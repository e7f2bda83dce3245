"""Tasks that carry content, on the bundled routes: `make bench-content`.

Route utterances are bare instructions; real tasks carry their content. This builds, from the held-out default-route
instructions (``tests/data/default_routes_test.jsonl``), the same instructions with content the project wrote
attached in four styles at two lengths (:mod:`benchmarks._content_tasks`), routes every task with the bundled routes
as they are (``settings.embedding.part: best_part``) and with the same routes embedding each task whole, and prints
in-scope accuracy and out-of-scope recall per style. The last line is one JSON object.

    python -m benchmarks.content [--routes routes] [--data tests/data/default_routes_test.jsonl] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from benchmarks._content_tasks import ContentTask, content_tasks
from semroute.embedding import FastEmbedEmbedder
from semroute.index import build_index, load_index
from semroute.quality.datasets import load_labelled
from semroute.quality.evaluation import evaluate
from semroute.route_files import load_route_set
from semroute.router import Router
from semroute.task_part import EmbedPart
from semroute.types import RouteRequest


def index_with_part(routes: Path, part: EmbedPart, folder: Path, embedder: FastEmbedEmbedder) -> Path:
    """An index of ``routes`` with ``settings.embedding.part`` set to ``part``, built in ``folder``."""
    copy = folder / f"routes-{part.value}"
    shutil.copytree(routes, copy)
    settings = copy / "router.yaml"
    text = re.sub(r"\n    part: [a-z_]+[^\n]*", "", settings.read_text(), count=1)
    settings.write_text(text.replace("  embedding:\n", f"  embedding:\n    part: {part.value}\n", 1))
    route_set = load_route_set(copy)
    path = folder / f"index-{part.value}.zip"
    build_index(route_set, path, embedder, progress=False)
    return path


def figures(router: Router, tasks: Sequence[ContentTask], default_route: str) -> dict[str, dict[str, float | None]]:
    """In-scope accuracy and out-of-scope recall per group: every style and length, bare, and all content."""
    decided = router.route_batch([RouteRequest(task.text) for task in tasks])
    groups: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for task, decision in zip(tasks, decided, strict=True):
        names = ["bare"] if task.style == "bare" else ["all content", f"{task.style}, {task.length}"]
        for name in names:
            groups[name][0].append(task.label)
            groups[name][1].append(decision.route)
    found = {}
    for name, (labels, chosen) in groups.items():
        report = evaluate(labels, chosen, default_route)
        found[name] = {"in_scope": report.in_scope_accuracy, "oos_recall": report.oos_recall}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", type=Path, default=Path("routes"))
    parser.add_argument("--data", type=Path, default=Path("tests/data/default_routes_test.jsonl"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    started = time.perf_counter()
    labelled = load_labelled(args.data)
    tasks = content_tasks(list(zip(labelled.texts, labelled.labels, strict=True)), seed=args.seed)
    route_set = load_route_set(args.routes)
    embedder = FastEmbedEmbedder(route_set.settings.embedding)
    results: dict[str, dict[str, dict[str, float | None]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for part in (route_set.settings.embedding.part, EmbedPart.WHOLE):
            if part.value in results:
                continue
            router = Router(load_index(index_with_part(args.routes, part, Path(scratch), embedder)), embedder)
            results[part.value] = figures(router, tasks, route_set.settings.default_route)
    print(f"{len(labelled.texts)} held-out instructions of {args.data}, {len(tasks)} tasks (seed {args.seed})")
    print(f"{'group':16s}" + "".join(f"{name + ' in-scope / OOS recall':>36s}" for name in results))
    for group in results[EmbedPart.WHOLE.value]:
        cells = []
        for name in results:
            row = results[name][group]
            recall = "-" if row["oos_recall"] is None else f"{row['oos_recall']:.1%}"
            cells.append(f"{row['in_scope']:.1%} / {recall}".rjust(36))
        print(f"{group:16s}" + "".join(cells))
    line = {
        f"content_{key}_{name}": round(value, 4)
        for name, groups in results.items()
        for key, value in groups["all content"].items()
        if value is not None
    }
    line |= {f"bare_in_scope_{name}": round(groups["bare"]["in_scope"] or 0.0, 4) for name, groups in results.items()}
    line["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(line))


if __name__ == "__main__":
    main()
