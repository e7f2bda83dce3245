"""Real user prompts on the bundled routes: `make bench-real`.

Routes a labelled file of prompts people actually sent (``../shared/data/real_prompts/dev.jsonl`` by default: one
JSON object per line with ``text`` and ``label``; ``ambiguous`` items are left out) through the index built from the
routes folder, and prints accuracy over the scored prompts, recall per label, the wrong pairs, and the share of
in-scope prompts wrongly decided to the default route. The last line is one JSON object.

The prompts measure; they never train: nothing here fits a parameter on them, and their texts are never printed.

    python -m benchmarks.real [PATH] [--routes routes] [--index PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from semroute.embedding import FastEmbedEmbedder
from semroute.index import build_index, load_index
from semroute.route_files import load_route_set
from semroute.router import Router
from semroute.types import RouteRequest

DEFAULT_DATA = Path("../shared/data/real_prompts/dev.jsonl")
LEFT_OUT = "ambiguous"
PAIRS_SHOWN = 12


def read_prompts(path: Path) -> list[tuple[str, str]]:
    """(text, label) of every scored prompt of the file, in order (``ambiguous`` ones left out)."""
    prompts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        item = json.loads(line)
        if not isinstance(item.get("text"), str) or not isinstance(item.get("label"), str):
            raise SystemExit(f"{path}:{number}: each line needs a string `text` and `label`")
        if item["label"] != LEFT_OUT:
            prompts.append((item["text"], item["label"]))
    return prompts


def figures(labels: list[str], chosen: list[str], default_route: str) -> dict[str, Any]:
    """Accuracy, recall per label, wrong pairs and wrong default-route decisions."""
    right = [label == route for label, route in zip(labels, chosen, strict=True)]
    support = Counter(labels)
    hits = Counter(label for label, ok in zip(labels, right, strict=True) if ok)
    pairs = Counter((label, route) for label, route in zip(labels, chosen, strict=True) if label != route)
    to_default = sum(1 for label, route in zip(labels, chosen, strict=True) if label != default_route == route)
    in_scope = sum(1 for label in labels if label != default_route)
    return {
        "real_prompt_accuracy": round(sum(right) / len(right), 4),
        "scored": len(right),
        "per_label": {
            label: {"recall": round(hits[label] / count, 4), "prompts": count}
            for label, count in sorted(support.items())
        },
        "worst_pair": max(pairs.values(), default=0),
        "pairs": [{"expected": e, "chosen": c, "count": n} for (e, c), n in pairs.most_common(PAIRS_SHOWN)],
        "wrong_default_rate": round(to_default / in_scope, 4) if in_scope else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="?", default=DEFAULT_DATA)
    parser.add_argument("--routes", type=Path, default=Path("routes"))
    parser.add_argument("--index", type=Path, default=None, help="An index to route with (default: built here).")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"skipped: {args.data} not found (pass the path of a real-prompts file: python -m benchmarks.real PATH)")
        print(json.dumps({"skipped": f"{args.data} not found"}))
        sys.exit(0)
    prompts = read_prompts(args.data)
    route_set = load_route_set(args.routes)
    embedder = FastEmbedEmbedder(route_set.settings.embedding)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        path = args.index
        if path is None:
            path = Path(scratch) / "index.zip"
            build_index(route_set, path, embedder, progress=False)
        router = Router(load_index(path), embedder)
        decisions = router.route_batch([RouteRequest(text) for text, _ in prompts])
    labels = [label for _, label in prompts]
    found = figures(labels, [decision.route for decision in decisions], route_set.settings.default_route)
    print(f"real prompts: {args.data} ({found['scored']} scored, {LEFT_OUT} left out)")
    print(
        f"accuracy {found['real_prompt_accuracy']:.1%}; wrong default-route decisions {found['wrong_default_rate']:.1%}"
    )
    print("recall per label:")
    for label, row in found["per_label"].items():
        print(f"  {label:<20} {row['recall']:6.1%}  ({row['prompts']} prompts)")
    print("wrong pairs (expected -> chosen):")
    for pair in found["pairs"]:
        print(f"  {pair['expected']:<20} -> {pair['chosen']:<20} {pair['count']}")
    print(f"routed in {time.perf_counter() - started:.1f} s")
    print(json.dumps(found))


if __name__ == "__main__":
    main()
