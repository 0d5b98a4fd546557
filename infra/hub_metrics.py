"""The hub's Prometheus metrics, on the switch's registry (:mod:`infra.metrics`): the position
actor sets them after each batch, and the api's ``/metrics`` merges them in."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from infra.metrics import REGISTRY

POSITION_USED = Gauge(
    "switch_hub_position_used_ratio",
    "A participant's effective position as a share of min(net debit cap, liquidity cover)",
    ["participant"],
    registry=REGISTRY,
)
POSITION_ALARM = Gauge(
    "switch_hub_position_alarm",
    "1 while a participant's position is at or above its alarm threshold",
    ["participant"],
    registry=REGISTRY,
)
TRANSFERS = Counter(
    "switch_hub_transfers",
    "Hub transfer state changes by state",
    ["state"],
    registry=REGISTRY,
)
