"""From decision records to the report's figures: pure functions over plain values, no I/O.

Definitions (README, "The report", says the same):

- *requests*: decisions made in the window; *completions*: those with a reported outcome (accepted or not).
- *accepted rate*: accepted completions / completions.
- *escalation rate*: completions in which an output failed a validator and another model was then tried.
- *fallback rate*: completions in which a provider error was followed by another attempt (for an accepted
  completion: a provider error before the accepted attempt).
- *validation failures*: attempts that failed a validator, counted per validator kind.
- *latency*: per accepted completion, the sum of its attempts' latencies (the model time the caller waited, routing
  excluded); p50 and p95 over accepted completions, linearly interpolated.
- *tokens* and *cost*: summed over every attempt (what the providers billed); cost per completion divides by
  completions.
- *savings*: counterfactual cost (see :mod:`semroute.report._counterfactuals`) minus recorded cost.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from semroute.report._counterfactuals import Counterfactuals, call_cost, reference_attempt
from semroute.report._records import DecisionRecord
from semroute.types import Attempt, AttemptOutcome


@dataclass(frozen=True)
class Metrics:
    """The figures of one group of decisions (a route, a model, or all of them) in one window."""

    requests: int = 0
    completions: int = 0
    accepted: int = 0
    escalated: int = 0
    fell_back: int = 0
    validation_failures: Mapping[str, int] = field(default_factory=dict)
    mean_quality: float | None = None
    quality_scores: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    most_capable_cost_usd: float = 0.0
    top_frontier_cost_usd: float = 0.0

    @property
    def accepted_rate(self) -> float | None:
        """Accepted completions / completions."""
        return _ratio(self.accepted, self.completions)

    @property
    def escalation_rate(self) -> float | None:
        """Completions that escalated after a failed validation / completions."""
        return _ratio(self.escalated, self.completions)

    @property
    def fallback_rate(self) -> float | None:
        """Completions that fell back after a provider error / completions."""
        return _ratio(self.fell_back, self.completions)

    @property
    def cost_per_completion_usd(self) -> float | None:
        """Recorded cost / completions."""
        return _ratio(self.cost_usd, self.completions)

    @property
    def savings_vs_most_capable_usd(self) -> float:
        """Always the route's most capable model would have cost this much more (negative: less)."""
        return self.most_capable_cost_usd - self.cost_usd

    @property
    def savings_vs_top_frontier_usd(self) -> float:
        """Always the catalog's top frontier model would have cost this much more (negative: less)."""
        return self.top_frontier_cost_usd - self.cost_usd


@dataclass(frozen=True)
class Row:
    """One group's figures in this window and in the previous one."""

    key: str
    current: Metrics
    previous: Metrics


@dataclass(frozen=True)
class WeeklyCost:
    """Recorded cost per route in one bucket of the chart's span."""

    start: datetime
    cost_by_route: Mapping[str, float]


@dataclass(frozen=True)
class ChoiceRow:
    """How often a route's decisions started at one model, by the policy that chose it (this window)."""

    route: str
    model: str
    policy: str  # static | learned | explored
    requests: int
    share: float  # of the route's requests


@dataclass(frozen=True)
class Report:
    """The whole report: the window, the totals, the rows per route and per model, and the cost per bucket."""

    start: datetime
    end: datetime
    previous_start: datetime
    total: Row
    by_route: tuple[Row, ...]
    by_model: tuple[Row, ...]
    weekly_cost: tuple[WeeklyCost, ...]
    counterfactuals: Counterfactuals
    choices: tuple[ChoiceRow, ...] = ()

    @property
    def span(self) -> timedelta:
        """The length of the window."""
        return self.end - self.start


def measure(records: Iterable[DecisionRecord], counterfactuals: Counterfactuals) -> Metrics:
    """The figures of ``records``."""
    chosen = list(records)
    completed = [record for record in chosen if record.completed]
    scores = [record.quality_score for record in chosen if record.quality_score is not None]
    latencies = [sum(a.latency_ms for a in r.attempts) for r in completed if r.accepted]
    calls = [attempt for record in completed for attempt in record.attempts]
    p50, p95 = _percentiles(latencies)
    return Metrics(
        requests=len(chosen),
        completions=len(completed),
        accepted=sum(1 for record in completed if record.accepted),
        escalated=sum(1 for record in completed if _moved_on_after(record.attempts, AttemptOutcome.INVALID)),
        fell_back=sum(1 for record in completed if _moved_on_after(record.attempts, AttemptOutcome.PROVIDER_ERROR)),
        validation_failures=dict(
            Counter(a.validator or "(unnamed)" for a in calls if a.outcome is AttemptOutcome.INVALID)
        ),
        mean_quality=statistics.fmean(scores) if scores else None,
        quality_scores=len(scores),
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        input_tokens=sum(attempt.input_tokens for attempt in calls),
        output_tokens=sum(attempt.output_tokens for attempt in calls),
        cost_usd=sum(attempt.cost_usd for attempt in calls),
        most_capable_cost_usd=sum(_most_capable_cost(record, counterfactuals) for record in completed),
        top_frontier_cost_usd=sum(_top_frontier_cost(record, counterfactuals) for record in completed),
    )


def build_report(
    records: Sequence[DecisionRecord], counterfactuals: Counterfactuals, end: datetime, span: timedelta
) -> Report:
    """The report of the window ``[end - span, end)``, compared with ``[end - 2 span, end - span)``.

    ``records`` may hold decisions from outside both windows; they are ignored.
    """
    start, previous_start = end - span, end - 2 * span
    current = [r for r in records if start <= r.decided_at < end]
    previous = [r for r in records if previous_start <= r.decided_at < start]
    return Report(
        start=start,
        end=end,
        previous_start=previous_start,
        total=Row("total", measure(current, counterfactuals), measure(previous, counterfactuals)),
        by_route=_rows(current, previous, lambda record: record.route, counterfactuals),
        by_model=_rows(current, previous, lambda record: record.model, counterfactuals),
        weekly_cost=_weekly_cost([*previous, *current], previous_start, end),
        counterfactuals=counterfactuals,
        choices=model_choices(current),
    )


def model_choices(records: Sequence[DecisionRecord]) -> tuple[ChoiceRow, ...]:
    """Per route, the models its decisions started at and the policy that chose each: a learned route's easy and
    hard tasks show up as several models."""
    counts = Counter((record.route, record.model, record.choice_policy) for record in records)
    per_route = Counter(record.route for record in records)
    return tuple(
        ChoiceRow(route, model, policy, count, count / per_route[route])
        for (route, model, policy), count in sorted(counts.items(), key=lambda item: (item[0][0], -item[1], item[0]))
    )


def relative_change(current: float | None, previous: float | None) -> float | None:
    """(current - previous) / previous; None when either is unknown or previous is 0."""
    if current is None or previous is None or previous == 0:
        return None
    return (current - previous) / previous


def _rows(
    current: Sequence[DecisionRecord],
    previous: Sequence[DecisionRecord],
    key: Callable[[DecisionRecord], str],
    counterfactuals: Counterfactuals,
) -> tuple[Row, ...]:
    names = sorted({key(record) for record in current} | {key(record) for record in previous})
    return tuple(
        Row(
            name,
            measure((r for r in current if key(r) == name), counterfactuals),
            measure((r for r in previous if key(r) == name), counterfactuals),
        )
        for name in names
    )


def _weekly_cost(records: Sequence[DecisionRecord], start: datetime, end: datetime) -> tuple[WeeklyCost, ...]:
    # buckets of a week (of the whole span when it is shorter), counted back from the end
    bucket = min(timedelta(days=7), end - start)
    count = math.ceil((end - start) / bucket)
    starts = [end - bucket * (count - number) for number in range(count)]
    totals: list[defaultdict[str, float]] = [defaultdict(float) for _ in starts]
    for record in records:
        position = min(len(starts) - 1, max(0, int((record.decided_at - starts[0]) / bucket)))
        totals[position][record.route] += sum(attempt.cost_usd for attempt in record.attempts)
    return tuple(WeeklyCost(first, dict(total)) for first, total in zip(starts, totals, strict=True))


def _moved_on_after(attempts: Sequence[Attempt], outcome: AttemptOutcome) -> bool:
    return any(attempt.outcome is outcome for attempt in attempts[:-1])


def _most_capable_cost(record: DecisionRecord, counterfactuals: Counterfactuals) -> float:
    model, attempt = counterfactuals.most_capable_for(record.route, record.chain), reference_attempt(record.attempts)
    return call_cost(model, attempt) if model is not None and attempt is not None else 0.0


def _top_frontier_cost(record: DecisionRecord, counterfactuals: Counterfactuals) -> float:
    model, attempt = counterfactuals.top_frontier, reference_attempt(record.attempts)
    return call_cost(model, attempt) if model is not None and attempt is not None else 0.0


def _percentiles(values: Sequence[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    if len(values) == 1:
        return values[0], values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[94]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None
