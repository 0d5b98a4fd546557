"""Confirming an Airtel or PesaLink break through the provider's own status check (rules in
:mod:`switch.recon.breaks`): the gateway's recovery call about the switch's payment (Airtel's
transaction enquiry, PesaLink's status check) is asked now, and only a success it reports is
handed to the owning shard, as that provider's callback would be; the shard's state machine
decides what it may change. Nothing comes from the caller or the statement line.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from api.errors import error_response
from api.state import AppState
from switch.ids import shard_of
from switch.messages import CallbackIn, StatusCheck
from switch.rails import display_name
from switch.recon.breaks import check_refusal

log = logging.getLogger(__name__)


async def confirm_by_check(state: AppState, brk: dict[str, Any]) -> dict[str, Any] | web.Response:
    fields = {"method": 1, "merchant_id": 1, "provider.conversation_id": 1}
    payment = await state.cols.payments.find_one({"_id": brk["payment_id"]}, fields)
    shard = shard_of(brk["payment_id"])
    if payment is None or shard is None or shard >= state.router.count:
        return error_response(409, "not_applicable", "the break's payment is not stored")
    method = payment["method"]
    ref = (payment.get("provider") or {}).get("conversation_id")
    try:
        [answer] = await state.actors.gateways.check([StatusCheck(payment["_id"], method, ref)])
    except Exception as exc:
        log.warning("status check of %s failed: %s", payment["_id"], exc)
        answer = None
    name = display_name(brk["provider"])
    if answer is None or answer.outcome is None:
        return error_response(503, "provider_unavailable", f"{name} did not answer: retry")
    event = answer.outcome.event
    refused = check_refusal(event.value if event else None, answer.not_found, name)
    if refused is not None:
        return error_response(409, refused.code, refused.reason)
    item = CallbackIn(payment["_id"], answer.outcome, None, methods=frozenset({method}))
    verdict = await state.router.apply_callbacks[shard].call(item)
    return {"merchant_id": payment["merchant_id"], "verdict": verdict, "checked": "succeeded"}
