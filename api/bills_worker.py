"""The invoices' and standing orders' loop, in every api process (each pass is safe to run twice:
every write is guarded so a second process changes nothing the first already did).

Each pass:

1. credits invoices (and government references: api/gov_worker.py) with the C2B payments noted
   in ``invoice_matches`` once those payments are
   ``succeeded`` (M-Pesa's record agreed, README "C2B"), with the payment's own amount, oldest
   owing invoice of the account first; a C2B payment that failed verification credits nothing;
   each credit is acknowledged to Bill Manager (``/reconciliation``: the customer's e-receipt);
2. marks unpaid invoices past their due date ``expired``;
3. delivers the queued webhooks (signed as the payments' are; at least once, retried each pass
   for up to ``MAX_ATTEMPTS`` passes with a growing pause, then dropped with a log line).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, date, datetime, timedelta

import orjson
from aiohttp import web

from api import gov_worker
from api.background import stop_task
from api.bills_common import BILLS, Bills, as_invoice, bills_of, refresh_status
from api.c2b import INVOICE_HOOK, VALIDATION_HOOK
from api.standing_orders import resolve_run
from api.state import STATE, AppState
from connectors.common import EAT
from connectors.http import HttpRequest, TransportError
from connectors.mpesa import C2bPayment
from connectors.mpesa import billmanager as bm
from infra.bills_store import BillsStore, Doc
from infra.netguard import GuardedTransport
from switch.idempotency import scoped_key
from switch.ids import payment_id_for
from switch.invoices import Applied, apply_payment, choose, expire, normalise_reference
from switch.signing import webhook_headers

log = logging.getLogger(__name__)
INTERVAL = 0.5  # seconds between passes
MAX_ATTEMPTS = 15
TASK = web.AppKey("bills_task", asyncio.Task[None])
REFUSED_STATES = frozenset({"declined", "rejected"})
GIVE_UP = timedelta(days=2)  # M-Pesa's pull API keeps 48 hours: recon takes over after that


class BillsWorker:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.state: AppState = app[STATE]
        self.transport = GuardedTransport(allow_private=self.state.settings.webhook_allow_private)
        self.retry_at: dict[str, float] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("bills pass failed; next pass in %ss", INTERVAL)
            await asyncio.sleep(INTERVAL)

    async def once(self) -> None:
        store = await bills_of(self.app)
        for match in await store.pending_matches():
            await self.resolve(store, match)
        for report in await store.pending_reports():
            await resolve_run(self.state, store, report)
        await self.expire(store, datetime.now(EAT).date())
        await self.deliver(store)
        await gov_worker.expire(self.app)  # its webhooks go at the next pass

    # --- payments to invoices -------------------------------------------------------------------

    async def resolve(self, store: BillsStore, match: Doc) -> None:
        receipt, merchant_id = match["_id"], match["merchant_id"]
        shard = self.state.router.shard_of_merchant(merchant_id)
        scoped = scoped_key(merchant_id, f"c2b:{receipt}")  # the C2B payment's id (api/c2b.py)
        payment = await store.payment(payment_id_for(shard, self.state.secret_key, scoped))
        if payment is None or payment["merchant_id"] != merchant_id:
            # Not confirmed yet (the push may come first): looked at again later, until
            # reconciliation's window is over (the money is then an unmatched C2B payment).
            now = datetime.now(UTC)
            if now - match["at"].replace(tzinfo=UTC) > GIVE_UP:
                await store.close_match(receipt, "unconfirmed", "no C2B payment came")
            else:
                await store.looked_at("matches", receipt, now)
            return
        if payment["state"] in REFUSED_STATES:
            if match.get("kind") == "gov":
                await gov_worker.release(self.app, match)
            await store.close_match(receipt, "refused", "M-Pesa's record did not confirm it")
            return
        if payment["state"] != "succeeded":
            return
        if match.get("kind") == "gov":
            await store.close_match(receipt, *await gov_worker.record(self.app, match, payment))
            return
        docs = await store.of_account(merchant_id, match["account_norm"])
        target = choose([as_invoice(d) for d in docs], match["account_norm"])
        if target is None:
            await store.close_match(receipt, "refused", "no invoice of this account takes it")
            return
        amount = int(payment["amount_minor"])
        if not isinstance(apply_payment(target, receipt, amount), Applied):
            await store.close_match(receipt, "refused", "the invoice takes no payment")
            return
        updated = await store.add_payment(target.id, receipt, amount)
        if updated is None:  # counted by another pass already, or cancelled meanwhile
            doc = await store.invoices.find_one({"_id": target.id}) or {}
            counted = receipt in doc.get("payments", {})
            await store.close_match(receipt, "applied" if counted else "refused", target.id)
            return
        updated = await refresh_status(store, updated)
        await store.close_match(receipt, "applied", target.id)
        await self.acknowledge(store, updated, receipt, amount)

    async def acknowledge(self, store: BillsStore, doc: Doc, receipt: str, amount: int) -> None:
        """Tell Bill Manager (its e-receipt to the customer); a failure is logged, not retried:
        the money is already the merchant's and the invoice already credited."""
        optin = await store.optins.find_one({"_id": doc["shortcode"]}) or {}
        ack = bm.Acknowledgement(
            datetime.now(EAT).date(), amount, doc["account_reference"], receipt,
            bm.local_phone(doc["customer"]["phone"]), doc["customer"]["name"], doc["name"],
            doc["external_reference"],
        )  # fmt: skip
        headers = {bm.APP_KEY_HEADER: optin["app_key"]} if optin.get("app_key") else {}
        raw = await self.state.actors.gateways.product_call(
            bm.PATHS["reconciliation"], ack.body(), headers
        )
        answer = bm.parse_answer(int(raw.get("status", "0") or 0), raw.get("body", "").encode())
        if not answer.ok:
            log.warning("Bill Manager acknowledgement of %s refused: %s", receipt, raw)

    async def expire(self, store: BillsStore, today: date) -> None:
        for doc in await store.overdue(today.isoformat()):
            if isinstance(expire(as_invoice(doc), today), Applied):
                done = await store.set_invoice(doc["_id"], {"past_due": False}, {"past_due": True})
                if done is not None:
                    await refresh_status(store, done)

    # --- webhooks -------------------------------------------------------------------------------

    async def deliver(self, store: BillsStore) -> None:
        now = time.monotonic()
        endpoints: dict[str, Doc] = {}
        for event in await store.due_events():
            if self.retry_at.get(event["_id"], 0.0) > now:
                continue
            merchant_id = event["merchant_id"]
            if merchant_id not in endpoints:
                merchant = await self.state.cols.merchants.find_one({"_id": merchant_id})
                endpoints[merchant_id] = merchant or {}
            await self._send(store, event, endpoints[merchant_id])

    async def _send(self, store: BillsStore, event: Doc, merchant: Doc) -> None:
        url, secret = merchant.get("webhook_url"), merchant.get("webhook_secret", "")
        if not url:
            await store.event_done(event["_id"])
            return
        created = event["created_at"].replace(tzinfo=event["created_at"].tzinfo or UTC)
        body = orjson.dumps({"id": event["_id"], "type": event["type"],
                             "created_at": created.isoformat(), "data": event["data"]})  # fmt: skip
        headers = webhook_headers(secret, event["_id"], int(time.time()), body)
        try:
            resp = await self.transport.send(HttpRequest("POST", url, headers, body, 5.0))
            ok = 200 <= resp.status < 300
        except TransportError:
            ok = False
        if ok:
            self.retry_at.pop(event["_id"], None)
            await store.event_done(event["_id"])
            return
        attempts = await store.event_failed(event["_id"])
        if attempts >= MAX_ATTEMPTS:
            log.error("webhook %s abandoned after %d attempts", event["_id"], attempts)
            await store.event_done(event["_id"])
            return
        pause = min(2.0**attempts, 3600.0)
        self.retry_at[event["_id"]] = time.monotonic() + pause  # per process: a restart retries


async def _start(app: web.Application) -> None:
    worker = BillsWorker(app)
    app[WORKER] = worker
    app[TASK] = asyncio.create_task(worker.run(), name="bills-worker")


async def _stop(app: web.Application) -> None:
    if app.get(TASK) is None:
        return
    await stop_task(app[TASK])
    await app[WORKER].transport.close()


WORKER = web.AppKey("bills_worker", BillsWorker)


class OptedIn:
    """(shortcode, merchant) pairs opted in to Bill Manager, read again every few seconds: the
    C2B confirmation path asks it for every payment and must not read MongoDB each time."""

    TTL = 5.0

    def __init__(self) -> None:
        self.pairs: set[tuple[str, str]] = set()
        self.until = 0.0

    async def has(self, store: BillsStore, shortcode: str, merchant_id: str) -> bool:
        if time.monotonic() > self.until:
            self.pairs = {(d["_id"], d["merchant_id"]) async for d in store.optins.find()}
            self.until = time.monotonic() + self.TTL
        return (shortcode, merchant_id) in self.pairs


OPTED_IN = web.AppKey("bills_opted_in", OptedIn)


async def note_c2b(app: web.Application, owner: str, shortcode: str, payment: C2bPayment) -> None:
    """A confirmed C2B payment on an opted-in paybill may pay an invoice, one on an agency's
    paybill a government reference: note its receipt."""
    if await gov_worker.note(app, owner, shortcode, payment):
        return
    store = await bills_of(app)
    if await app[OPTED_IN].has(store, shortcode, owner):
        norm = normalise_reference(payment.bill_ref)
        await store.note_match(payment.trans_id, owner, norm, datetime.now(UTC))


def install(app: web.Application) -> None:
    app[BILLS] = Bills()
    app[OPTED_IN] = OptedIn()
    app[INVOICE_HOOK] = note_c2b
    app[VALIDATION_HOOK] = gov_worker.validate
    gov_worker.install(app)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
