"""The retry schedule the engine uses: exponential, jittered, at most 24 hours."""

from __future__ import annotations

import random

import pytest

from shoptrack.triggers.retry import (
    BASE_DELAY_S,
    JITTER,
    MAX_DELAY_S,
    RETRY_HORIZON_S,
    backoff_delay,
    next_attempt_delay,
)


def test_delays_double_up_to_the_cap_with_at_most_the_jitter_taken_off() -> None:
    rng = random.Random(7)
    for attempt in range(1, 40):
        full = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempt - 1))
        delay = backoff_delay(attempt, rng)
        assert full * (1 - JITTER) <= delay <= full
    with pytest.raises(ValueError):
        backoff_delay(0)


def test_jitter_spreads_messages_that_failed_together() -> None:
    rng = random.Random(1)
    assert len({round(backoff_delay(3, rng), 3) for _ in range(50)}) > 40


def test_retries_stop_once_the_next_attempt_would_be_past_24_hours() -> None:
    for seed in range(20):
        rng = random.Random(seed)
        attempt, elapsed = 1, 0.0
        while (delay := next_attempt_delay(attempt, elapsed, rng)) is not None:
            elapsed += delay
            attempt += 1
        assert elapsed <= RETRY_HORIZON_S
        assert elapsed > RETRY_HORIZON_S - MAX_DELAY_S  # it used most of the day
        assert 12 <= attempt <= 15
