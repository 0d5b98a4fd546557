"""PesaLink (IPSL's instant bank transfers) as the switch sees it: its rail, limits and fee."""

from __future__ import annotations

from connectors.pesalink.settings import PesaLinkSettings
from switch.fees import Fee
from switch.providers import CallbackKind, ProviderSpec, Rail, Sample

KES = 100

PROVIDER = ProviderSpec(
    name="pesalink",
    display_name="PesaLink",
    orders="connectors.pesalink.orders:order_for",
    sandbox="connectors.pesalink.simulator.sandbox:start",
    bench="connectors.pesalink.bench:BENCH",
    gateway="connectors.pesalink.gateway:pesalink_gateway_from",
    callbacks=(
        CallbackKind(
            "pesalink",
            "connectors.pesalink.outcomes:pesalink_callback",
            ("bank_transfer",),
            "PesaLink transfer result",
        ),
    ),
    settings=PesaLinkSettings,
    samples=(
        Sample(
            "68/0150000503",
            "/v1/lookups",
            {"bank": {"bank_code": "68", "account_number": "0150000503"}},
        ),
        Sample(
            "PesaLink to a bank account",
            "/v1/payouts",
            {
                "method": "bank_transfer",
                "amount": "200",
                "bank": {"bank_code": "68", "account_number": "0150000503"},
            },
        ),
        # A Telkom number: no wallet the switch pays, so ``auto`` goes through the directory.
        Sample(
            "PesaLink to a Telkom phone (auto)",
            "/v1/payouts",
            {"method": "auto", "amount": "100", "phone": "0771000504"},
        ),
    ),
    rails=(
        # IPSL's PesaLink FAQs: up to KES 999,999 per transaction; the bank's minimum is KES 10.
        Rail(
            "bank_transfer",
            "pesalink",
            "payout",
            "bank",
            10 * KES,
            999_999 * KES,
            "check",
            "PesaLink bank transfer",
            fee=Fee(fixed=5_000),  # KES 50 a transfer
            # The PesaLink directory links a phone to a bank account, whatever its operator.
            reaches_any_phone=True,
            batch_window=20,  # assumed: no published throttling
        ),
    ),
)
