"""The decision engine over many requests and many parameter settings at once, from signals computed once.

Fitting and the threshold trade-off curve try thousands of (blend, threshold, margin) settings on the same requests.
Embedding and scoring them again each time would take minutes, and calling :func:`semroute.decision.decide` per request
and setting too, so this module keeps every candidate's signals in arrays (:class:`SignalTable`) and makes the semantic
choice of ``decide`` (thresholds, then margin and tie-break) in vectorised form (:class:`Chooser`). Requests on which an
override rule could fire take the real ``decide``, so a :class:`Sweep` answers exactly what the router would; a test
checks that equivalence on random scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from semroute.decision import Policy, decide, may_fire
from semroute.features import extract_features
from semroute.schema import Blend, FittedParameters, TieBreak
from semroute.signals import blend_signals
from semroute.types import TIER_RANK, Candidate, RouteRequest

Floats = npt.NDArray[np.float32]
Doubles = npt.NDArray[np.float64]
Indices = npt.NDArray[np.int64]
SHORTLIST = 16  # routes per request looked at first; enough to settle almost every request


@dataclass(frozen=True)
class SignalTable:
    """Each signal of every candidate route for ``n`` requests: ``signals[name]`` is an ``(n, routes)`` array."""

    routes: tuple[str, ...]
    signals: Mapping[str, Floats]

    @classmethod
    def from_candidates(cls, candidates: Sequence[Sequence[Candidate]]) -> SignalTable:
        """Tabulate :meth:`semroute.router.Router.candidates` output (the same routes, in the same order, per row)."""
        if not candidates:
            raise ValueError("no requests to tabulate")
        routes = tuple(candidate.route for candidate in candidates[0])
        names = tuple(candidates[0][0].signals) if routes else ()
        signals = {name: np.zeros((len(candidates), len(routes)), dtype=np.float32) for name in names}
        for row, listed in enumerate(candidates):
            if tuple(candidate.route for candidate in listed) != routes:
                raise ValueError(f"request {row} has other candidate routes than request 0")
            for name, values in signals.items():
                values[row] = [candidate.signals[name] for candidate in listed]
        return cls(routes, signals)

    @classmethod
    def concat(cls, tables: Sequence[SignalTable]) -> SignalTable:
        """The tables' rows one after another (all of the same routes).

        Raises:
            ValueError: no tables, or tables over different routes.
        """
        if not tables or any(table.routes != tables[0].routes for table in tables):
            raise ValueError("need at least one table, all over the same routes")
        names = tables[0].signals.keys()
        return cls(tables[0].routes, {name: np.concatenate([t.signals[name] for t in tables]) for name in names})

    def __len__(self) -> int:
        return len(next(iter(self.signals.values()))) if self.signals else 0

    def scores(self, blend: Blend) -> Floats:
        """Blended scores, computed exactly as the router computes them."""
        return blend_signals(self.signals, blend.weights)

    def candidates(self, row: int, scores: Floats) -> list[Candidate]:
        """The candidates of request ``row`` with the given blended scores, as ``decide`` takes them."""
        return [
            Candidate(route, float(scores[row, column]), {k: float(v[row, column]) for k, v in self.signals.items()})
            for column, route in enumerate(self.routes)
        ]

    def rows(self, selected: Indices) -> SignalTable:
        """The table of the selected requests only."""
        return SignalTable(self.routes, {name: values[selected] for name, values in self.signals.items()})


@dataclass(frozen=True)
class Scored:
    """Blended scores of every request, ranked once, so that many thresholds and margins are cheap to try."""

    scores: Floats  # (n, routes) exactly the router's float32 scores
    exact: Doubles  # the same as float64: decide compares Python floats made from them
    columns: Indices  # (n, shortlist) each request's best routes, best first, equal scores in listing order
    values: Doubles  # (n, shortlist) their scores

    @classmethod
    def rank(cls, scores: Floats, shortlist: int = SHORTLIST) -> Scored:
        """Rank each request's routes once; only the ``shortlist`` best are kept apart."""
        exact = scores.astype(np.float64)
        columns = np.argsort(-exact, axis=1, kind="stable")[:, : max(1, min(shortlist, exact.shape[1]))]
        return cls(scores, exact, columns, np.take_along_axis(exact, columns, axis=1))


@dataclass(frozen=True)
class Choice:
    """Semantic choices of many requests: ``route[i]`` indexes :attr:`Chooser.names`."""

    route: Indices
    ambiguous: npt.NDArray[np.bool_]


class Chooser:
    """The thresholds -> margin -> tie-break steps of ``decide``, vectorised over requests.

    Ties resolve as in ``decide``: among equal scores the candidate listed first wins, because ``decide`` sorts with a
    stable sort and ``max``/``min`` return the first best element. Most requests are settled on their shortlist of
    best routes; a request whose shortlist cannot settle it (a route beyond it may qualify or be within the margin)
    is decided on all its routes.
    """

    def __init__(self, policy: Policy, routes: Sequence[str]) -> None:
        self.routes = tuple(routes)
        others = [name for name in policy.routes if name not in self.routes]
        self.names = self.routes + tuple(others)  # candidate routes first, then those reached by rules or default
        self.default = self.names.index(policy.settings.default_route)
        self.tie_break = policy.settings.tie_break
        primaries = [policy.models[policy.routes[name].model] for name in self.routes]
        tier = np.asarray([TIER_RANK[model.tier] for model in primaries], dtype=np.float64)
        price = np.asarray([m.input_cost_per_mtok + m.output_cost_per_mtok for m in primaries], dtype=np.float64)
        # decide's keys are (tier, score) and (price, -score): the best key first, then the higher score
        self._key = tier if self.tie_break is TieBreak.PREFER_CAPABLE else -price

    def choose(self, scored: Scored, thresholds: Doubles, margin: float) -> Choice:
        """Route index and ambiguity per request for these scores, per-route thresholds and margin."""
        rows = len(scored.exact)
        if not self.routes:
            return Choice(np.full(rows, self.default, dtype=np.int64), np.zeros(rows, dtype=bool))
        route, ambiguous, top_score = self._decide(scored.columns, scored.values, thresholds, margin)
        if scored.columns.shape[1] < len(self.routes):
            last = scored.values[:, -1]
            unsettled = np.where(np.isnan(top_score), last >= thresholds.min(), (top_score - last) < margin)
            if unsettled.any():
                everything = np.broadcast_to(np.arange(len(self.routes)), (int(unsettled.sum()), len(self.routes)))
                order = np.argsort(-scored.exact[unsettled], axis=1, kind="stable")
                columns = np.take_along_axis(everything, order, axis=1)
                values = np.take_along_axis(scored.exact[unsettled], order, axis=1)
                route[unsettled], ambiguous[unsettled], _ = self._decide(columns, values, thresholds, margin)
        return Choice(route, ambiguous)

    def _decide(
        self, columns: Indices, values: Doubles, thresholds: Doubles, margin: float
    ) -> tuple[Indices, npt.NDArray[np.bool_], Doubles]:
        """Decide on ranked routes; also returns the best qualifying score (NaN where none qualifies)."""
        rows = np.arange(len(values))
        qualifying = values >= thresholds[columns]
        any_qualifying = qualifying.any(axis=1)
        first = qualifying.argmax(axis=1)
        top_score = values[rows, first]
        close = qualifying & ((top_score[:, None] - values) < margin)
        ambiguous = (close.sum(axis=1) >= 2) & any_qualifying
        position = first
        if self.tie_break is not TieBreak.TOP_SCORE:
            key = np.where(close, self._key[columns], -np.inf)
            finalists = close & (key == key.max(axis=1, keepdims=True))
            position = np.where(ambiguous, finalists.argmax(axis=1), first)  # the first finalist has the best score
        route = np.where(any_qualifying, columns[rows, position], self.default).astype(np.int64)
        return route, ambiguous, np.where(any_qualifying, top_score, np.nan)


def policy_with(policy: Policy, parameters: FittedParameters, own_thresholds: Mapping[str, float]) -> Policy:
    """The policy with these parameters applied as ``routes/fitted.yaml`` would apply them.

    Args:
        policy: the policy of the index.
        parameters: score threshold, margin, blend and per-route thresholds (``None`` keeps the policy's value).
        own_thresholds: thresholds the route files set themselves; they win over the global threshold only.
    """
    settings = parameters.applied_to(policy.settings)
    routes = {
        name: replace(target, threshold=resolve_threshold(name, parameters, own_thresholds, policy))
        for name, target in policy.routes.items()
    }
    return Policy(settings, routes, policy.models, policy.rules, policy.fingerprint)


def resolve_threshold(
    route: str, parameters: FittedParameters, own_thresholds: Mapping[str, float], policy: Policy
) -> float:
    """A route's threshold: fitted per-route value, then (when a global one is fitted) the route file's own, then
    the fitted global one; with no fitted global threshold, the policy's threshold for the route stands."""
    if route in parameters.route_thresholds:
        return parameters.route_thresholds[route]
    if parameters.score_threshold is None:
        return policy.routes[route].threshold
    return own_thresholds.get(route, parameters.score_threshold)


class Sweep:
    """Routes of a fixed set of requests under any parameters, exactly as the router would decide them."""

    def __init__(
        self,
        table: SignalTable,
        policy: Policy,
        requests: Sequence[RouteRequest],
        own_thresholds: Mapping[str, float] | None = None,
        shortlist: int = SHORTLIST,
    ) -> None:
        if len(requests) != len(table):
            raise ValueError(f"{len(requests)} requests for a table of {len(table)}")
        self.table = table
        self.policy = policy
        self.own_thresholds = dict(own_thresholds or {})
        self.shortlist = shortlist
        self.chooser = Chooser(policy, table.routes)
        self._requests = tuple(requests)
        self._features = [extract_features(request.whole_text, request.input_tokens) for request in requests]
        self._ruled = np.asarray(
            [
                row
                for row, (request, features) in enumerate(zip(requests, self._features, strict=True))
                if any(may_fire(rule, request.whole_text, features, request.metadata) for rule in policy.rules)
            ],
            dtype=np.int64,
        )

    def subset(self, selected: Indices) -> Sweep:
        """The sweep of the selected requests only."""
        requests = [self._requests[row] for row in selected.tolist()]
        return Sweep(self.table.rows(selected), self.policy, requests, self.own_thresholds, self.shortlist)

    @property
    def names(self) -> tuple[str, ...]:
        """Route names that route indices refer to."""
        return self.chooser.names

    def thresholds(self, parameters: FittedParameters) -> npt.NDArray[np.float64]:
        """Each candidate route's threshold under ``parameters``."""
        return np.asarray(
            [resolve_threshold(r, parameters, self.own_thresholds, self.policy) for r in self.table.routes],
            dtype=np.float64,
        )

    def scored(self, blend: Blend | None = None) -> Scored:
        """The requests' scores under ``blend`` (default: the policy's), ranked for :meth:`routes`."""
        return Scored.rank(self.table.scores(blend or self.policy.settings.blend), self.shortlist)

    def choice(self, parameters: FittedParameters, scored: Scored | None = None) -> Choice:
        """The semantic choice (before override rules) of each request."""
        scored = scored or self.scored(parameters.blend)
        margin = parameters.margin if parameters.margin is not None else self.policy.settings.margin
        return self.chooser.choose(scored, self.thresholds(parameters), margin)

    def routes(self, parameters: FittedParameters, scored: Scored | None = None) -> Indices:
        """The final route of each request (an index into :attr:`names`), rules included.

        Args:
            parameters: the setting to decide with (``None`` fields keep the policy's values).
            scored: :meth:`scored` for ``parameters.blend``, when the caller already has it.
        """
        scored = scored or self.scored(parameters.blend)
        scores = scored.scores
        route = self.choice(parameters, scored).route
        if len(self._ruled):
            policy = policy_with(self.policy, parameters, self.own_thresholds)
            for row in self._ruled.tolist():
                request = self._requests[row]
                decision = decide(
                    self.table.candidates(row, scores),
                    request.whole_text,
                    self._features[row],
                    request.metadata,
                    policy,
                )
                route[row] = self.names.index(decision.route)
        return route
