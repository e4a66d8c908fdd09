"""The A/B verdict: exact posterior probabilities and the decision rule, on known cases."""

from __future__ import annotations

import numpy as np
import pytest

from shoptrack.reports.verdict import (
    EXACT_TERMS,
    Counts,
    block_verdict,
    compare,
    prob_greater,
    shown_p,
)

# (control α, β), (variant α, β): small, skewed, large and reversed posteriors.
CASES = [
    ((1, 1), (1, 1)),
    ((11, 91), (21, 81)),
    ((3, 1000), (9, 994)),
    ((501, 9501), (561, 9441)),
    ((40, 20), (35, 30)),
    ((2, 5), (5, 2)),
]


@pytest.mark.parametrize(("control", "variant"), CASES)
def test_exact_probability_matches_a_fixed_seed_monte_carlo(control, variant) -> None:
    rng = np.random.default_rng(15)
    draws = 1_000_000
    sampled = float((rng.beta(*variant, draws) > rng.beta(*control, draws)).mean())
    # 1e6 draws: standard error at most 0.0005.
    assert prob_greater(control, variant) == pytest.approx(sampled, abs=0.002)


@pytest.mark.parametrize(("control", "variant"), CASES)
def test_probabilities_of_the_two_directions_add_up_to_one(control, variant) -> None:
    assert prob_greater(control, variant) + prob_greater(variant, control) == pytest.approx(1.0)


def test_known_closed_form_values() -> None:
    assert prob_greater((1, 1), (1, 1)) == pytest.approx(0.5)
    # Beta(2,1) vs uniform: P(max of two uniforms > a third uniform) = 2/3.
    assert prob_greater((1, 1), (2, 1)) == pytest.approx(2 / 3)


def test_huge_counts_use_the_normal_form_and_agree_with_the_exact_sum() -> None:
    below = (EXACT_TERMS - 1000, 10**7)
    near = (EXACT_TERMS - 1000 + 500, 10**7 - 500)
    above = (EXACT_TERMS + 1000, 10**7)
    above_near = (EXACT_TERMS + 1500, 10**7 - 500)
    exact = prob_greater(below, near)
    approximated = prob_greater(above, above_near)
    assert 0.7 < exact < 0.9
    assert approximated == pytest.approx(exact, abs=0.01)


def test_equal_rates_have_no_winner() -> None:
    same = Counts(impressions=2000, clicks=100, purchases=20)
    verdict = compare("r1v1", same, "r1v2", same)
    assert verdict.winner is None
    assert verdict.conversion.p_better == pytest.approx(0.5)
    assert verdict.conversion.relative_difference == 0
    assert "needs more data: P = 0.50" in verdict.summary
    assert verdict.summary.startswith("no winner yet")


def test_a_clear_winner_on_conversion() -> None:
    verdict = compare("r1v1", Counts(1000, 50, 10), "r1v2", Counts(1000, 80, 30))
    assert verdict.winner == "variant"
    assert verdict.decided_by == "conversion"
    assert verdict.conversion.p_better > 0.99
    assert verdict.summary.startswith("r1v2 wins on conversion")


def test_sure_but_small_difference_is_no_winner() -> None:
    # 10.0 % vs 10.3 % conversion on 60 000 impressions each: P ≈ 0.96, +3 %.
    control, variant = Counts(60_000, 3000, 6000), Counts(60_000, 3000, 6180)
    verdict = compare("r1v1", control, "r1v2", variant)
    assert 0.95 <= verdict.conversion.p_better < 0.97
    assert verdict.conversion.relative_difference == pytest.approx(0.03, abs=0.001)
    assert verdict.winner is None
    assert "difference too small: +3.0 %" in verdict.conversion.reason


def test_large_but_uncertain_difference_needs_more_data() -> None:
    verdict = compare("r1v1", Counts(100, 10, 2), "r1v2", Counts(100, 12, 4))
    assert verdict.winner is None
    assert verdict.conversion.relative_difference > 0.05
    assert verdict.conversion.p_better < 0.95
    assert f"needs more data: P = {shown_p(verdict.conversion.p_better)}" in verdict.summary


def test_conversion_decides_over_ctr() -> None:
    # The variant is clicked far more but sells far less: conversion says the control.
    control, variant = Counts(5000, 200, 100), Counts(5000, 400, 40)
    verdict = compare("r1v1", control, "r1v2", variant)
    assert verdict.ctr.winner == "variant"
    assert verdict.conversion.winner == "control"
    assert (verdict.winner, verdict.decided_by) == ("control", "conversion")
    assert verdict.summary.startswith("r1v1 wins on conversion")


def test_ctr_decides_when_conversion_cannot() -> None:
    control, variant = Counts(5000, 200, 5), Counts(5000, 400, 6)
    verdict = compare("r1v1", control, "r1v2", variant)
    assert verdict.conversion.winner is None
    assert (verdict.winner, verdict.decided_by) == ("variant", "ctr")
    assert verdict.summary.startswith("r1v2 wins on CTR")


def test_no_impressions_say_so() -> None:
    verdict = compare("r1v1", Counts(0, 0, 0), "r1v2", Counts(100, 10, 1))
    assert verdict.winner is None
    assert "no impressions yet" in verdict.summary


def test_successes_above_impressions_are_cut_to_them() -> None:
    assert Counts(10, 3, 25).posterior("conversion") == (11, 1)


def test_block_verdict_picks_the_winning_variant_against_the_oldest() -> None:
    arms = [
        ("r1v1", Counts(1000, 50, 10)),
        ("r1v2", Counts(1000, 52, 11)),
        ("r1v3", Counts(1000, 90, 35)),
    ]
    verdict = block_verdict(arms)
    assert verdict.control == "r1v1"
    assert [c.variant for c in verdict.comparisons] == ["r1v2", "r1v3"]
    assert (verdict.winner, verdict.decided_by) == ("r1v3", "conversion")


def test_block_verdict_without_winner_names_what_is_missing() -> None:
    verdict = block_verdict([("r1v1", Counts(100, 5, 1)), ("r1v2", Counts(100, 6, 2))])
    assert verdict.winner is None
    assert verdict.summary.startswith("no winner yet — r1v2: conversion: needs more data: P = ")
    assert "needs more data: P = " in verdict.summary


def test_block_verdict_when_the_control_beats_every_variant() -> None:
    verdict = block_verdict([("r1v1", Counts(1000, 90, 35)), ("r1v2", Counts(1000, 50, 10))])
    assert verdict.winner == "r1v1"
    assert verdict.summary.startswith("r1v1 (the control) beats every other variant (r1v2: ")
    assert "conversion: control better, P = 0.99" in verdict.summary


def test_block_with_one_variant_has_nothing_to_compare() -> None:
    verdict = block_verdict([("r1v1", Counts(1000, 90, 35))])
    assert (verdict.winner, verdict.comparisons) == (None, ())
