"""``switch_breaker_open{provider}``: read from the provider's live gateways when collected."""

from __future__ import annotations

import gc

from connectors.gateway import GatewayLoop
from infra.metrics import REGISTRY
from switch.breaker import Breaker


class _Account(GatewayLoop[None]):
    provider = "unit_breaker"


def _gauge() -> float | None:
    return REGISTRY.get_sample_value("switch_breaker_open", {"provider": "unit_breaker"})


def test_the_gauge_is_1_while_any_account_s_breaker_is_open_and_forgets_dropped_ones() -> None:
    first = _Account(None, transport=None, breaker=Breaker(threshold=1))  # type: ignore[arg-type]
    second = _Account(None, transport=None, breaker=Breaker(threshold=1))  # type: ignore[arg-type]
    assert _gauge() == 0.0
    second.breaker.failure(0.0)
    assert _gauge() == 1.0  # one account's circuit open: the provider's gauge says so
    second.breaker.success()
    assert _gauge() == 0.0
    first.breaker.failure(0.0)
    assert _gauge() == 1.0
    del first
    gc.collect()
    assert _gauge() == 0.0  # a gateway gone is not read any more
    assert second.breaker.state == "closed"
