"""A labelled training set -> a routes folder: one route per label, its texts as utterances.

Benchmarks and users' own data go through the product's path this way (route files -> index -> decisions). The
out-of-scope label gets no route of its own: its texts, when there are any, become the utterances of the default route.
A default route that wins is the same outcome as no route clearing its threshold, so those texts teach the classifier
and the neighbour search what "none of the above" looks like (on CLINC150 they raise the trade-off curve: 94.5 instead
of 94.0 % in-scope accuracy at 80 % out-of-scope recall; ``make bench-quality`` reports both variants). Without
out-of-scope texts the default route is ``override_only`` and is reached by the threshold alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from semroute.errors import DatasetError
from semroute.quality.datasets import DEFAULT_OOS_LABEL, LabelledSet, route_name
from semroute.route_files import FITTED_FILE, ROUTER_FILE
from semroute.types import Tier

DEFAULT_ROUTE = "out_of_scope"
CATALOG_MODEL = "dataset-model"
# One placeholder model with every number stated, so building the index never needs litellm's cost map.
_CATALOG_ENTRY = {
    "litellm": "hosted_vllm/dataset-model",
    "tier": Tier.MID.value,
    "input_cost_per_mtok": 0.0,
    "output_cost_per_mtok": 0.0,
    "context_window": 128000,
}


@dataclass(frozen=True)
class DatasetRoutes:
    """What :func:`write_dataset_routes` wrote."""

    folder: Path
    routes: int
    utterances: int
    default_utterances: int
    duplicates_dropped: int


def write_dataset_routes(
    data: LabelledSet,
    folder: Path,
    *,
    oos_label: str = DEFAULT_OOS_LABEL,
    default_route: str = DEFAULT_ROUTE,
    oos_utterances: bool = True,
    settings: dict[str, Any] | None = None,
) -> DatasetRoutes:
    """Write ``router.yaml`` and one route file per label of ``data`` into ``folder``.

    Args:
        data: the labelled training texts.
        folder: the routes folder to write; it must not exist or be empty.
        oos_label: the label whose texts belong to no route.
        default_route: name of the route that out-of-scope texts go to.
        oos_utterances: whether out-of-scope texts become the default route's utterances.
        settings: extra ``settings`` keys for ``router.yaml`` (e.g. the embedding model path).

    Raises:
        DatasetError: the folder is not empty, a label cannot be a route name, or two labels make the same name.
    """
    if folder.exists() and any(folder.iterdir()):
        raise DatasetError(f"{folder}: not empty; routes-from-dataset writes a new routes folder")
    grouped, dropped = _group(data, oos_label, route_name(default_route))
    default = route_name(default_route)
    default_texts = grouped.pop(default, [])
    if not oos_utterances:
        default_texts = []
    if not grouped:
        raise DatasetError(f"{data.source}: no labels besides {oos_label!r}; nothing to route")
    folder.mkdir(parents=True, exist_ok=True)
    router = {
        "settings": {**(settings or {}), "default_route": default},
        "models": {CATALOG_MODEL: dict(_CATALOG_ENTRY)},
    }
    _write(folder / ROUTER_FILE, router, f"Routes built from {data.source} by `semroute routes-from-dataset`.")
    for name, texts in grouped.items():
        _write_route(folder, name, texts, f"Items labelled {name!r} in {data.source}.")
    description = f"Out-of-scope items (label {oos_label!r}) of {data.source}, and whatever no route claims."
    _write_route(folder, default, default_texts, description)
    utterances = sum(len(texts) for texts in grouped.values())
    return DatasetRoutes(folder, len(grouped) + 1, utterances + len(default_texts), len(default_texts), dropped)


def _group(data: LabelledSet, oos_label: str, default: str) -> tuple[dict[str, list[str]], int]:
    grouped: dict[str, list[str]] = {}
    seen: dict[str, set[str]] = {}
    labels_of: dict[str, str] = {}
    dropped = 0
    for text, label in zip(data.texts, data.labels, strict=True):
        name = default if label == oos_label else route_name(label)
        if name == default and label != oos_label:
            raise DatasetError(f"{data.source}: label {label!r} has the default route's name {default!r}")
        if labels_of.setdefault(name, label) != label:
            raise DatasetError(f"{data.source}: labels {labels_of[name]!r} and {label!r} both become route {name!r}")
        key = " ".join(text.split()).casefold()  # the route file format refuses repeats in this form
        if key in seen.setdefault(name, set()):
            dropped += 1
            continue
        seen[name].add(key)
        grouped.setdefault(name, []).append(text)
    return grouped, dropped


def _write_route(folder: Path, name: str, texts: Sequence[str], description: str) -> None:
    route: dict[str, Any] = {"name": name, "description": description, "model": CATALOG_MODEL}
    route.update({"utterances": list(texts)} if texts else {"override_only": True})
    reserved = {Path(ROUTER_FILE).stem, Path(FITTED_FILE).stem}
    stem = f"route_{name}" if name in reserved else name  # a label called "router" must not overwrite router.yaml
    _write(folder / f"{stem}.yaml", route, f"Route {name!r}.")


def _write(path: Path, content: dict[str, Any], comment: str) -> None:
    text = yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=120)
    path.write_text(f"# {comment}\n{text}", encoding="utf-8")
