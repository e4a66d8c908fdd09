"""The A/B verdict of a block: does a variant beat the control, on conversion or on CTR?

Method (stated on the report page as :data:`METHOD`): each variant's rate has a
Beta–Binomial posterior with a uniform Beta(1, 1) prior, so after ``s`` successes in ``n``
impressions it is Beta(1 + s, 1 + n − s). ``P(better)`` is the posterior probability that the
variant's rate is above the control's, computed **exactly** with the closed form for two Beta
variables with integer parameters (a finite sum of Beta functions, evaluated in log space;
no sampling, so the same counts always give the same figure). The sum has as many terms as
the smallest of the four parameters (the symmetries P(B > A) = 1 − P(A > B) and
P(B > A) = P(1 − A > 1 − B) choose it); past :data:`EXACT_TERMS` terms (more than 200 000
successes *and* failures on both sides) both posteriors are normal to well under 10⁻³ and the
normal approximation is used instead.

A variant **wins** when ``P(better) ≥ 0.95`` and the relative difference of the posterior
means, ``(variant − control) / control``, is over 5 %; the control wins over a variant the
same way the other way round. Conversion (purchases / impressions) decides first; CTR
(clicks / impressions) only when conversion gives no verdict in either direction.

The control is the block's oldest variant (the lowest variant number): blocks have no other
notion of a control. Counts where successes exceed impressions (a purchase may be credited
without an impression being seen, e.g. through ``Tags.blockId``) are cut to the impressions,
as a Binomial needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import betaln, logsumexp

P_WIN = 0.95
MIN_LIFT = 0.05
EXACT_TERMS = 200_000
METRICS = ("conversion", "ctr")
Metric = Literal["conversion", "ctr"]
Side = Literal["variant", "control"]
METRIC_LABELS = {"conversion": "conversion", "ctr": "CTR"}
METHOD = (
    "Each rate has a Beta–Binomial posterior with a uniform Beta(1, 1) prior; P(better) is the "
    "posterior probability that a variant's rate is above the control's (the oldest variant), "
    "computed exactly, not sampled. A variant wins only when P(better) ≥ 95 % and its "
    "posterior mean is more than 5 % above the control's; conversion (purchases / "
    "impressions) decides first, CTR (clicks / impressions) only when conversion gives no "
    "verdict."
)


@dataclass(frozen=True, slots=True)
class Counts:
    """One variant's figures over the report's period."""

    impressions: int
    clicks: int
    purchases: int

    def successes(self, metric: Metric) -> int:
        found = self.purchases if metric == "conversion" else self.clicks
        return max(0, min(found, self.impressions))

    def posterior(self, metric: Metric) -> tuple[int, int]:
        """(α, β) of the rate's Beta posterior under the uniform prior."""
        wins = self.successes(metric)
        return 1 + wins, 1 + max(self.impressions, 0) - wins


@dataclass(frozen=True, slots=True)
class MetricComparison:
    metric: Metric
    control_mean: float
    variant_mean: float
    p_better: float  # P(variant's rate > control's rate)
    relative_difference: float  # (variant mean − control mean) / control mean
    winner: Side | None
    reason: str  # what decided, or what is missing


@dataclass(frozen=True, slots=True)
class Verdict:
    """One variant against the control."""

    control: str
    variant: str
    winner: Side | None
    decided_by: Metric | None
    conversion: MetricComparison
    ctr: MetricComparison
    summary: str
    missing: str  # what a verdict waits for ("" once there is one)


@dataclass(frozen=True, slots=True)
class BlockVerdict:
    control: str | None
    comparisons: tuple[Verdict, ...]
    winner: str | None  # a variant id, the control's included
    decided_by: Metric | None
    summary: str


def beta_mean(alpha: float, beta: float) -> float:
    return alpha / (alpha + beta)


def _greater_sum(ax: int, bx: int, ay: int, by: int) -> float:
    """P(Y > X) for X ~ Beta(ax, bx), Y ~ Beta(ay, by), ``ay`` a positive integer: the sum
    over i < ay of B(ax + i, bx + by) / ((by + i) B(1 + i, by) B(ax, bx))."""
    i = np.arange(ay, dtype=np.float64)
    logs = betaln(ax + i, bx + by) - np.log(by + i) - betaln(1 + i, by) - float(betaln(ax, bx))
    return float(min(1.0, max(0.0, math.exp(float(logsumexp(logs))))))


def _normal_greater(ax: int, bx: int, ay: int, by: int) -> float:
    def moments(a: int, b: int) -> tuple[float, float]:
        total = a + b
        return a / total, a * b / (total * total * (total + 1))

    mx, vx = moments(ax, bx)
    my, vy = moments(ay, by)
    return 0.5 * math.erfc(-(my - mx) / math.sqrt(2 * (vx + vy)))


def prob_greater(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """P(variant's rate > control's rate) for two Beta posteriors with integer parameters."""
    (aa, ba), (ab, bb) = control, variant
    # Four exact forms, each summing over one parameter: use the one with the fewest terms.
    terms = min(aa, ba, ab, bb)
    if terms > EXACT_TERMS:
        return _normal_greater(aa, ba, ab, bb)
    if terms == ab:
        found = _greater_sum(aa, ba, ab, bb)
    elif terms == aa:
        found = 1.0 - _greater_sum(ab, bb, aa, ba)
    elif terms == ba:
        found = _greater_sum(bb, ab, ba, aa)  # P(1 − control > 1 − variant)
    else:
        found = 1.0 - _greater_sum(ba, aa, bb, ab)
    return min(1.0, max(0.0, found))


def _percent(value: float) -> str:
    return f"{value * 100:+.1f} %"


def shown_p(p: float) -> str:
    """A probability cut (not rounded) to two decimals: 0.949 must not read as 0.95."""
    return f"{math.floor(round(p * 100, 6)) / 100:.2f}"


def compare_metric(metric: Metric, control: Counts, variant: Counts) -> MetricComparison:
    label = METRIC_LABELS[metric]
    post_c, post_v = control.posterior(metric), variant.posterior(metric)
    mean_c, mean_v = beta_mean(*post_c), beta_mean(*post_v)
    p_better = prob_greater(post_c, post_v)
    lift = (mean_v - mean_c) / mean_c
    winner: Side | None = None
    if control.impressions <= 0 or variant.impressions <= 0:
        reason = f"{label}: no impressions yet"
    elif p_better >= P_WIN and lift > MIN_LIFT:
        winner, reason = "variant", f"{label}: P = {shown_p(p_better)}, {_percent(lift)}"
    elif 1 - p_better >= P_WIN and (mean_c - mean_v) / mean_v > MIN_LIFT:
        winner = "control"
        reason = f"{label}: control better, P = {shown_p(1 - p_better)}, {_percent(lift)}"
    elif max(p_better, 1 - p_better) >= P_WIN:
        sure = shown_p(max(p_better, 1 - p_better))
        reason = f"{label}: difference too small: {_percent(lift)} at P = {sure} (needs over 5 %)"
    else:
        reason = f"{label}: needs more data: P = {shown_p(p_better)}"
    return MetricComparison(metric, mean_c, mean_v, p_better, lift, winner, reason)


def compare(control_id: str, control: Counts, variant_id: str, variant: Counts) -> Verdict:
    """One variant against the control: conversion decides, CTR when conversion cannot."""
    conversion = compare_metric("conversion", control, variant)
    ctr = compare_metric("ctr", control, variant)
    decider = conversion if conversion.winner is not None else ctr
    if decider.winner is None:
        if control.impressions <= 0 or variant.impressions <= 0:
            missing = "no impressions yet"
        else:
            missing = f"{conversion.reason}, {ctr.reason}"
        summary = f"no winner yet ({missing})"
        return Verdict(control_id, variant_id, None, None, conversion, ctr, summary, missing)
    name = variant_id if decider.winner == "variant" else control_id
    summary = f"{name} wins on {METRIC_LABELS[decider.metric]} ({decider.reason})"
    return Verdict(
        control_id, variant_id, decider.winner, decider.metric, conversion, ctr, summary, ""
    )


def block_verdict(arms: Sequence[tuple[str, Counts]]) -> BlockVerdict:
    """The verdict of a block whose variants are ``arms``, the control (oldest) first.

    The block has a winner when a variant beats the control (among several, the one decided
    on conversion first, then the highest P(better)), or when the control beats every other
    variant; otherwise "no winner yet" with each comparison's reason."""
    if len(arms) < 2:
        return BlockVerdict(
            arms[0][0] if arms else None, (), None, None, "one variant: nothing to compare"
        )
    control_id, control = arms[0]
    verdicts = tuple(compare(control_id, control, name, counts) for name, counts in arms[1:])
    winners = [v for v in verdicts if v.winner == "variant"]
    if winners:
        best = min(
            winners,
            key=lambda v: (
                METRICS.index(v.decided_by or "ctr"),
                -getattr(v, v.decided_by or "ctr").p_better,
            ),
        )
        return BlockVerdict(control_id, verdicts, best.variant, best.decided_by, best.summary)
    if all(v.winner == "control" for v in verdicts):
        metric: Metric = (
            "conversion" if any(v.decided_by == "conversion" for v in verdicts) else "ctr"
        )
        reasons = "; ".join(
            f"{v.variant}: {getattr(v, v.decided_by or 'ctr').reason}" for v in verdicts
        )
        summary = f"{control_id} (the control) beats every other variant ({reasons})"
        return BlockVerdict(control_id, verdicts, control_id, metric, summary)
    waiting = "; ".join(f"{v.variant}: {v.missing}" for v in verdicts if v.winner is None)
    return BlockVerdict(control_id, verdicts, None, None, f"no winner yet — {waiting}")
