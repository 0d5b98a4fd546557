"""The hub as the switch's books see it: one rail, ``bank_credit``, a bank participant's hub
transfer to a merchant's collection account at the switch, credited once the hub transfer is
COMMITTED (api/hub_collections.py). Nothing is sent on it (no gateway): the hub is the switch's
own, so the committed hub transfer is the provider's record."""

from __future__ import annotations

from switch.fees import Fee
from switch.providers import ProviderSpec, Rail

KES = 100

PROVIDER = ProviderSpec(
    name="hub",
    display_name="the interoperability hub",
    rails=(
        Rail(
            "bank_credit",
            "hub",
            "collection",
            "bank",
            1 * KES,
            # No per-transaction cap of the rail's own: the payer's position (cap and liquidity)
            # limits a hub transfer; high values settle gross (SWITCH_HUB_GROSS_FROM).
            10_000_000_000 * KES,
            "none",  # recorded already final: nothing to recover
            "Bank credit through the hub",
            # An assumed sandbox default, as for M-Pesa C2B: 1 %, at most KES 200.
            fee=Fee(bps=100, max=20_000),
            routable=False,  # the payer's bank sends it; nothing to initiate
            refs=(),  # the hub transfer id is the receipt
        ),
    ),
)
