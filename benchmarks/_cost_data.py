"""The RouterBench subset through the product's own path: ``import_outcomes`` (with a ``--map`` file of the bench's
own) into a temporary outcome store, read back with ``OutcomeDatabase.observations``; and the per-prompt tables
(prompts x models of correctness and cost) that the figures are computed from.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from semroute.embedding import Embedder
from semroute.learning.importing import ImportResult, import_outcomes
from semroute.learning.observations import Observation
from semroute.store import OutcomeDatabase
from semroute.task_part import EmbedPart
from semroute.types import ResolvedModel, Tier

FloatArray = npt.NDArray[np.float64]
FAMILIES = ("arc_challenge", "mbpp", "winograde")
TITLES = {"arc_challenge": "ARC-Challenge", "mbpp": "MBPP", "winograde": "Winogrande"}
PART = EmbedPart.LAST_PARAGRAPH  # the prompts end with the task after a few-shot preamble
GPT4 = "gpt-4"
# RouterBench's names -> the bench catalog's short names (the --map file the bench writes), with each model's tier.
MODEL_MAP: dict[str, tuple[str, Tier]] = {
    "WizardLM/WizardLM-13B-V1.2": ("wizardlm-13b", Tier.LIGHT),
    "claude-instant-v1": ("claude-instant", Tier.MID),
    "claude-v1": ("claude-v1", Tier.FRONTIER),
    "claude-v2": ("claude-v2", Tier.FRONTIER),
    "gpt-3.5-turbo-1106": ("gpt-3.5", Tier.MID),
    "gpt-4-1106-preview": (GPT4, Tier.FRONTIER),
    "meta/code-llama-instruct-34b-chat": ("codellama-34b", Tier.MID),
    "meta/llama-2-70b-chat": ("llama-2-70b", Tier.MID),
    "mistralai/mistral-7b-chat": ("mistral-7b", Tier.LIGHT),
    "mistralai/mixtral-8x7b-chat": ("mixtral-8x7b", Tier.MID),
    "zero-one-ai/Yi-34B-Chat": ("yi-34b", Tier.MID),
}


@dataclass(frozen=True)
class Prompts:
    """One split of one family, prompts x models (the models in :attr:`Family.models` order).

    Attributes:
        task_ids: The importer's task ids.
        texts: Whole prompt texts.
        vectors: Embedded part of each prompt (unit float32, as imported).
        features: Structural features of each whole prompt.
        quality: 0/1 correctness; NaN where the table's cell is blank.
        cost: Recorded USD per prompt; NaN where the quality is blank.
    """

    task_ids: tuple[str, ...]
    texts: tuple[str, ...]
    vectors: npt.NDArray[np.float32]
    features: tuple[Mapping[str, float], ...]
    quality: FloatArray
    cost: FloatArray

    @property
    def complete(self) -> npt.NDArray[np.bool_]:
        """Prompts with every model's result."""
        return np.asarray(~np.isnan(self.quality).any(axis=1), dtype=np.bool_)

    def subset(self, rows: npt.NDArray[np.int64] | npt.NDArray[np.bool_]) -> Prompts:
        """The prompts at ``rows`` (indices or a mask)."""
        picked = np.arange(len(self.task_ids))[rows]
        return Prompts(
            tuple(self.task_ids[i] for i in picked),
            tuple(self.texts[i] for i in picked),
            self.vectors[picked],
            tuple(self.features[i] for i in picked),
            self.quality[picked],
            self.cost[picked],
        )


@dataclass(frozen=True)
class Family:
    """One task family: the observations the learner reads (train, from the store) and both splits as tables."""

    name: str
    models: tuple[str, ...]  # catalog names, in the table's column order
    observations: tuple[Observation, ...]  # train only, read back from the outcome store
    train: Prompts
    test: Prompts  # complete prompts only: every model's result is known
    test_dropped: int  # test prompts left out for a blank result

    @property
    def title(self) -> str:
        """The family's name in tables and plots."""
        return TITLES.get(self.name, self.name)


def write_model_map(folder: Path) -> Path:
    """The bench's ``--map`` file: RouterBench's model names -> the bench catalog's."""
    path = folder / "routerbench-map.yaml"
    path.write_text(yaml.safe_dump({source: name for source, (name, _) in MODEL_MAP.items()}, sort_keys=False))
    return path


def catalog(mean_costs: Mapping[str, float]) -> dict[str, ResolvedModel]:
    """The bench's catalog: each model priced so that one input token costs its mean recorded cost per prompt (the
    chooser compares models by their mean recorded cost anyway; the cascade reprices per prompt)."""
    tiers = dict(MODEL_MAP.values())
    return {name: priced(name, tiers[name], cost) for name, cost in mean_costs.items()}


def priced(name: str, tier: Tier, cost_per_call: float) -> ResolvedModel:
    """A catalog model whose 1-token call costs ``cost_per_call`` USD."""
    return ResolvedModel(name, f"routerbench/{name}", tier, cost_per_call * 1_000_000, 0.0, 1_000_000)


def load_family(data: Path, family: str, embedder: Embedder, database: OutcomeDatabase, model_map: Path) -> Family:
    """Import the family's train file into the store and read it back; import its test file for the tables."""
    train_import = _import(data / f"{family}_train.csv", family, embedder, model_map)
    database.insert_observations(train_import.observations)
    stored = tuple(database.observations(routes=[family]))
    test_import = _import(data / f"{family}_test.csv", family, embedder, model_map)
    models = train_import.models
    train = _prompts(stored, train_import.texts, models)
    test = _prompts(test_import.observations, test_import.texts, models)
    complete = test.complete
    return Family(family, models, stored, train, test.subset(complete), int((~complete).sum()))


def _import(path: Path, family: str, embedder: Embedder, model_map: Path) -> ImportResult:
    print(f"importing {path.name}", file=sys.stderr)
    return import_outcomes(path, embedder=embedder, part=PART, route=family, model_map=model_map)


def _prompts(observations: Sequence[Observation], texts: Mapping[str, str], models: Sequence[str]) -> Prompts:
    ids = sorted({item.task_id for item in observations}, key=_stable_order)
    row = {task_id: i for i, task_id in enumerate(ids)}
    column = {model: j for j, model in enumerate(models)}
    quality = np.full((len(ids), len(models)), np.nan)
    cost = np.full((len(ids), len(models)), np.nan)
    vectors = np.zeros((len(ids), observations[0].embedding.shape[0]), dtype=np.float32)
    features: list[Mapping[str, float]] = [{} for _ in ids]
    for item in observations:
        i, j = row[item.task_id], column[item.model]
        quality[i, j] = item.quality
        cost[i, j] = np.nan if item.cost_usd is None else item.cost_usd
        vectors[i] = item.embedding
        features[i] = item.features
    return Prompts(tuple(ids), tuple(texts[i] for i in ids), vectors, tuple(features), quality, cost)


def _stable_order(task_id: str) -> str:
    """A fixed pseudo-random order of tasks (folds and resamples do not depend on the file's row order)."""
    return hashlib.sha256(task_id.encode()).hexdigest()
