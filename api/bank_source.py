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
from switch.errors import Unavailable
from switch.transfers import NOT_A_PARTICIPANT, transfer_id_for


def _refused(reason: str) -> web.Response:
    details = [{"field": "source", "reason": reason}]
    return error_response(422, "validation_failed", "the request has invalid fields", details)


async def prepared(
    request: web.Request, merchant_id: str, key: str, source: dict[str, Any]
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
        # A replay of a transfer made while the bank took part goes on to the shard, which
        # answers it as the first time (or 409 for another body): the key names one transfer.
        made = await _made_already(request, merchant_id, key)
        if made is not None:
            return {**source, "collection_account": made}
        return _refused(NOT_A_PARTICIPANT.format(code=code))
    found = await ensure_account(request, merchant_id)
    if found is None:
        return error_response(409, "collection_accounts_exhausted", "no account number is free")
    return {**source, "collection_account": str(found[0]["_id"])}


async def _made_already(request: web.Request, merchant_id: str, key: str) -> str | None:
    """The collection account of the bank-source transfer this key made already, or None."""
    state = request.app[STATE]
    shard = state.router.shard_of_merchant(merchant_id)
    tid = transfer_id_for(shard, state.secret_key, merchant_id, key)
    try:
        [found] = await state.actors.shards[shard].get_transfers([(merchant_id, tid)])
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry with the same key") from exc
    if found.status != 200:
        return None
    return str(found.body["source"].get("collection_account") or "") or None
