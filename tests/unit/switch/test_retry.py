"""Retry timing bounds with a seeded generator."""

from __future__ import annotations

import random

import pytest

from switch.retry import backoff, webhook_delay


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 0.2), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 3.2), (6, 5.0), (20, 5.0)],
)
def test_backoff_within_full_jitter_bounds(attempt: int, ceiling: float) -> None:
    rng = random.Random(42)
    delays = [backoff(attempt, 0.2, 5.0, rng) for _ in range(500)]
    assert all(0.0 <= d <= ceiling for d in delays)
    # Full jitter spreads over the whole range, not only near the ceiling.
    assert min(delays) < ceiling * 0.1
    assert max(delays) > ceiling * 0.9


def test_backoff_is_reproducible_with_a_seed() -> None:
    a = [backoff(3, 0.2, 5.0, random.Random(7)) for _ in range(3)]
    b = [backoff(3, 0.2, 5.0, random.Random(7)) for _ in range(3)]
    assert a == b


@pytest.mark.parametrize(
    ("attempt", "centre"),
    [(0, 2.0), (1, 2.0), (2, 4.0), (3, 8.0), (10, 1024.0), (11, 2048.0), (12, 3600.0)],
)
def test_webhook_delay_within_twenty_percent(attempt: int, centre: float) -> None:
    rng = random.Random(1)
    delays = [webhook_delay(attempt, 2.0, 3600.0, rng) for _ in range(500)]
    assert all(centre * 0.8 <= d <= centre * 1.2 for d in delays)
    assert min(delays) < centre * 0.85
    assert max(delays) > centre * 1.15
