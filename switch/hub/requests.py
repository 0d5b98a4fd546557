"""A bank account as a transfer's source (pure): the debit leg is a request to pay sent to the
payer's bank, a participant of the hub, and the bank pays with an ordinary hub transfer to the
merchant's collection account (switch/hub/collections.py).

The request names the amount, the creditor (the merchant's collection account) and a reference:
the debit leg's own payment id (``pay_s<shard>_<26 characters>``, 33 characters: it fits the
35 an ISO 20022 remittance line takes). The bank puts the reference in the hub transfer's
``note``. Once that transfer is COMMITTED, the switch's payee (api/hub_collections.py) offers it
to the leg: it pays the leg only when :func:`mismatch` finds nothing, that is when the leg is
still waiting, and the amount and the paying bank are the ones requested. Anything else is an
ordinary ``bank_credit`` of the collection account's merchant: money a bank sent is never lost,
and it never pays a leg twice (the leg's receipt is the hub transfer that paid it).

The request itself is a signed JSON notice, ``hub.request_to_pay`` (connectors/hub/gateway.py),
posted to the participant's endpoint like the hub's other notices. Its shape is ours: the
fields follow ISO 20022 pain.013 (creditor payment activation request), whose JSON rendering
no Kenyan scheme publishes. The bank's synchronous answer decides the leg's first step: 2xx
accepted (the customer is asked; the payment follows), 4xx declined (nothing moved).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from switch.money import format_minor
from switch.payments import iso

METHOD = "bank_request"  # the rail (connectors/hub/provider.py)
NOTICE = "hub.request_to_pay"
PREFIX = "pay_"


def reference_of(leg_id: str) -> str:
    """The reference the bank quotes when it pays: the debit leg's id."""
    return leg_id


def leg_of(note: str) -> str | None:
    """The debit leg a hub transfer's note names, or None when it names none."""
    note = note.strip()
    return note if note.startswith(PREFIX) and 8 <= len(note) <= 40 else None


def mismatch(
    leg: dict[str, Any] | None, transfer_id: str, amount_minor: int, payer_bank: str
) -> str | None:
    """Why a committed hub transfer does not pay this debit leg (the leg as the API shows it,
    read from its merchant's shard), or None when it does, also when it paid it already (the
    leg's receipt is that transfer: matched again, nothing more moves)."""
    if leg is None or leg.get("method") != METHOD:
        return "no request to pay has this reference"
    receipt = (leg.get("provider") or {}).get("receipt")
    if leg.get("status") == "succeeded" and receipt == transfer_id:
        return None
    if leg.get("status") not in ("pending", "processing"):
        return f"the request to pay is {leg.get('status')}"
    if format_minor(amount_minor) != leg.get("amount"):
        return f"amount {format_minor(amount_minor)} differs from the {leg.get('amount')} asked"
    requested = str((leg.get("destination") or {}).get("bank_code") or "")
    if not payer_bank or payer_bank != requested:
        return f"paid by bank {payer_bank or '?'}, bank {requested} was asked"
    return None


def notice_data(
    leg_id: str,
    amount_minor: int,
    bank_code: str,
    account_number: str,
    creditor_account: str,
    description: str,
    expires_at: str,
) -> dict[str, Any]:
    """The request to pay as the bank reads it (the amount in shillings as text, like the
    hub's transfers)."""
    return {
        "id": leg_id,
        "object": "request_to_pay",
        "amount": format_minor(amount_minor),
        "currency": "KES",
        "debtor": {"bank_code": bank_code, "account_number": account_number},
        "creditor": {"type": "ACCOUNT", "id": creditor_account},
        "reference": reference_of(leg_id),
        "description": description,
        "expires_at": expires_at,
    }


def expiry_of(created_at: datetime, expire_after: float) -> str:
    """When the switch stops waiting for the payment (the leg expires: the transfer fails)."""
    return iso(created_at + timedelta(seconds=expire_after))
