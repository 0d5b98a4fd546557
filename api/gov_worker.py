"""Government collections on the C2B path (switch/gov.py has the rules).

- :func:`validate`: the C2B validation of an agency's paybill, before any money moves: a known,
  unexpired, unpaid reference and an amount its policy takes, or Daraja's reject code; accepting
  holds the amount on the reference (version-guarded, so racing payments cannot both take the
  last balance).
- :func:`note`: a confirmation on an agency's paybill is noted in ``invoice_matches`` (kind
  ``gov``), as an invoice payment is; the bills worker (api/bills_worker.py) calls :func:`record`
  once M-Pesa's record has confirmed the C2B payment (``succeeded``), or :func:`release` when it
  did not, and :func:`expire` each pass.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api.bills_common import bills_of, note_event
from api.gov_common import GOV, Holder, change, gov_of, receipt_view, utc
from connectors.mpesa import C2bPayment, c2b_accept, c2b_reject
from infra.gov_store import GovStore
from switch import gov
from switch.payments import now_utc

log = logging.getLogger(__name__)
Doc = dict[str, Any]


class Paybills:
    """Agency paybills (shortcode -> merchant or None), each kept for a few seconds: validation
    must answer within Daraja's ~8 s and is asked for every payment. ``PUT /v1/gov/paybill``
    forgets its shortcode in its own process; other api processes see it within ``TTL``."""

    TTL = 5.0

    def __init__(self) -> None:
        self.owners: dict[str, tuple[float, str | None]] = {}

    async def owner(self, store: GovStore, shortcode: str) -> str | None:
        hit = self.owners.get(shortcode)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        doc = await store.paybill(shortcode)
        owner = doc["merchant_id"] if doc else None
        self.owners[shortcode] = (time.monotonic() + self.TTL, owner)
        return owner

    def forget(self, shortcode: str) -> None:
        self.owners.pop(shortcode, None)


PAYBILLS = web.AppKey("gov_paybills", Paybills)


async def _agency_paybill(app: web.Application, owner: str, shortcode: str) -> GovStore | None:
    store = await gov_of(app)
    return store if await app[PAYBILLS].owner(store, shortcode) == owner else None


async def validate(
    app: web.Application, owner: str, shortcode: str, payment: C2bPayment
) -> tuple[bytes, bool] | None:
    """Daraja's validation answer for an agency's paybill and whether it accepts; None on any
    other paybill."""
    store = await _agency_paybill(app, owner, shortcode)
    if store is None:
        return None
    doc = await store.by_prn(shortcode, payment.bill_ref.strip().upper())
    if doc is None:
        log.info("C2B %s to %s refused: no reference %r", payment.trans_id, shortcode,
                 payment.bill_ref)  # fmt: skip
        return c2b_reject("C2B00012"), False
    verdicts: list[gov.Accept | gov.Reject] = []

    def step(ref: gov.Reference, now: datetime) -> tuple[gov.Reference, Doc] | None:
        verdict = gov.judge(ref, payment.trans_id, payment.amount_cents, now)
        verdicts.append(verdict)
        return (verdict.reference, {}) if isinstance(verdict, gov.Accept) else None

    await change(app, doc["_id"], step)
    if not verdicts:
        return c2b_reject("C2B00012"), False
    verdict = verdicts[-1]
    if isinstance(verdict, gov.Reject):
        log.info("C2B %s to %s refused: %s", payment.trans_id, doc["_id"], verdict.reason)
        return c2b_reject(verdict.code), False
    return c2b_accept(doc["_id"]), True


async def note(app: web.Application, owner: str, shortcode: str, payment: C2bPayment) -> bool:
    """Note a confirmation on an agency's paybill for :func:`record`; False on other paybills."""
    if await _agency_paybill(app, owner, shortcode) is None:
        return False
    norm = payment.bill_ref.strip().upper()
    bills = await bills_of(app)
    await bills.note_match(payment.trans_id, owner, norm, datetime.now(UTC), "gov", shortcode)
    return True


async def record(app: web.Application, match: Doc, payment: Doc) -> tuple[str, str]:
    """Count a confirmed payment on its reference (or keep it as excess): (state, detail) for
    the match. Safe to run twice: the receipt is counted once, its receipt document and
    webhook have fixed ids."""
    store = await gov_of(app)
    receipt, amount = match["_id"], int(payment["amount_minor"])
    doc = await store.by_prn(match["shortcode"], match["account_norm"])
    if doc is None:
        return "refused", "no such reference: an ordinary credit of the agency"

    def step(ref: gov.Reference, now: datetime) -> tuple[gov.Reference, Doc] | None:
        outcome = gov.settle(ref, receipt, amount, now)
        if isinstance(outcome, gov.Unchanged):
            return None
        detail: Doc = {"amount_minor": amount, "payment_id": payment["_id"], "at": now}
        if not outcome.counted:
            detail["reason"] = "more than the reference may take: to be refunded"
            return outcome.reference, {f"excess.{receipt}": detail}
        detail["receipt_number"] = gov.receipt_number(now, receipt)
        detail["balance_after_minor"] = outcome.reference.outstanding_minor
        return outcome.reference, {f"payments.{receipt}": detail}

    done = await change(app, doc["_id"], step) or await store.reference(None, doc["_id"]) or doc
    if receipt in done.get("payments", {}):
        await _receipt(app, store, done, receipt)
        return "applied", done["_id"]
    return "refused", f"{done['_id']}: excess, to be refunded"


async def _receipt(app: web.Application, store: GovStore, ref: Doc, receipt: str) -> None:
    paid = ref["payments"][receipt]
    agency = await store.paybill(ref["shortcode"]) or {}
    doc = {
        "_id": paid["receipt_number"],
        "merchant_id": ref["merchant_id"],
        "reference_id": ref["_id"],
        "prn": ref["prn"],
        "revenue_head": ref["revenue_head"],
        "agency": agency.get("agency_name", ""),
        "paybill": ref["shortcode"],
        "payer_name": ref["payer"]["name"],
        "amount_minor": paid["amount_minor"],
        "balance_after_minor": paid["balance_after_minor"],
        "mpesa_receipt": receipt,
        "payment_id": paid["payment_id"],
        "paid_at": utc(paid["at"]),
    }
    await store.add_receipt(doc)
    holder = {"_id": doc["_id"], "merchant_id": doc["merchant_id"]}
    await note_event(await bills_of(app), holder, "gov_receipt.issued", receipt_view(doc))


async def release(app: web.Application, match: Doc) -> None:
    """The payment a validation held for did not happen: give its amount back."""
    store = await gov_of(app)
    doc = await store.by_prn(match["shortcode"], match["account_norm"])
    if doc is None:
        return

    def step(ref: gov.Reference, _now: datetime) -> tuple[gov.Reference, Doc] | None:
        return (gov.release(ref, match["_id"]), {}) if ref.hold_of(match["_id"]) else None

    await change(app, doc["_id"], step)


async def expire(app: web.Application) -> None:
    """Store ``expired`` on references past their expiry (their webhook with it)."""
    store = await gov_of(app)
    for doc in await store.lapsing(now_utc()):

        def step(ref: gov.Reference, now: datetime) -> tuple[gov.Reference, Doc] | None:
            return ref, {}  # the status is derived from the clock: writing it stores it

        await change(app, doc["_id"], step)


def install(app: web.Application) -> None:
    app[GOV] = Holder()
    app[PAYBILLS] = Paybills()
