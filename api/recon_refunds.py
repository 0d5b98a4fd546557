"""Refunds from the breaks queue. ``refund``: suspense money of an unmatched C2B payment back to
the payer by M-Pesa reversal, confirmed by its Result (rules and the choice of path in
:mod:`switch.recon.refunds`). ``retry_refund``: the refund of a transfer left ``refund_failed``
(rules in :mod:`switch.recon.breaks`): a payout back to the transfer's own source, through the
merchant's shard as the saga sends a refund leg (no fee: the money only passes back), for the
failed leg's amount. Everything comes from the stored transfer, nothing from the caller; the
key comes from the break and the attempt, so a repeated request makes no second payout.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from api.audit import audit_log
from api.errors import error_response, json_response
from api.payments import reply_response
from api.routes import callback_route
from api.state import STATE, AppState
from connectors.mpesa.callbacks import reversal_result
from connectors.mpesa.orders import ReversalOrderMsg
from connectors.mpesa.transformers import MalformedCallback
from infra.recon import ReconStore
from switch.messages import CreatePayment
from switch.payments import iso, now_utc
from switch.rails import rail
from switch.recon import refunds
from switch.recon.transfers import retry_key
from switch.signing import callback_token, verify_callback_token
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


# --- suspense money back to the payer (rules in switch/recon/refunds.py) -------------------------


def refund_url(state: AppState, break_id: str) -> str:
    """The reversal's ResultURL (and QueueTimeOutURL): Daraja signs nothing, so the URL carries
    a token of the refund's id."""
    rid = refunds.refund_id(break_id)
    base = state.settings.public_url or f"http://{state.settings.host}:{state.settings.port}"
    return f"{base}/callbacks/mpesa/recon-refund/{break_id}/{callback_token(state.secret_key, rid)}"


async def send_refund(state: AppState, store: ReconStore, brk: dict[str, Any]) -> dict[str, Any]:
    """Send (or resend) the break's reversal; answers the refund as now stored. The break is
    ``refunding`` before anything is sent, so a crash leaves a refund to resend, never one
    sent and forgotten."""
    held = brk.get("refund") or {}
    refund = {**refunds.order_fields(brk), **held, "sends": int(held.get("sends") or 0) + 1}
    await store.set_if(brk["_id"], {"status": "refunding"}, {"refund": refund})
    url = refund_url(state, brk["_id"])
    order = ReversalOrderMsg(
        payment_id=refund["id"],
        receipt=refund["receipt"],
        amount=refund["amount"] // 100,
        receiver_party=refund["shortcode"],
        remarks="Refund: no merchant",
        result_url=url,
        timeout_url=url,
    )
    try:
        [answer] = await state.actors.gateways.submit([order])
        sent = refunds.after_submit(answer.outcome.event)
        said = answer.outcome.failure.message if answer.outcome.failure else ""
    except Exception as exc:  # the gateway's actor did not answer: maybe sent
        log.warning("refund %s: the M-Pesa gateway did not answer: %s", refund["id"], exc)
        sent, said = "unknown", str(exc)
    refund |= {"status": sent, "said": said}
    if sent == "refused" and refund["sends"] == 1:
        # Nothing went out, ever: the money stays in suspense and the break is open again.
        changes = {"status": "open", "proposal": None, "refund": None, "refused": refund}
        await store.set_if(brk["_id"], {"status": "refunding"}, changes)
    else:
        # A resend refused after an earlier send stays to be confirmed by its first Result.
        await store.set_if(brk["_id"], {"status": "refunding"}, {"refund": refund})
    return refund


async def refund_result(request: web.Request) -> web.Response:
    """M-Pesa's Result of a refund's reversal: only a success takes the money out of suspense
    (once: the entry's id is the break's); a failure leaves it there and opens the break."""
    state = request.app[STATE]
    break_id = request.match_info["break_id"]
    rid = refunds.refund_id(break_id)
    if not verify_callback_token(state.secret_key, rid, request.match_info["token"]):
        return web.Response(status=404)
    try:
        outcome = reversal_result(rid, await request.read()).outcome
    except MalformedCallback as exc:
        log.warning("malformed reversal result for %s: %s", rid, exc)
        return web.Response(status=400)
    store = ReconStore(state.cols.payments.database)
    brk = await store.get_break(break_id)
    refund = (brk or {}).get("refund") or {}
    failure = outcome.failure
    code = failure.provider_code if failure else None
    verdict = refunds.verdict(outcome.event, code, int(refund.get("sends") or 0))
    if brk is None or brk["status"] != "refunding" or verdict is None:
        return _ack()  # a repeat, a queue timeout (approve again to resend), or not ours
    refs = outcome.refs
    refund = {
        **refund,
        "status": verdict,
        "result_code": refs.result_code if refs else code,
        "reversal_receipt": refs.receipt if refs else None,
        "answered_at": now_utc(),
    }
    if verdict == "succeeded":
        entry = refunds.refunded(brk, int(refund["amount"]))
        await store.post_entries([entry], now_utc())
        changes: dict[str, Any] = {
            "status": "resolved",
            "refund": refund,
            "suspense.closed_by": entry.id,
        }
    else:
        changes = {"status": "open", "proposal": None, "refund": None, "refused": refund}
    if await store.set_if(break_id, {"status": "refunding"}, changes):
        shown = {k: iso(v) if isinstance(v, datetime) else v for k, v in refund.items()}
        try:
            await audit_log(state).append(
                "provider:mpesa", f"recon.refund_{verdict}", f"recon_break:{break_id}", None, shown
            )
        except Exception:
            log.exception("audit of refund %s not recorded", rid)
    return _ack()


def _ack() -> web.Response:
    return json_response({"ResultCode": 0, "ResultDesc": "Accepted"})


ROUTE_TABLE = (
    callback_route(
        "/callbacks/mpesa/recon-refund/{break_id}/{token}",
        refund_result,
        "M-Pesa Reversal result of a suspense refund",
        "mpesa",
    ),
)
