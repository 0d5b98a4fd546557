"""Merchants' collection accounts at the switch (pure): virtual account numbers under the
switch's own bank code, to which a bank participant pays a merchant through the hub.

A merchant asks for one (api/hub_collections.py); its number is ``<switch bank code>:<10
digits>``, the last a Luhn check digit so a mistyped number is refused before it is looked up
(our choice: Kenyan banks' own account formats are not public). It is in the hub's directory as
held by the switch's participant, so a bank finds it by a party look-up and sends an ordinary hub
transfer. The switch, as the payee, accepts the transfer when the account is active and only
once the hub transfer is COMMITTED credits the merchant: a ``bank_credit`` collection whose
idempotency key comes from the hub transfer id, so a transfer driven twice credits once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switch.messages import HubCreditIn
from switch.payments import Payment, ProviderRefs, apply, iso, new_payment
from switch.states import Event

METHOD = "bank_credit"  # the rail (connectors/hub/provider.py)
DIGITS = 10
ACTIVE, CLOSED = "active", "closed"
CURRENCY = "KES"


def luhn_digit(body: str) -> str:
    """The Luhn check digit of a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def account_number(random_digits: int) -> str:
    """A 10-digit number from a random number below 10**9 (nine digits and a check digit)."""
    if not 0 <= random_digits < 10 ** (DIGITS - 1):
        raise ValueError("nine random digits")
    body = f"{random_digits:0{DIGITS - 1}d}"
    return body + luhn_digit(body)


def number_ok(number: str) -> bool:
    return len(number) == DIGITS and number.isdigit() and luhn_digit(number[:-1]) == number[-1]


def account_id(bank_code: str, number: str) -> str:
    """How the hub's directory and parties name it: ``<bank code>:<number>``."""
    return f"{bank_code}:{number}"


def is_collection_account(party: dict[str, Any], switch_bank_code: str) -> bool:
    """An ACCOUNT party under the switch's own bank code: a collection account's number."""
    if not switch_bank_code or party.get("type") != "ACCOUNT":
        return False
    code, _, _number = str(party.get("id", "")).partition(":")
    return code == switch_bank_code


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the switch, as payee, does not take a transfer to an account: the hub's reason
    (switch/iso20022/codes.py maps it: ``payee_account_unknown`` AC01, ``..._closed`` AC04,
    ``currency_not_allowed`` AM03) and words for the payer."""

    reason: str
    message: str


def refusal(account: dict[str, Any] | None, number: str, currency: str) -> Refusal | None:
    """None when a transfer to ``number`` may be accepted: the account exists, is active and
    takes the transfer's currency."""
    if not number_ok(number) or account is None:
        return Refusal("payee_account_unknown", "no collection account has this number")
    if account.get("status") != ACTIVE:
        return Refusal("payee_account_closed", "the collection account is closed")
    if currency != account.get("currency", CURRENCY):
        return Refusal("currency_not_allowed", f"the account takes {account.get('currency')}")
    return None


def credit_key(transfer_id: str) -> str:
    """The credit's (unscoped) idempotency key: one hub transfer, one credit, ever."""
    return f"hub-credit:{transfer_id}"


def credit_of(
    transfer: dict[str, Any], account: dict[str, Any], payer: dict[str, Any]
) -> HubCreditIn:
    """The credit a COMMITTED hub transfer to ``account`` makes (ValueError otherwise): read from
    the hub's stored transfer, the participant that paid, and the account."""
    if transfer.get("state") != "committed":
        raise ValueError(f"hub transfer {transfer.get('_id')} is {transfer.get('state')}")
    steps = transfer.get("history") or [{}]
    at = steps[-1].get("at") or transfer.get("created_at")
    return HubCreditIn(
        merchant_id=str(account["merchant_id"]),
        transfer_id=str(transfer["_id"]),
        amount_minor=int(transfer["amount"]),
        account=str(account["_id"]),
        payer={
            "participant": str(payer.get("_id", "")),
            "name": str(payer.get("name", "")),
            "bank_code": str(payer.get("bank_code", "")),
        },
        reference=str(transfer.get("note") or "")[:35],
        committed_at=iso(at) if isinstance(at, datetime) else str(at or ""),
    )


def credited_payment(
    item: HubCreditIn, payment_id: str, key: str, fee: int, at: datetime
) -> Payment:
    """The merchant's ``bank_credit`` collection, succeeded: the committed hub transfer is the
    provider's own record, so there is nothing to wait for. Written with its journal entry
    (switch/postings.py: the hub's float against the merchant's balance, less the fee)."""
    bank = item.payer.get("bank_code") or item.payer.get("participant", "")
    made = new_payment(
        payment_id=payment_id,
        merchant_id=item.merchant_id,
        method=METHOD,
        amount_minor=item.amount_minor,
        phone="",
        reference=item.reference or item.transfer_id[-12:],
        description=f"Bank credit from {item.payer.get('name') or bank} through the hub",
        metadata={
            "hub_transfer": item.transfer_id,
            "collection_account": item.account,
            "payer_bank": dict(item.payer),
        },
        idem_key=key,
        request_hash="hub-credit",
        at=at,
        fee_minor=fee,
        destination={"bank_code": item.payer.get("bank_code", "")} if bank else {},
    )
    refs = ProviderRefs(receipt=item.transfer_id, transaction_date=item.committed_at)
    paid = apply(made, Event.SUCCEED, source="hub", at=at, provider=refs)
    assert paid is not None  # submitting -> succeeded: one status change, one webhook
    return paid


def account_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A collection account as its merchant sees it."""
    code, _, number = str(doc["_id"]).partition(":")
    return {
        "object": "collection_account",
        "id": doc["_id"],
        "bank_code": code,
        "account_number": number,
        "party": {"type": "ACCOUNT", "id": doc["_id"]},
        "currency": doc.get("currency", CURRENCY),
        "status": doc["status"],
        "created_at": iso(doc["created_at"]),
    }
