"""Airtel Money (Airtel Africa's Open API) as the switch sees it: its rails, limits and fees."""

from __future__ import annotations

from connectors.airtel.settings import AirtelSettings
from switch.fees import Fee
from switch.providers import ProviderSpec, Rail, Sample

KES = 100

PROVIDER = ProviderSpec(
    name="airtel",
    display_name="Airtel Money",
    phone_operators=("airtel",),
    orders="connectors.airtel.orders:order_for",
    sandbox="connectors.airtel.simulator.sandbox:start",
    portal_callback="airtel",
    bench="connectors.airtel.bench:BENCH",
    gateway="connectors.airtel.gateway:airtel_gateway_from",
    settings=AirtelSettings,
    samples=(
        # Funds the demo merchant: ``auto`` picks Airtel for an Airtel number.
        Sample(
            "Airtel collection (auto)",
            "/v1/payments",
            {"method": "auto", "amount": "2000", "phone": "0733000500", "reference": "FUND1"},
        ),
        Sample(
            "Airtel Money payout (auto)",
            "/v1/payouts",
            {"method": "auto", "amount": "100", "phone": "0733000502"},
        ),
    ),
    rails=(
        # Airtel's Kenya tariffs: wallet caps as M-Pesa's (CBK tier); the minimum is KES 10 for
        # disbursements (unverified: the portal documents none; we follow M-Pesa's B2C).
        Rail(
            "airtel_ussd",
            "airtel",
            "collection",
            "phone",
            1 * KES,
            250_000 * KES,
            "check",
            "Airtel Money USSD push",
            fee=Fee(bps=150, max=20_000),  # assumed sandbox default: 1.5 %, at most KES 200
        ),
        Rail(
            "airtel_payout",
            "airtel",
            "payout",
            "phone",
            10 * KES,
            250_000 * KES,
            "check",
            "Airtel Money disbursement",
            fee=Fee(fixed=1_500),
            batch_window=20,  # assumed, like M-Pesa's: no published throttling
        ),
    ),
)
