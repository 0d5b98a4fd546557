"""Retrying the refund of a transfer left ``refund_failed`` (a breaks-queue resolution, rules in
:mod:`switch.recon.breaks`): a payout back to the transfer's own source, through the merchant's
shard as the saga sends a refund leg (no fee: the money only passes back), for the failed leg's
amount. Everything comes from the stored transfer, nothing from the caller; the key comes from
the break and the attempt, so a repeated request makes no second payout.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from api.errors import error_response
from api.payments import reply_response
from api.state import AppState
from switch.messages import CreatePayment
from switch.rails import rail
from switch.recon.transfers import retry_key
from switch.transfers import leg_spec

log = logging.getLogger(__name__)


async def retry_refund(
    state: AppState, brk: dict[str, Any], by: str
) -> dict[str, Any] | web.Response:
    leg = await state.cols.payments.find_one({"_id": brk["payment_id"]})
    if leg is None or (leg.get("transfer") or {}).get("leg") != "refund":
        return error_response(409, "not_applicable", "the break's refund leg is not stored")
    sealer = state.sealer()
    await sealer.ready_for(leg)
    spec = sealer.open(leg)["transfer"]  # the source account, unsealed
    how = leg_spec(spec, "refund")
    attempt = int((brk.get("resolution") or {}).get("attempt") or 0) + 1
    command = CreatePayment(
        merchant_id=leg["merchant_id"],
        idem_key=retry_key(brk["_id"], attempt),
        request_hash=f"{brk['_id']}:refund:{attempt}",
        method=how.method,
        amount_minor=int(leg["amount_minor"]),
        phone=how.phone,
        reference=leg["reference"],
        description=f"Refund {leg['reference']}",
        metadata=dict(leg.get("metadata") or {}),
        command=rail(how.method).default_command,
        destination=how.destination,
        # A refund of the transfer (no fee); the saga ignores it: its own legs are done.
        transfer={**spec, "leg": "refund_retry"},
        direction="payout",
        maker=by,
    )
    shard = state.router.shard_of_merchant(command.merchant_id)
    try:
        reply = await state.router.create_payments[shard].call(command)
    except Exception as exc:
        log.warning("shard %d did not answer a refund retry: %s", shard, exc)
        return error_response(503, "shard_unavailable", "the shard did not answer; retry")
    if reply.status >= 300:
        return reply_response(reply)  # refused (no balance, circuit open): said as it is
    return {
        "payout_id": reply.body["id"],
        "payout_status": reply.body["status"],
        "attempt": attempt,
    }
