"""Refunding suspense money to the payer (pure): an unmatched C2B payment nobody claims is sent
back through M-Pesa's Reversal API on its receipt.

Why not the shard: the money is the switch's (``switch:suspense``), not a merchant's, and the
shards hold only merchant and per-shard accounts in memory; a pseudo-merchant would have to move
suspense into a balance a shard holds first, and a shard command for one rare operator action
is more surface than it is worth. So reconciliation sends the reversal itself, through the
running M-Pesa gateway (its token, retries and circuit breaker), and keeps the refund on the
break: its id is the break's (``<break>:refund``, also the reversal's ResultURL key and the
journal entry's id), so a repeated approval or result posts nothing twice.

The money leaves suspense only when M-Pesa's Result says the reversal went through
(``suspense:refund``: suspense back to the provider float's correction account, as M-Pesa now
holds less). A refused or failed reversal leaves it in suspense and opens the break again. An
answer that never comes is recovered by approving again, which resends the same reversal:
M-Pesa reverses a receipt once, so a resend cannot pay twice, and its "already reversed"
(R000001) after a resend means the first one went through.

Only a whole unmatched payment is refunded this way: the Reversal API gives back a whole
receipt, so an over-payment's excess or a duplicate's copy (whose receipt is also the
merchant's payment) would take the merchant's part too; those are the merchant's reversal or a
write-off.
"""

from __future__ import annotations

from typing import Any, Literal

from switch.ledger import Entry, Line
from switch.recon.breaks import Refused, recon_float
from switch.recon.suspense import SUSPENSE
from switch.states import Event

Sent = Literal["sent", "unknown", "refused"]
Verdict = Literal["succeeded", "failed"]
ALREADY_REVERSED = "R000001"


def refund_id(break_id: str) -> str:
    return f"{break_id}:refund"


def refusal(brk: dict[str, Any]) -> Refused | None:
    """Why the break's money cannot be refunded to the payer, or None."""
    record = (brk.get("records") or [{}])[0]
    if brk.get("kind") != "missing_in_switch" or brk.get("payment_id"):
        return Refused(
            "not_applicable",
            "refund applies to an M-Pesa C2B payment the switch has no payment for "
            "(missing_in_switch): M-Pesa reverses a whole receipt, so an over-payment or a "
            "duplicate of a merchant's payment is the merchant's reversal or a write-off",
        )
    if brk.get("provider") != "mpesa" or record.get("direction") != "in":
        return Refused("not_applicable", "only M-Pesa money paid in can be reversed")
    if not record.get("receipt") or not record.get("shortcode"):
        return Refused("not_applicable", "the record names no receipt and shortcode to reverse")
    held = brk.get("suspense") or {}
    if not held.get("amount") or held.get("closed_by"):
        return Refused("not_in_suspense", "none of this break's money is held in suspense")
    if int(held["amount"]) != int(record["amount"]) or int(record["amount"]) % 100:
        return Refused("not_applicable", "suspense holds other than the whole receipt's amount")
    return None


def order_fields(brk: dict[str, Any]) -> dict[str, Any]:
    """What the reversal names, from the provider's record (never the caller)."""
    record = brk["records"][0]
    return {
        "id": refund_id(brk["_id"]),
        "receipt": record["receipt"],
        "shortcode": record["shortcode"],
        "amount": int(brk["suspense"]["amount"]),
    }


def after_submit(event: Event | None) -> Sent:
    """What sending told us: taken (its Result will follow), refused (nothing was sent: a
    refusal, no token, the circuit open) or unknown (maybe sent: only a resend, which M-Pesa
    cannot pay twice, settles it)."""
    if event in (Event.QUEUED, Event.ACCEPTED):
        return "sent"
    return "refused" if event == Event.REJECTED else "unknown"


def verdict(event: Event | None, provider_code: str | None, sends: int) -> Verdict | None:
    """M-Pesa's Result: the money went back, it did not, or not yet (None)."""
    if event == Event.SUCCEED:
        return "succeeded"
    if event == Event.DECLINE:
        # Already reversed after a resend: our first request went through.
        return "succeeded" if provider_code == ALREADY_REVERSED and sends > 1 else "failed"
    return None


def refunded(brk: dict[str, Any], cents: int) -> Entry:
    """Confirmed: the money left M-Pesa for the payer, so it leaves suspense (and the float's
    correction, as M-Pesa holds that much less of the switch's money)."""
    return Entry(
        f"{brk['_id']}:suspense:refund",
        "suspense_refund",
        brk.get("merchant_id") or "",
        brk["_id"],
        (Line(SUSPENSE, -cents), Line(recon_float(brk["provider"]), cents)),
    )
