"""The name check before a benefit is paid: the name the destination is registered under, asked
of its provider, compared with the beneficiary's (switch/benefits_names.py).

- M-Pesa: the customer name query (connectors/mpesa/namecheck.py; its shape is unverified,
  Daraja publishes none), sent through the M-Pesa gateway's product call;
- Airtel Money: the KYC user enquiry (connectors/airtel/kyc.py), first and last name;
- bank: PesaLink's account look-up (``POST /v1/lookups`` uses the same gateway call);
- SACCO: the API SACCO's member look-up (``POST /v1/lookups`` too). A file SACCO exchanges only
  files and has none: the beneficiary is paid and the report says ``name_not_checked``.

A look-up that cannot be made is an exception of its own (``name_check_failed``): the
beneficiary is not paid by this run and a later run of the cycle may pay them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from api.state import AppState
from connectors.mpesa import namecheck
from switch.benefits import ExceptionKind
from switch.benefits_names import compare

Doc = dict[str, Any]
IN_FLIGHT = 32  # look-ups at once: the gateways cap their own connections too


@dataclass(frozen=True, slots=True)
class Checked:
    beneficiary_id: str
    kind: ExceptionKind | None  # None: the name matches
    registered_name: str = ""
    score: float | None = None
    detail: str = ""


# A provider's look-up error_code -> the exception it is (anything else: the look-up failed).
_LOOKUP_ERRORS: dict[str, ExceptionKind] = {
    "not_customer": "unregistered_phone",  # Airtel: no such wallet
    "account_not_found": "account_not_found",
    "invalid_member_number": "account_not_found",
    "unknown_sacco": "account_not_found",
    "lookup_unsupported": "name_not_checked",  # a file SACCO: no look-up, paid anyway
}


def _looked_up(found: dict[str, str], name_key: str) -> tuple[str, str | None]:
    if "error" not in found:
        return str(found[name_key]), None
    code = found.get("error_code") or ""
    kind = _LOOKUP_ERRORS.get(code, "name_check_failed")
    return "", f"{kind}:{code} {found['error']}".strip()


async def _registered(state: AppState, payout: Doc, phone: str) -> tuple[str, str | None]:
    """(name, None) or ("", why not) with the exception kind first in ``why``."""
    gateways = state.actors.gateways
    if payout["method"] == "airtel_payout":
        return _looked_up(await gateways.lookup("airtel", phone), "name")
    if payout["method"] == "sacco":
        found = await gateways.lookup("sacco", payout["sacco_code"], payout["member_number"])
        return _looked_up(found, "name")
    if payout["method"] == "bank_transfer":
        found = await gateways.lookup(
            "pesalink", payout["bank_code"], payout["account_number"], None
        )
        if "error" in found:
            code = found.get("error_code") or ""
            kind = (
                "name_check_failed"
                if code in ("provider_unavailable", "outcome_unknown")
                else "account_not_found"
            )
            return "", f"{kind}:{code} {found['error']}".strip()
        return str(found["holder_name"]), None
    answer = await gateways.product_call(namecheck.PATH, namecheck.request_body(phone), {})
    if "error" in answer:
        return "", f"name_check_failed:{answer['error']}"
    parsed = namecheck.parse_answer(int(answer["status"]), answer["body"].encode())
    if parsed.verdict == "not_customer":
        return "", f"unregistered_phone:{parsed.message}"
    if parsed.verdict == "failed":
        return "", f"name_check_failed:{parsed.message}"
    return parsed.name, None


async def check_one(state: AppState, doc: Doc, threshold: float) -> Checked:
    """One opened beneficiary's destination, checked."""
    try:
        name, why = await _registered(state, doc["payout"], doc["phone"])
    except Exception as exc:  # the gateway actor did not answer: nothing was paid
        name, why = "", f"name_check_failed:{exc}"
    if why is not None:
        kind, _, detail = why.partition(":")
        return Checked(doc["_id"], kind, detail=detail.strip())  # type: ignore[arg-type]
    match = compare(name, doc["name"], threshold)
    if match.matched:
        return Checked(doc["_id"], None, name, match.score)
    detail = f"registered as another name (score {match.score:.3f} < {threshold})"
    return Checked(doc["_id"], "name_mismatch", name, match.score, detail)


async def check_all(state: AppState, docs: list[Doc], threshold: float) -> list[Checked]:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(doc: Doc) -> Checked:
        async with gate:
            return await check_one(state, doc, threshold)

    return list(await asyncio.gather(*(one(d) for d in docs)))
