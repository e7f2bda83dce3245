"""A light route classifier: multinomial logistic regression on the utterance embeddings.

It is trained at index time (scikit-learn, L-BFGS) and stored in the artifact as plain arrays; at request time it is
one small matrix product, far cheaper than the embedding itself.

A rebuild after a small change may start from the previous artifact's coefficients instead
(:func:`warm_train_classifier`). A cold fit stops where L-BFGS's gradient test passes, well before the optimum (on
CLINC150, 26 iterations against 61 to converge), and a warm start that simply continues would walk on toward the
optimum, away from what a cold fit on the new data gives. So the warm start minimises the new objective less the
previous fit's remaining gradient (a linear term): it moves only as far as the change asks, and lands where the
new objective's gradient equals the previous fit's, as a cold fit would have stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float32]
Labels = npt.NDArray[np.int64]
Objective = Callable[[npt.NDArray[np.float64]], tuple[float, npt.NDArray[np.float64]]]

MAX_ITERATIONS = 2000
WARM_TOLERANCE = 1e-5  # gradient test of the warm start: a tenth of the cold fit's (scikit-learn's 1e-4)


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


@dataclass(frozen=True)
class Training:
    """A trained classifier and how it was trained."""

    classifier: RouteClassifier
    warm: bool  # started from the previous fit
    iterations: int  # L-BFGS iterations (0: nothing to fit)


@dataclass(frozen=True)
class PreviousFit:
    """The previous build's classifier and what it was fitted on: where a warm start begins."""

    classifier: RouteClassifier
    names: Sequence[str]  # its route order
    vectors: Floats
    labels: Labels  # route numbers in ``names``
    regularisation: float


def train_classifier(vectors: Floats, labels: Labels, routes: int, regularisation: float) -> Training:
    """Fit the classifier from zero on utterance vectors labelled with route numbers ``0..routes-1``.

    Routes with no utterances (override-only ones) get a bias of -inf, so their probability is always 0.
    """
    dim = vectors.shape[1]
    weights = np.zeros((dim, routes), dtype=np.float32)
    bias = np.full(routes, -np.inf, dtype=np.float32)
    present = np.unique(labels)
    if len(present) == 1:  # one route: nothing to tell apart
        bias[present[0]] = 0.0
        return Training(RouteClassifier(weights, bias), False, 0)
    from sklearn.linear_model import LogisticRegression  # index time only

    model = LogisticRegression(C=regularisation, max_iter=MAX_ITERATIONS)
    model.fit(vectors, labels)
    coefficients = model.coef_ if len(present) > 2 else np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2])
    intercepts = model.intercept_ if len(present) > 2 else np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
    weights[:, present] = coefficients.T
    bias[present] = intercepts
    return Training(RouteClassifier(weights, bias), False, int(np.max(model.n_iter_)))


def warm_train_classifier(
    vectors: Floats, labels: Labels, names: Sequence[str], regularisation: float, previous: PreviousFit
) -> Training:
    """Fit the classifier of routes ``names`` from ``previous`` (matched by route name; a new route starts at zero),
    minimising the objective of a cold fit (scikit-learn's: mean cross-entropy plus ``||W||^2 / (2 C n)``) less the
    previous fit's remaining gradient. With fewer than three routes, on either side, it fits from zero."""
    present = np.unique(labels)
    before = np.unique(previous.labels)
    if len(present) < 3 or len(before) < 3:
        return train_classifier(vectors, labels, len(names), regularisation)
    from scipy.optimize import minimize  # type: ignore[import-untyped]  # index time only; comes with scikit-learn

    dim = vectors.shape[1]
    present_names = [names[number] for number in present]
    start = _parameters(previous.classifier, previous.names, present_names)
    before_names = [previous.names[number] for number in before]
    residual = _gradient_by_name(
        _objective(previous.vectors, previous.labels, before, previous.regularisation),
        _parameters(previous.classifier, previous.names, before_names),
        before_names,
        present_names,
        dim,
    )
    objective = _objective(vectors, labels, present, regularisation)

    def corrected(parameters: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        loss, gradient = objective(parameters)
        return loss - float(residual @ parameters), gradient - residual

    options = {"maxiter": MAX_ITERATIONS, "maxls": 50, "gtol": WARM_TOLERANCE, "ftol": 64 * np.finfo(float).eps}
    result = minimize(corrected, start, method="L-BFGS-B", jac=True, options=options)
    weights = np.zeros((dim, len(names)), dtype=np.float32)
    bias = np.full(len(names), -np.inf, dtype=np.float32)
    weights[:, present] = result.x[: len(present) * dim].reshape(len(present), dim).T
    bias[present] = result.x[len(present) * dim :]
    return Training(RouteClassifier(weights, bias), True, int(result.nit))


def _parameters(classifier: RouteClassifier, names: Sequence[str], wanted: Sequence[str]) -> npt.NDArray[np.float64]:
    """``classifier``'s coefficients of the routes ``wanted`` as one L-BFGS vector: weights (route by route), then
    biases; a route it lacks (or holds without utterances) is zero."""
    column = {name: number for number, name in enumerate(names)}
    weights = np.zeros((len(wanted), classifier.weights.shape[0]))
    bias = np.zeros(len(wanted))
    for row, name in enumerate(wanted):
        number = column.get(name)
        if number is not None and np.isfinite(classifier.bias[number]):
            weights[row], bias[row] = classifier.weights[:, number], classifier.bias[number]
    return np.concatenate([weights.ravel(), bias])


def _gradient_by_name(
    objective: Objective,
    parameters: npt.NDArray[np.float64],
    names: Sequence[str],
    wanted: Sequence[str],
    dim: int,
) -> npt.NDArray[np.float64]:
    """The gradient of ``objective`` at ``parameters`` (routes ``names``), rearranged for the routes ``wanted``
    (zero for a route ``names`` lacks)."""
    _, gradient = objective(parameters)
    weights = gradient[: len(names) * dim].reshape(len(names), dim)
    bias = gradient[len(names) * dim :]
    row = {name: number for number, name in enumerate(names)}
    arranged_weights = np.zeros((len(wanted), dim))
    arranged_bias = np.zeros(len(wanted))
    for target, name in enumerate(wanted):
        if name in row:
            arranged_weights[target], arranged_bias[target] = weights[row[name]], bias[row[name]]
    return np.concatenate([arranged_weights.ravel(), arranged_bias])


def _objective(vectors: Floats, labels: Labels, present: Labels, regularisation: float) -> Objective:
    """Mean cross-entropy of the softmax over the routes ``present`` plus ``||W||^2 / (2 C n)``, and its gradient,
    over parameters laid out as :func:`_parameters` does (scikit-learn's multinomial objective)."""
    rows, dim = vectors.shape
    routes = len(present)
    targets = np.searchsorted(present, labels)
    strength = 1.0 / (regularisation * rows)
    everyone = np.arange(rows)

    def evaluate(parameters: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        weights = parameters[: routes * dim].reshape(routes, dim)
        logits = vectors @ weights.T.astype(np.float32) + parameters[routes * dim :].astype(np.float32)
        top = logits.max(axis=1, keepdims=True)
        exp = np.exp(logits - top)
        total = exp.sum(axis=1, keepdims=True)
        cross_entropy = np.log(total[:, 0]) + top[:, 0] - logits[everyone, targets]
        loss = float(np.mean(cross_entropy, dtype=np.float64)) + 0.5 * strength * float(np.sum(weights**2))
        residuals = exp / total
        residuals[everyone, targets] -= 1.0
        weight_gradient = (residuals.T @ vectors).astype(np.float64) / rows + strength * weights
        bias_gradient = residuals.sum(axis=0, dtype=np.float64) / rows
        return loss, np.concatenate([weight_gradient.ravel(), bias_gradient])

    return evaluate
