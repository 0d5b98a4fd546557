"""A bank account as a transfer's source (switch/hub/requests.py): before the saga starts, the
bank must be an active participant of the hub (else 422 naming ``source``, nothing stored), and
the merchant gets the collection account the bank will pay into (issued now if it has none). The
account rides in the source, so the debit leg's request to pay names it as the creditor."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.errors import error_response
from api.hub_collections import collection_refusal, ensure_account
from api.hub_common import store
from api.state import STATE
from switch.transfers import NOT_A_PARTICIPANT


def _refused(reason: str) -> web.Response:
    details = [{"field": "source", "reason": reason}]
    return error_response(422, "validation_failed", "the request has invalid fields", details)


async def prepared(
    request: web.Request, merchant_id: str, source: dict[str, Any]
) -> dict[str, Any] | web.Response:
    """The source with the merchant's collection account, or the refusal."""
    state = request.app[STATE]
    code = str(source["bank_code"])
    why = collection_refusal(state)
    if why is not None:
        return _refused(f"a bank account cannot be a source here: {why}")
    bank = await store(request).participants.find_one(
        {"bank_code": code, "status": "active", "kind": "bank"}, {"_id": 1}
    )
    if bank is None:
        return _refused(NOT_A_PARTICIPANT.format(code=code))
    found = await ensure_account(request, merchant_id)
    if found is None:
        return error_response(409, "collection_accounts_exhausted", "no account number is free")
    return {**source, "collection_account": str(found[0]["_id"])}
