"""SACCO member accounts (a SACCO's core API, or CSV files) as the switch sees them."""

from __future__ import annotations

from connectors.sacco.settings import SaccoSettings
from switch.fees import Fee
from switch.providers import AccountSample, ProviderSpec, Rail, Sample

KES = 100

PROVIDER = ProviderSpec(
    name="sacco",
    display_name="the SACCO",
    orders="connectors.sacco.orders:order_for",
    sandbox="connectors.sacco.simulator.sandbox:start",
    bench="connectors.sacco.bench:BENCH",
    gateway="connectors.sacco.gateway:sacco_gateway_from",
    settings=SaccoSettings,
    samples=(
        Sample(
            "SACCO deposit (API SACCO)",
            "/v1/payouts",
            {
                "method": "sacco",
                "amount": "100",
                "sacco": {"sacco_code": "STIMA", "member_number": "10001", "purpose": "deposit"},
            },
        ),
        Sample(
            "SACCO loan disbursement (file SACCO)",
            "/v1/payouts",
            {
                "method": "sacco",
                "amount": "100",
                "sacco": {
                    "sacco_code": "WAUMINI",
                    "member_number": "20001",
                    "purpose": "loan_disbursement",
                },
            },
        ),
    ),
    transfer_to=AccountSample(
        "SACCO", {"type": "sacco", "sacco_code": "STIMA", "member_number": "10002"}
    ),
    demo_settings={"sacco_flush_interval": 0.5},  # the file SACCO's outbox, flushed often
    rails=(
        # SACCO member accounts: no published cap; the switch uses PesaLink's (our choice).
        Rail(
            "sacco",
            "sacco",
            "payout",
            "sacco",
            1 * KES,
            999_999 * KES,
            "check",
            "SACCO member account",
            fee=Fee(fixed=1_000),
            batch_window=10,  # a SACCO core is a small system (our choice)
        ),
        # A member's paybill payment (already in the SACCO's balance) posted to the member's
        # account in the SACCO's core system: no money moves on the switch's books.
        Rail(
            "sacco_posting",
            "sacco",
            "posting",
            "sacco",
            1 * KES,
            999_999 * KES,
            "check",
            "SACCO core posting",
            routable=False,
        ),
        # The source leg of a transfer out of a SACCO member account (a debit by the SACCO).
        # Free: a transfer's money only passes through.
        Rail(
            "sacco_withdrawal",
            "sacco",
            "collection",
            "sacco",
            1 * KES,
            999_999 * KES,
            "check",
            "SACCO member account debit",
        ),
    ),
)
