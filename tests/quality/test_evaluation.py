"""Metrics on a tiny hand-made dataset whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from semroute.quality.evaluation import ConfusedPair, evaluate

#   label     chosen    note
LABELS = ["a", "a", "a", "b", "b", "oos", "oos", "oos", "general"]
CHOSEN = ["a", "a", "b", "b", "general", "general", "a", "general", "general"]
AMBIGUOUS = [False, True, False, False, False, False, True, False, False]
RULES = [(), ("r1",), (), ("r1", "r2"), (), (), (), (), ()]


def report():  # type: ignore[no-untyped-def]
    return evaluate(LABELS, CHOSEN, "general", oos_label="oos", ambiguous=AMBIGUOUS, rules=RULES)


def test_headline_metrics() -> None:
    r = report()
    assert (r.items, r.in_scope_items, r.oos_items) == (9, 6, 3)
    assert r.accuracy == pytest.approx(6 / 9)  # a, a, b, general(oos), general(oos), general
    assert r.in_scope_accuracy == pytest.approx(4 / 6)  # a, a, b, general right; a->b and b->general wrong
    assert r.oos_recall == pytest.approx(2 / 3)
    assert r.false_rejection_rate == pytest.approx(1 / 5)  # of the five in-scope items expected elsewhere
    assert r.ambiguous_rate == pytest.approx(2 / 9)
    assert r.overrides == {"r1": 2, "r2": 1}


def test_per_route_precision_recall_f1() -> None:
    per_route = report().per_route
    assert per_route["a"].precision == pytest.approx(2 / 3)  # chosen 3 times (one was an oos item), right twice
    assert per_route["a"].recall == pytest.approx(2 / 3)
    assert per_route["b"].precision == pytest.approx(1 / 2) and per_route["b"].recall == pytest.approx(1 / 2)
    assert per_route["b"].f1 == pytest.approx(0.5)
    general = per_route["general"]  # oos items count under the default route: expected 4, chosen 4, right 3
    assert (general.precision, general.recall, general.support) == (pytest.approx(3 / 4), pytest.approx(3 / 4), 4)


def test_confused_pairs_most_frequent_first() -> None:
    pairs = report().confused_pairs
    assert set(pairs) == {
        ConfusedPair("a", "b", 1),
        ConfusedPair("b", "general", 1),
        ConfusedPair("general", "a", 1),
    }
    assert evaluate(["a", "a", "b"], ["b", "b", "a"], "g").confused_pairs[0] == ConfusedPair("a", "b", 2)


def test_json_has_the_documented_keys() -> None:
    data = report().to_json()
    assert {"accuracy", "in_scope_accuracy", "oos_recall", "per_route", "confused_pairs", "overrides"} <= set(data)
    assert evaluate(["a"], ["a"], "g").to_json()["oos_recall"] is None


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="as many"):
        evaluate(["a", "b"], ["a"], "g")
