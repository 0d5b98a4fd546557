"""The hub as the switch's books see it, two rails:

- ``bank_credit``: a bank participant's hub transfer to a merchant's collection account at the
  switch, credited once the hub transfer is COMMITTED (api/hub_collections.py). Nothing is sent
  on it: the hub is the switch's own, so the committed hub transfer is the provider's record;
- ``bank_request``: the debit leg of a transfer whose source is a bank account at a hub
  participant (switch/hub/requests.py): a request to pay sent to the bank (connectors/hub/
  gateway.py), paid by the bank's hub transfer to the merchant's collection account quoting it.
"""

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
        Rail(
            "bank_request",
            "hub",
            "collection",
            "bank",
            1 * KES,
            # The refund leg (a PesaLink payout back) caps a transfer lower than this.
            10_000_000_000 * KES,
            "none",  # only the bank's payment settles it; unpaid, it expires by the clock
            "Request to pay through the hub",
            fee=None,  # a transfer's leg: free
            routable=False,  # only a transfer's debit leg (switch/transfers.py) makes one
            refs=(),  # the paying hub transfer's id is the receipt
        ),
    ),
    orders="connectors.hub.orders:order_for",
    gateway="connectors.hub.gateway:hub_gateway_from",
)
