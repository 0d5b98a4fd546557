"""Invoices and government payment references in the bench's ``mixed`` scenario (pure and
standard-library only: the locust process imports it, see ``bench/locustfile.py``).

Neither is a payment the merchant starts: the merchant issues a bill through the API (``POST
/v1/invoices``, ``POST /v1/gov/references``) and the customer pays it by C2B at the Daraja
simulator (``POST /__sim/c2b/pay``, the control route the integration tests use, which plays
validation and confirmation and answers with the finished record). The switch then believes the
confirmation only once the receipt checks out against M-Pesa's own record, and credits the bill.

Set-up, once per bench merchant before the load (bench/mixed.py ``set_up_bills``): its invoice
paybill claimed for the account prefix :data:`INVOICE_PREFIX` and opted in to Bill Manager; its
government paybill claimed whole and registered as an agency's (every bench merchant of the mixed
scenario is created with kind ``government``, as ``merchant create --kind government`` does).

Each bill gets a fresh account reference (invoice) or PRN (reference), so the Daraja simulator's
own C2B record (``GET /__sim/c2b``) must show exactly one completed payment per account reference.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final

from bench.mixspec import Destinations

INVOICE: Final = "invoice"  # the operation (and kind) that issues an invoice
GOV_REFERENCE: Final = "gov_reference"  # the operation (and kind) that issues a payment reference
BILL_KINDS = frozenset({INVOICE, GOV_REFERENCE})
C2B_PAY = "c2b_pay"  # the record of the customer's C2B payment of a bill (not a create)
INVOICE_AMOUNT = "250"
GOV_AMOUNT = "300"
INVOICE_PREFIX = "BINV"  # the invoice paybill's accounts the bench merchant claims
DUE_DAYS = 10
EXPIRES = "2099-12-31T21:00:00Z"  # a reference the run never sees expire


def invoice_shortcode(merchant: int) -> str:
    """Bench merchant ``merchant``'s invoice paybill (fresh: every run starts a new stack)."""
    return f"71{merchant:04d}"


def gov_shortcode(merchant: int) -> str:
    """Bench merchant ``merchant``'s government collection paybill."""
    return f"81{merchant:04d}"


def shortcode_of(kind: str, merchant: int) -> str:
    return invoice_shortcode(merchant) if kind == INVOICE else gov_shortcode(merchant)


def c2b_order(kind: str, merchant: int, account: str, amount: str, phone: str) -> dict[str, Any]:
    """The body of the simulator's ``POST /__sim/c2b/pay``: the customer pays the bill."""
    return {
        "shortcode": shortcode_of(kind, merchant),
        "amount": int(amount),
        "msisdn": "254" + phone[-9:],
        "bill_ref": account,
        "command_id": "CustomerPayBillOnline",
    }


def invoice_build(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
    """An invoice on a fresh account reference of the claimed prefix, due in ``DUE_DAYS``."""
    account = INVOICE_PREFIX + dest.subscriber()
    body = {
        "external_reference": ref,
        "account_reference": account,
        "amount": INVOICE_AMOUNT,
        "due_date": (date.today() + timedelta(days=DUE_DAYS)).isoformat(),
        "customer_name": "Wanjiku Kamau",
        "phone": dest.phone("071"),
        "period": "December 2026",
        "name": "Water",
    }
    return body, account


def gov_build(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
    """A reference on a fresh PRN, to be paid whole (the paybill's policy ``none``)."""
    prn = "PRN" + dest.subscriber()
    body = {
        "prn": prn,
        "revenue_head": "Land rates",
        "amount": GOV_AMOUNT,
        "expires_at": EXPIRES,
        "payer": {"name": "Achieng Otieno", "phone": dest.phone("071")},
    }
    return body, prn


def payer_phone(body: dict[str, Any]) -> str:
    """The phone the customer pays a bill from: the invoice's, or the reference's payer's."""
    return str(body.get("phone") or (body.get("payer") or {}).get("phone") or "")
