"""Retry timing (pure): exponential backoff with full jitter, so retries from many payments do not
arrive at a provider in step."""

from __future__ import annotations

import random


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt`` (1-based): uniform in [0, min(cap, base*2^(n-1))]."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return float((rng or random).uniform(0, ceiling))


def webhook_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before webhook attempt ``attempt + 1``: doubling, with +-20 % jitter."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return float(ceiling * (rng or random).uniform(0.8, 1.2))
