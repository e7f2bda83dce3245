"""One task's result on one model: the unit every source of outcomes is turned into and the learner reads.

Sources: served completions (the store's decisions and attempts), benchmark tables (``semroute outcomes import``) and
blind evaluations (``semroute evaluate-models``). The store keeps them in its ``observations`` table (imports and
evaluations) or derives them from decisions and attempts (served traffic).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

# A graded quality (0-1) counts as a success from here up: a 1-5 score of 4 or 5, a 0/1 correctness of 1.
SUCCESS_QUALITY = 0.75


def quality_of_score(score: int) -> float:
    """A 1-5 quality score as a quality between 0 and 1."""
    return (score - 1) / 4.0


def is_success(quality: float) -> bool:
    """Whether a quality (0-1) counts as a success."""
    return quality >= SUCCESS_QUALITY


@dataclass(frozen=True)
class Observation:
    """How one model did on one task.

    Attributes:
        task_id: Identifies the task; every model's result on the same task shares it (the text's SHA-256, or the
            source's own sample id).
        route: The route the task belongs to.
        model: Catalog name of the model.
        quality: 0 (failed) to 1 (perfect); 0/1 correctness as is, a 1-5 score as ``(score - 1) / 4``.
        embedding: The task's query vector (the embedded part of its text), float32, unit length.
        features: Structural features of the whole text (:func:`semroute.features.structural_features`).
        propensity: The probability with which this model was chosen for this task: 1.0 when every model ran (a
            benchmark, an evaluation), the choice policy's probability for served traffic.
        cost_usd: What the call cost, when known.
        input_tokens: Prompt tokens, when known.
        output_tokens: Completion tokens, when known.
        latency_ms: Wall-clock time of the call, when known.
        source: Where it came from: ``served``, ``import:<file name>``, ``evaluate-models``.
    """

    task_id: str
    route: str
    model: str
    quality: float
    embedding: npt.NDArray[np.float32] = field(repr=False, compare=False)
    features: Mapping[str, float] = field(default_factory=dict)
    propensity: float = 1.0
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    source: str = ""

    @property
    def success(self) -> bool:
        """Whether the output was good enough (see :data:`SUCCESS_QUALITY`)."""
        return is_success(self.quality)
