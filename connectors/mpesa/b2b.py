"""Daraja B2B (BusinessPayBill, BusinessBuyGoods; doc §9) and Tax Remittance to KRA (PayTaxToKRA,
``/mpesa/b2b/v1/remittax``). Pure: the order checks, the request bodies, the Result table and its
reading.

Both are initiator APIs: the same SecurityCredential, acknowledgement and ``Result`` envelope as
B2C (:mod:`connectors.mpesa.initiator`, :mod:`connectors.mpesa.results`), and the same recovery:
a lost Result is learnt by Transaction Status on our OriginatorConversationID.

Unverified (Daraja's B2B pages do not say): whether ``/mpesa/b2b/v1/paymentrequest`` and
``remittax`` take a caller's ``OriginatorConversationID`` and refuse a second copy as B2C v3 does.
We send ours (the payout id) anyway; the acknowledgement is accepted whatever id it names, so a
gateway that assigns its own still works (then only the Result, not Transaction Status by our
id, settles the payout).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from connectors.common import text as _text
from connectors.mpesa.results import (
    _GENERIC_RESULTS,
    InitiatorResult,
    _ids,
    _outcome,
    cents,
    completed_time,
    parse_result,
)
from connectors.mpesa.transformers import Outcome

B2B_PATH = "/mpesa/b2b/v1/paymentrequest"
TAX_PATH = "/mpesa/b2b/v1/remittax"
B2bCommand = Literal["BusinessPayBill", "BusinessBuyGoods", "PayTaxToKRA"]
# KRA's collection shortcode, the only PartyB Tax Remittance takes (Daraja's Tax Remittance page).
KRA_SHORTCODE = "572572"
# Per transaction. Unverified: Daraja's B2B pages publish no limits; B2C's 250,000 is assumed.
B2B_MAX_AMOUNT = 250_000
_SHORTCODE = re.compile(r"^\d{5,7}$")
# BusinessPayBill's AccountReference: up to 13 characters (doc §9).
_ACCOUNT_REFERENCE = re.compile(r"^[A-Za-z0-9 _.-]{1,13}$")
# A KRA Payment Registration Number. Unverified: KRA publishes no format; the Daraja sample is
# "PRN1234XN" and eSlips show long digit strings, so letters and digits, 6 to 20, are accepted.
PRN = re.compile(r"^[A-Z0-9]{6,20}$")


def prn_problem(prn: str) -> str | None:
    """Why this is not a PRN the switch will send (format unverified, see :data:`PRN`)."""
    if not PRN.match(prn):
        return "a KRA PRN is 6 to 20 capital letters or digits (format unverified)"
    return None


@dataclass(frozen=True, slots=True)
class B2bOrder:
    """A business payment to a paybill or a till, or tax to KRA. ``party_b`` is the paybill,
    till or KRA's shortcode; ``account_reference`` the paybill account or the PRN."""

    originator_conversation_id: str
    command_id: B2bCommand
    amount: int  # whole shillings
    party_b: str
    account_reference: str
    remarks: str
    result_url: str
    queue_timeout_url: str
    occasion: str = ""

    def __post_init__(self) -> None:
        if not self.originator_conversation_id.strip():
            raise ValueError("originator_conversation_id must not be empty")
        if isinstance(self.amount, bool) or not 1 <= self.amount <= B2B_MAX_AMOUNT:
            raise ValueError(f"amount must be 1 to {B2B_MAX_AMOUNT:,} shillings")
        if not _SHORTCODE.match(self.party_b):
            raise ValueError("party_b must be a shortcode of 5 to 7 digits")
        if self.command_id == "PayTaxToKRA":
            if self.party_b != KRA_SHORTCODE:
                raise ValueError(f"tax is paid to KRA's shortcode {KRA_SHORTCODE} only")
            problem = prn_problem(self.account_reference)
            if problem:
                raise ValueError(f"account_reference: {problem}")
        elif self.command_id == "BusinessPayBill":
            if not _ACCOUNT_REFERENCE.match(self.account_reference):
                raise ValueError("account_reference must be 1 to 13 letters, digits or ' _.-'")
        elif self.account_reference:
            raise ValueError("a till payment takes no account_reference")
        if not 2 <= len(self.remarks) <= 100:
            raise ValueError("remarks must be 2 to 100 characters")

    @property
    def path(self) -> str:
        return TAX_PATH if self.command_id == "PayTaxToKRA" else B2B_PATH


def b2b_payload(order: B2bOrder, initiator: dict[str, str], party_a: str) -> dict[str, Any]:
    """The request body, in the order of doc §9's sample (Tax Remittance's is the same minus
    Requester and Occassion)."""
    payload: dict[str, Any] = {
        **initiator,
        "CommandID": order.command_id,
        "SenderIdentifierType": "4",
        # Till numbers are identifier type 2 (doc §7); Daraja's BuyGoods sample still sends "4".
        "RecieverIdentifierType": "4",  # sic, "ie" (doc §1)
        "Amount": order.amount,
        "PartyA": party_a,
        "PartyB": order.party_b,
        "AccountReference": order.account_reference,
        "Remarks": order.remarks,
        "QueueTimeOutURL": order.queue_timeout_url,
        "ResultURL": order.result_url,
        "OriginatorConversationID": order.originator_conversation_id,  # unverified, see above
    }
    if order.command_id != "PayTaxToKRA":
        payload["Occassion"] = order.occasion  # double "s" (doc §1)
    return payload


# doc §9 lists no B2B-specific codes: the generic initiator ones plus those seen for B2C and in the
# Tax Remittance captures (2001, 8006). Unlisted codes stay pending: Transaction Status decides.
B2B_RESULTS: dict[str, tuple[Outcome, str]] = {
    **_GENERIC_RESULTS,
    "0": ("succeeded", "Paid: the money is in the receiving business's account."),
    "1": ("failed", "The paying account has too little money for this payment."),
    "2": ("failed", "The amount is below the minimum for this payment."),
    "3": ("failed", "The amount is above the maximum for this payment."),
    "11": ("failed", "The paying shortcode (debit party) is in a state that forbids payments."),
    "2006": ("failed", "The account status does not allow this payment."),
    "2028": ("failed", "The shortcode is not set up for this payment (product assignment)."),
}


@dataclass(frozen=True, slots=True)
class B2bResult:
    originator_conversation_id: str
    conversation_id: str
    result_code: str
    result_desc: str
    outcome: Outcome
    message: str
    receipt: str | None  # only when paid
    amount_cents: int | None
    receiver_name: str | None  # "000000 - Tax Collecting Company"
    bill_reference: str | None  # BillReferenceNumber: the account reference or PRN echoed
    completed_at: datetime | None


def b2b_result(result: InitiatorResult) -> B2bResult:
    outcome, message = _outcome(B2B_RESULTS, result, "B2B")
    p = result.parameters
    return B2bResult(
        *_ids(result),
        outcome,
        message,
        # On failures TransactionID is a placeholder (doc §7): never report it as a receipt.
        receipt=(result.transaction_id or None) if outcome == "succeeded" else None,
        amount_cents=cents(p.get("Amount")),
        receiver_name=_text(p.get("ReceiverPartyPublicName")) or None,
        bill_reference=_text(result.reference_items.get("BillReferenceNumber")) or None,
        completed_at=completed_time(p.get("TransCompletedTime")),
    )


def parse_b2b_result(body: bytes) -> B2bResult:
    return b2b_result(parse_result(body))
