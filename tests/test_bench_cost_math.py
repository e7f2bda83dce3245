"""The arithmetic of ``make bench-cost`` on hand-made points: frontier, AIQ, random mixing at equal cost, the oracle
and the bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks._cost_math import (
    Point,
    aiq,
    bootstrap_aiq,
    equal_cost_mix,
    frontier,
    hull_quality,
    interval,
    oracle_choice,
    resample_weights,
    single_model_range,
)

# cheap and weak, a dominated one, a point under the line of its neighbours, dear and strong
MODELS = [Point(1.0, 0.50), Point(3.0, 0.45), Point(4.0, 0.60), Point(5.0, 0.80), Point(11.0, 0.90)]


def test_frontier_drops_dominated_points_and_points_under_the_hull() -> None:
    # (3, 0.45) costs more than (1, 0.5) and is worse; (4, 0.60) lies under the line from (1, 0.5) to (5, 0.8)
    assert frontier(MODELS) == [0, 3, 4]


def test_frontier_is_non_decreasing_even_when_the_dearest_point_is_worse() -> None:
    points = [Point(1.0, 0.5), Point(2.0, 0.9), Point(10.0, 0.7)]
    assert frontier(points) == [0, 1]


def test_frontier_keeps_one_of_equal_points_and_drops_collinear_middles() -> None:
    points = [Point(1.0, 0.5), Point(1.0, 0.5), Point(2.0, 0.6), Point(3.0, 0.7)]
    assert frontier(points) == [0, 3]


def test_hull_quality_interpolates_and_stays_flat_beyond_the_ends() -> None:
    hull = [MODELS[i] for i in frontier(MODELS)]
    assert hull_quality(hull, 3.0) == pytest.approx(0.65)
    assert hull_quality(hull, 8.0) == pytest.approx(0.85)
    assert hull_quality(hull, 20.0) == pytest.approx(0.90)
    assert hull_quality(hull, 0.5) == pytest.approx(0.50)


def test_aiq_of_a_single_point_is_its_quality() -> None:
    assert aiq([Point(1.0, 0.7)], 1.0, 10.0) == pytest.approx(0.7)


def test_aiq_is_the_mean_height_of_the_hull_over_the_normalised_cost() -> None:
    # hull (1, .5) -> (5, .8) -> (11, .9) over [1, 11]: trapezoids 4 * .65 + 6 * .85 = 7.7, over a width of 10
    assert aiq(MODELS, 1.0, 11.0) == pytest.approx(0.77)


def test_aiq_is_flat_past_the_dearest_point_and_zero_below_the_cheapest() -> None:
    # flat at 0.8 from 5 to 11: (4 * 0.65 + 6 * 0.8) / 10
    assert aiq([Point(1.0, 0.5), Point(5.0, 0.8)], 1.0, 11.0) == pytest.approx(0.74)
    # a router that cannot go below a cost of 3 gets nothing for [1, 3]
    assert aiq([Point(3.0, 0.8)], 1.0, 11.0) == pytest.approx(0.8 * 8 / 10)


def test_aiq_clips_points_outside_the_cost_range() -> None:
    # a point dearer than the range: the hull is cut at the range's end, where it is interpolated
    assert aiq([Point(1.0, 0.5), Point(21.0, 0.9)], 1.0, 11.0) == pytest.approx((0.5 + 0.7) / 2)
    with pytest.raises(ValueError, match="increasing"):
        aiq(MODELS, 2.0, 2.0)


def test_a_router_above_the_zero_router_gains() -> None:
    low, high = single_model_range(MODELS)
    router = [Point(1.0, 0.5), Point(3.0, 0.85), Point(11.0, 0.9)]
    assert aiq(router, low, high) > aiq(MODELS, low, high)
    # the zero router itself, and any mix of single models, gains nothing
    mixes = [Point(0.5 * a.cost + 0.5 * b.cost, 0.5 * a.quality + 0.5 * b.quality) for a in MODELS for b in MODELS]
    assert aiq(MODELS + mixes, low, high) == pytest.approx(aiq(MODELS, low, high))


def test_equal_cost_mix_brackets_the_cost_with_hull_models() -> None:
    mix = equal_cost_mix(MODELS, 8.0)
    assert (mix.cheap, mix.dear) == (3, 4)
    assert mix.dear_share == pytest.approx(0.5)
    assert mix.quality == pytest.approx(0.85)
    below, above = equal_cost_mix(MODELS, 0.2), equal_cost_mix(MODELS, 50.0)
    assert (below.cheap, below.dear, below.quality) == (0, 0, 0.5)
    assert (above.cheap, above.dear, above.quality) == (4, 4, 0.9)


def test_oracle_takes_the_cheapest_correct_model_else_the_cheapest() -> None:
    correct = np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    cost = np.array([[3.0, 1.0, 9.0], [1.0, 2.0, 9.0], [5.0, 2.0, 9.0], [1.0, 4.0, 3.0]])
    assert oracle_choice(correct, cost).tolist() == [1, 2, 1, 2]


def test_resample_weights_are_counts_over_prompts() -> None:
    weights = resample_weights(7, 500, seed=3)
    assert weights.shape == (500, 7)
    assert np.allclose(weights.sum(axis=1), 1.0)
    assert np.allclose(weights * 7, np.round(weights * 7))  # whole draws
    assert np.array_equal(weights, resample_weights(7, 500, seed=3))  # reproducible


def test_bootstrap_interval_covers_the_mean_of_a_coin() -> None:
    rng = np.random.default_rng(0)
    outcomes = (rng.random(400) < 0.7).astype(float)
    means = resample_weights(400, 2000, seed=1) @ outcomes
    low, high = interval(means)
    assert low < outcomes.mean() < high
    # the normal approximation: 1.645 standard errors either side
    half = 1.645 * np.sqrt(0.7 * 0.3 / 400)
    assert high - low == pytest.approx(2 * half, rel=0.15)


def test_bootstrap_aiq_of_the_full_sample_is_the_aiq() -> None:
    quality = np.array([[0.5, 0.8, 0.9]])
    cost = np.array([[1.0, 5.0, 11.0]])
    values = bootstrap_aiq(quality, cost, (quality, cost))
    assert values[0] == pytest.approx(aiq([Point(1.0, 0.5), Point(5.0, 0.8), Point(11.0, 0.9)], 1.0, 11.0))


def test_a_task_without_an_estimate_keeps_the_static_model_in_both_choice_rules() -> None:
    """A model the learner gives no estimate for a task (too little similar evidence) is NaN in the bench; serving
    leaves it out and keeps the static choice when the static model has none. The bench used to pick the chain's
    first model instead."""
    from benchmarks._cost_data import GPT4
    from benchmarks._cost_router import Estimates, Setting, sweep

    models = ["cheap", "mid", GPT4]
    success = np.array([[0.9, 0.95, 0.97], [0.9, 0.95, np.nan], [np.nan, np.nan, 0.97], [0.2, 0.95, 0.97]])
    estimates = Estimates(success, np.array([0.001, 0.01, 0.1]))
    settings = [Setting("max_quality_loss", 0.1)]
    for fast in (False, True):
        picked = sweep(estimates, models, [0, 1, 2], fast=fast, settings=settings)[0]
        assert [models[j] for j in picked] == ["cheap", GPT4, GPT4, "mid"], fast
