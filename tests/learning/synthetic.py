"""Hand-made outcomes where the right answer is known: an easy cluster of tasks that the cheap model always solves
and a hard one that only the frontier model solves, in a 32-dimensional embedding space."""

from __future__ import annotations

import numpy as np

from semroute.learning.observations import Observation

DIM = 32
ROUTE = "coding"
CHEAP, FRONTIER = "cheap", "frontier"
# success rates per cluster and model
RATES = {"easy": {CHEAP: 0.95, FRONTIER: 0.97}, "hard": {CHEAP: 0.05, FRONTIER: 0.9}}
COSTS = {CHEAP: 0.0002, FRONTIER: 0.01}


def centre(cluster: str) -> np.ndarray:
    """The unit direction of a cluster (fixed: the same in every test)."""
    vector = np.zeros(DIM)
    vector[0 if cluster == "easy" else 1] = 1.0
    return vector


def task_vector(cluster: str, rng: np.random.Generator) -> np.ndarray:
    """A unit vector near the cluster's centre."""
    vector = centre(cluster) + rng.normal(scale=0.25, size=DIM)
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def outcomes(
    tasks_per_cluster: int,
    *,
    seed: int = 0,
    models: tuple[str, ...] = (CHEAP, FRONTIER),
    propensity: dict[str, dict[str, float]] | None = None,
) -> list[Observation]:
    """Every model's outcome on each task (``propensity``: per cluster and model, the probability the model was
    chosen; a model is then observed on a task with that probability, and the observation records it)."""
    rng = np.random.default_rng(seed)
    rows: list[Observation] = []
    for cluster in ("easy", "hard"):
        for number in range(tasks_per_cluster):
            vector = task_vector(cluster, rng)
            for model in models:
                chosen = 1.0 if propensity is None else propensity[cluster][model]
                if rng.random() >= chosen:
                    continue
                success = rng.random() < RATES[cluster][model]
                rows.append(
                    Observation(
                        task_id=f"{cluster}-{number}",
                        route=ROUTE,
                        model=model,
                        quality=1.0 if success else 0.0,
                        embedding=vector,
                        features={"estimated_tokens": 40.0 if cluster == "easy" else 400.0},
                        propensity=chosen,
                        cost_usd=COSTS[model],
                    )
                )
    return rows
