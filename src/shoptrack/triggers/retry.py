"""When to try a delivery again: exponential backoff with jitter, for up to 24 hours.

Attempt 1 is the first send. After a failed attempt ``n`` the next one waits
``min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (n - 1))`` seconds, of which a random part (up to
``JITTER``, 20 %) is taken off, so messages that failed together (a receiver that was down)
do not all come back in the same second. Without jitter the waits are 1, 2, 4 … 128 minutes,
then 4 hours each; once ``RETRY_HORIZON_S`` (24 h) has passed since the first attempt there is
no next attempt (the engine marks the message failed). That is about 13 attempts (12 to 15,
with the jitter) for a receiver that never answers.
"""

from __future__ import annotations

import random

BASE_DELAY_S = 60.0
MAX_DELAY_S = 4 * 3600.0
JITTER = 0.2
RETRY_HORIZON_S = 24 * 3600.0


def backoff_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 = the first send)."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    full = min(MAX_DELAY_S, BASE_DELAY_S * 2.0 ** min(attempt - 1, 32))
    return full * (1.0 - JITTER * (rng or random).random())


def next_attempt_delay(
    attempt: int, elapsed_s: float = 0.0, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after failed ``attempt``; None when it is time to stop.

    ``elapsed_s``: seconds since the message's first attempt. The next attempt is given only
    when it would still start within ``RETRY_HORIZON_S`` of the first.
    """
    delay = backoff_delay(attempt, rng)
    if elapsed_s + delay > RETRY_HORIZON_S:
        return None
    return delay
