"""Airtel Money KYC user enquiry: the name Airtel holds for a wallet, before a payout. Pure.

Airtel's Open API lists it under KYC (doc §9): ``GET /standard/v1/users/{msisdn}`` with the usual
Bearer token and ``X-Country``/``X-Currency`` headers, the msisdn without its country code. The
portal's sample answer is ``{"data": {"first_name", "last_name", "grade", "is_barred",
"is_pin_set", "msisdn"}, "status": {"code": "200", "message": "SUCCESS", "result_code":
"ESB000010", "response_code": "DP02200000001", "success": true}}``. How an unknown subscriber is
answered is **unverified** (no sample): we read ``success: false`` with a response code of the
KYC product's not-found family (:data:`NOT_FOUND_CODES`, or the doc §3 sample's "Msisdn Not
Found") as "no such wallet", and anything else that names nobody as a failed look-up (the
beneficiary is then not paid by that run). A look-up moves no money, so it is safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from connectors.airtel.transformers import envelope, national_msisdn
from connectors.http import HttpResponse

PATH = "/standard/v1/users/"
FOUND_CODE = "DP02200000001"
# Unverified (module docstring): the KYC product's failure code, and doc §3's sample code for an
# unknown msisdn on a push.
NOT_FOUND_CODES = frozenset({"DP02200000000", "DP00800001005"})
Verdict = Literal["found", "not_customer", "failed"]


def path_of(phone: str) -> str:
    """``/standard/v1/users/733123456`` for any Kenyan form of the number."""
    return PATH + quote(national_msisdn(phone), safe="")


@dataclass(frozen=True, slots=True)
class UserAnswer:
    verdict: Verdict
    name: str = ""
    message: str = ""
    barred: bool = False


def parse_user(resp: HttpResponse) -> UserAnswer:
    """The answer of one enquiry: the wallet holder's name, "no such wallet", or why it failed."""
    env = envelope(resp)
    data = env.data or {}
    first, last = data.get("first_name"), data.get("last_name")
    names = [str(n).strip() for n in (first, last) if isinstance(n, str) and n.strip()]
    if resp.status == 200 and env.success and names:
        name = " ".join(" ".join(names).split())
        return UserAnswer("found", name, env.message, bool(data.get("is_barred")))
    codes = {env.response_code, env.result_code}
    if codes & NOT_FOUND_CODES or "not found" in env.message.lower():
        return UserAnswer("not_customer", message=env.message or "not an Airtel Money customer")
    code = env.response_code or env.result_code or env.error
    return UserAnswer("failed", message=f"HTTP {resp.status} {code} {env.message}".strip())
