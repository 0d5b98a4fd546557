"""M-Pesa (Safaricom's Daraja) as the switch sees it: its rails, limits and default fees."""

from __future__ import annotations

from connectors.mpesa.settings import MpesaSettings
from switch.fees import Fee
from switch.providers import (
    AccountSample,
    CallbackKind,
    Destination,
    ProviderSpec,
    Rail,
    Sample,
)

KES = 100
# Daraja's ids of an STK request (what its C2B payments show too).
_STK_REFS = ("merchant_request_id", "checkout_request_id")
_COLLECTION_FEE = Fee(bps=150, max=20_000)  # assumed sandbox default: 1.5 %, at most KES 200
# Payouts learnt by Transaction Status on our id (the sweeper's "b2c/status" and "b2c/timeout").
_INITIATOR_PAYOUTS = ("mpesa_b2c", "mpesa_b2b_paybill", "mpesa_b2b_till", "mpesa_tax")
_B2B = ("mpesa_b2b_paybill", "mpesa_b2b_till", "mpesa_tax")
# Collections nobody is credited for until Transaction Status shows M-Pesa's record of them.
_VERIFIED_COLLECTIONS = ("mpesa_c2b", "mpesa_b2b_express")
_B2B_RAILS: tuple[tuple[str, Destination, str], ...] = (
    ("mpesa_b2b_paybill", "paybill", "M-Pesa B2B to a paybill"),
    ("mpesa_b2b_till", "till", "M-Pesa B2B to a till"),
    ("mpesa_tax", "tax", "M-Pesa tax remittance to KRA"),
)

PROVIDER = ProviderSpec(
    name="mpesa",
    display_name="M-Pesa",
    phone_operators=("safaricom",),
    orders="connectors.mpesa.orders:order_for",
    sandbox="connectors.mpesa.simulator.sandbox:start",
    bench="connectors.mpesa.bench:BENCH",
    gateway="connectors.mpesa.gateway:mpesa_gateway_from",
    account_setting="mpesa_shortcode",
    operations=(
        "ask_status",
        "query",
        "register_c2b",
        "query_balance",
        "generate_qr",
        "product_call",
    ),
    callbacks=tuple(
        CallbackKind(path, f"connectors.mpesa.callbacks:{reader}", methods, summary)
        for path, reader, methods, summary in (
            ("stk", "stk", ("mpesa_stk",), "STK Push result (the CallBackURL of one payment)"),
            ("b2c/result", "b2c_result", ("mpesa_b2c",), "B2C payout result (ResultURL)"),
            (
                "b2c/status",
                "b2c_status",
                _INITIATOR_PAYOUTS,
                "Transaction Status answer about a payout (B2C, B2B or tax)",
            ),
            (
                "b2c/timeout",
                "queue_timeout",
                _INITIATOR_PAYOUTS,
                "B2C request timed out in M-Pesa's queue (QueueTimeOutURL)",
            ),
            (
                "c2b/status",
                "c2b_status",
                _VERIFIED_COLLECTIONS,
                "Transaction Status answer about a received payment (checked before any credit)",
            ),
            (
                "c2b/timeout",
                "queue_timeout",
                _VERIFIED_COLLECTIONS,
                "That status query timed out in M-Pesa's queue (QueueTimeOutURL)",
            ),
            (
                "reversal/result",
                "reversal_result",
                ("mpesa_reversal",),
                "Reversal result (ResultURL)",
            ),
            (
                "reversal/timeout",
                "queue_timeout",
                ("mpesa_reversal",),
                "Reversal timed out in M-Pesa's queue (QueueTimeOutURL)",
            ),
            ("b2b/result", "b2b_result", _B2B, "B2B or tax remittance result (ResultURL)"),
            (
                "b2b-express",
                "b2b_express",
                ("mpesa_b2b_express",),
                "B2B Express Checkout result (callbackUrl; a success is checked before credit)",
            ),
            (
                "b2b/timeout",
                "queue_timeout",
                _B2B,
                "B2B or tax request timed out in M-Pesa's queue (QueueTimeOutURL)",
            ),
        )
    ),
    settings=MpesaSettings,
    # Safaricom's callback source range, as allow-listed by the widely used open-source Daraja
    # SDKs (the addresses 196.201.212.69 ... 196.201.214.208 all lie in it). Unverified:
    # Safaricom's API pages do not publish it; set SWITCH_CALLBACK_ALLOWLIST_MPESA to your own
    # list if it differs. C2B confirmations carry no per-payment token, so outside sandbox mode
    # only this range may call.
    callback_sources="196.201.212.0/22",
    samples=(
        Sample(
            "M-Pesa B2B Express Checkout",
            "/v1/payments",
            {
                "method": "mpesa_b2b_express",
                "amount": "100",
                "till": {"till_number": "500100"},
                "reference": "DEMO",
                "description": "Demo Vendor",
            },
        ),
        Sample(
            "M-Pesa B2C",
            "/v1/payouts",
            {"method": "mpesa_b2c", "amount": "100", "phone": "0712000501"},
        ),
        Sample(
            "M-Pesa B2B to a paybill",
            "/v1/payouts",
            {
                "method": "mpesa_b2b_paybill",
                "amount": "100",
                "paybill": {"business_number": "888880", "account_reference": "INV-DEMO"},
            },
        ),
        Sample(
            "M-Pesa B2B to a till",
            "/v1/payouts",
            {"method": "mpesa_b2b_till", "amount": "100", "till": {"till_number": "500100"}},
        ),
        Sample(
            "M-Pesa tax to KRA",
            "/v1/payouts",
            {"method": "mpesa_tax", "amount": "100", "tax": {"prn": "PRN1234XN"}},
        ),
    ),
    transfer_from=AccountSample("M-Pesa", {"type": "mpesa", "phone": "0712000506"}),
    rails=(
        # Daraja's documentation (M-Pesa Express, B2C): STK 1-250,000; B2C 10-250,000.
        Rail(
            "mpesa_stk",
            "mpesa",
            "collection",
            "phone",
            1 * KES,
            250_000 * KES,
            "stk_query",
            "M-Pesa STK Push",
            fee=_COLLECTION_FEE,
            reversal="mpesa_reversal",
            refs=_STK_REFS,
        ),
        Rail(
            "mpesa_c2b",
            "mpesa",
            "collection",
            "phone",
            1 * KES,
            250_000 * KES,
            # A confirmation credits nobody until Transaction Status shows the receipt.
            "transaction_status",
            "M-Pesa paybill / till (C2B)",
            fee=_COLLECTION_FEE,
            routable=False,  # the customer pays on their own; nothing to initiate
            customer_initiated=True,
            reversal="mpesa_reversal",
            refs=_STK_REFS,
            settle_check="connectors.mpesa.outcomes:c2b_record_mismatch",
        ),
        # B2B Express Checkout (Daraja 3.0 page): a USSD prompt to a till's operator to pay the
        # switch's paybill. The page publishes no limits or tariff: STK's are assumed.
        Rail(
            "mpesa_b2b_express",
            "mpesa",
            "collection",
            "till",
            1 * KES,
            250_000 * KES,
            # Its callback is unsigned: Transaction Status by our RequestRefID settles it.
            "transaction_status",
            "M-Pesa B2B Express Checkout",
            fee=_COLLECTION_FEE,
            routable=False,  # named by the merchant; ``auto`` collects from phones
            settle_check="connectors.mpesa.outcomes:express_record_mismatch",
        ),
        Rail(
            "mpesa_b2c",
            "mpesa",
            "payout",
            "phone",
            10 * KES,
            250_000 * KES,
            "transaction_status",
            "M-Pesa B2C",
            fee=Fee(fixed=1_500),  # KES 15 a payout
            # Assumed: Daraja's documentation does not publish B2C throttling, and the gateway
            # caps its own concurrency; this only keeps batches from queueing thousands at once.
            batch_window=50,
            default_command="BusinessPayment",
        ),
        # B2B (doc §9) and Tax Remittance: Daraja publishes no limits or tariff for them; B2C's
        # 250,000 and KES 15 are assumed (unverified).
        *(
            Rail(
                method,
                "mpesa",
                "payout",
                destination,
                1 * KES,
                250_000 * KES,
                "transaction_status",
                label,
                fee=Fee(fixed=1_500),
                batch_window=50,
            )
            for method, destination, label in _B2B_RAILS
        ),
        Rail(
            "mpesa_reversal",
            "mpesa",
            "reversal",
            "phone",
            1 * KES,
            250_000 * KES,
            "resend",
            "M-Pesa reversal",
            routable=False,
        ),
    ),
)
