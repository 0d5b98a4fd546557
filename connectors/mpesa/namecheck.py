"""M-Pesa customer name query: the name M-Pesa holds for a phone, before a payout. Pure.

Daraja publishes no name look-up: a B2C result names the recipient (``ReceiverPartyPublicName``,
doc §8) only once the money has moved. Safaricom offers the look-up to partners under contract
(banks show the M-Pesa name before a bank-to-wallet transfer); its wire format is not public, so
this shape is **unverified**, ours, written in Daraja's conventions: ``POST
/mpesa/customername/v1/query`` with a Bearer token, body ``{"MSISDN": "2547XXXXXXXX",
"OriginatorConversationID": "..."}``; the answer ``{"ResponseCode": "0", "ResponseDescription":
"...", "CustomerName": "JANE WANJIKU DOE"}``, or ``ResponseCode`` ``"1"`` when the number is not an
M-Pesa customer (as B2C's 2040 / SFC_IC0003 say after the fact), or a gateway error envelope.
The switch sends it through the M-Pesa gateway's product call, which retries only what provably
never left (a look-up moves no money, so a repeat is harmless anyway).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

import orjson

PATH = "/mpesa/customername/v1/query"
Verdict = Literal["found", "not_customer", "failed"]


def request_body(msisdn: str) -> dict[str, str]:
    return {"MSISDN": msisdn, "OriginatorConversationID": str(uuid.uuid4())}


@dataclass(frozen=True, slots=True)
class NameAnswer:
    verdict: Verdict
    name: str = ""
    message: str = ""


def parse_answer(status: int, body: bytes) -> NameAnswer:
    """The answer of one query: a name, "not a customer", or why it failed."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return NameAnswer("failed", message=f"HTTP {status}: not JSON")
    if not isinstance(doc, dict):
        return NameAnswer("failed", message=f"HTTP {status}: not a JSON object")
    code = str(doc.get("ResponseCode", ""))
    text = str(doc.get("ResponseDescription") or doc.get("errorMessage") or "")
    name = doc.get("CustomerName")
    if status == 200 and code == "0" and isinstance(name, str) and name.strip():
        return NameAnswer("found", " ".join(name.split()), text)
    if status == 200 and code == "1":
        return NameAnswer("not_customer", message=text or "not an M-Pesa customer")
    return NameAnswer("failed", message=f"HTTP {status} {code or doc.get('errorCode', '')} {text}")
