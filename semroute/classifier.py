"""A light route classifier: multinomial logistic regression on the utterance embeddings.

It is trained at index time (scikit-learn, L-BFGS) and stored in the artifact as plain arrays; at request time it is
one small matrix product, far cheaper than the embedding itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]


@dataclass(frozen=True)
class RouteClassifier:
    """Softmax over routes: ``probabilities = softmax(vectors @ weights + bias)``, columns in route order."""

    weights: Floats  # (dim, routes)
    bias: Floats  # (routes,)

    def probabilities(self, vectors: Floats) -> Floats:
        """Probability of each route for each vector; routes the classifier never saw get 0."""
        logits = vectors @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        probabilities: Floats = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
        return probabilities

    def to_arrays(self) -> dict[str, Floats]:
        """Arrays to store in the index artifact."""
        return {"weights": self.weights, "bias": self.bias}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Floats]) -> RouteClassifier:
        """Inverse of :meth:`to_arrays`."""
        return cls(np.asarray(arrays["weights"], np.float32), np.asarray(arrays["bias"], np.float32))


def train_classifier(
    vectors: Floats, labels: npt.NDArray[np.int64], routes: int, regularisation: float
) -> RouteClassifier:
    """Fit the classifier on utterance vectors labelled with route numbers ``0..routes-1``.

    Routes with no utterances (override-only ones) get a bias of -inf, so their probability is always 0.
    """
    dim = vectors.shape[1]
    weights = np.zeros((dim, routes), dtype=np.float32)
    bias = np.full(routes, -np.inf, dtype=np.float32)
    present = np.unique(labels)
    if len(present) == 1:  # one route: nothing to tell apart
        bias[present[0]] = 0.0
        return RouteClassifier(weights, bias)
    from sklearn.linear_model import LogisticRegression  # index time only

    model = LogisticRegression(C=regularisation, max_iter=2000)
    model.fit(vectors, labels)
    coefficients = model.coef_ if len(present) > 2 else np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2])
    intercepts = model.intercept_ if len(present) > 2 else np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
    weights[:, present] = coefficients.T
    bias[present] = intercepts
    return RouteClassifier(weights, bias)
