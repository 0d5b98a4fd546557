"""The merchant shard: the single writer for its merchants' payments.

Its operations (the :class:`actors.ports.ShardPort`): creating payments, reversals and
transfers, reviews, reads, C2B confirmations and callbacks, personal data. Each loads what it
needs, asks :class:`actors.shard.machine.ShardMachine` to decide, and has the shell
(:mod:`actors.shard.shell`) carry the effects out. Idempotency: the payment id is derived from
the key, so the primary key is the backstop; a key is claimed (:mod:`actors.shard.claims`)
before the first await, so concurrent copies wait for the first one's answer. Ray specifics live
in :mod:`actors.runtime`; this class is plain asyncio, built directly by tests.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from actors.replies import error_reply
from actors.shard import admission
from actors.shard.machine import Admit
from actors.shard.shell import Shell
from routing.router import NoRoute
from switch import sandbox_funding
from switch.logs import acting_on
from switch.messages import (
    C2bIn,
    CallbackIn,
    CallbackVerdict,
    CreatePayment,
    CreateReversal,
    CreateTransfer,
    HubCreditIn,
    Reply,
)
from switch.money import format_minor
from switch.payments import view

__all__ = ["ShardCore"]

log = logging.getLogger(__name__)

READ_WAIT_S = 2.0


class ShardCore(Shell):
    """The shard's operations, over the shell."""

    def stats(self) -> dict[str, int]:
        return {
            "shard": self.shard,
            "cached": len(self.payments),
            "in_flight": len(self.in_flight),
            "unwritten": self.machine.unwritten(),
        }

    # --- creating payments -----------------------------------------------------------------

    async def create_payments(self, requests: list[CreatePayment]) -> list[Reply]:
        return list(await asyncio.gather(*(self._create(r) for r in requests)))

    async def _create(self, req: CreatePayment) -> Reply:
        key, payment_id = self.machine.key_and_id(req.merchant_id, req.idem_key)
        if key in self.machine.idem:
            return await self._replay(key, payment_id, req.request_hash)
        # Claim the key before the first await, so concurrent copies of this request wait for
        # this one's answer instead of racing it through routing and screening.
        claim = self.claims.claim(key, req.request_hash)
        try:
            return await self._create_claimed(req, key, payment_id)
        finally:
            if not claim.done():  # refused or failed before anything was stored
                self.claims.resolve(key, None)

    async def _create_claimed(self, req: CreatePayment, key: str, payment_id: str) -> Reply:
        if self.sealer is not None:
            await self.sealer.ready(req.merchant_id)  # in memory after the merchant's first
        route = await self.routes.route(req, lambda: self.machine.down(self.clock.monotonic()))
        if isinstance(route, NoRoute):
            return error_reply(422, "no_route", route.reason, route.field)
        backlog = self.store.backlog()
        refused = self.machine.refusal(route.method, backlog, self.clock.monotonic())
        if refused is not None:
            return refused
        # Screened before the balance check: nothing may await between that and the reservation.
        screening = await self.screener.screen(req, payment_id, route.method)
        if screening.action == "refuse":
            return await self._stored_instead(key, payment_id, req.request_hash) or error_reply(
                screening.status, screening.reason, screening.message, screening.field
            )
        needed = self.screener.needed(req.amount_minor)
        platform = await self.routes.platform(req.merchant_id)  # cached with the routing
        decided = self.machine.admit(req, key, payment_id, route, screening, needed, platform)
        if isinstance(decided, Reply):  # short of balance
            self.screener.unscreen(req, screening)
            # Not a replay of a payout this shard has forgotten (a restart)? Keys never expire.
            return await self._stored_instead(key, payment_id, req.request_hash) or decided
        reply = await self._admit(decided, req.request_hash)
        if reply.replayed or reply.status >= 300:
            self.screener.unscreen(req, screening)  # not stored by this request: uncount it
        return reply

    async def _stored_instead(self, key: str, payment_id: str, request_hash: str) -> Reply | None:
        """Before refusing, the stored payment's answer if this is a replay of one."""
        stored = await self._get(payment_id)
        if stored is None:
            return None
        self.claims.resolve(key, stored.request_hash)
        return await self._replay(key, payment_id, request_hash)

    async def _admit(self, admit: Admit, request_hash: str, unique: bool = False) -> Reply:
        """Store a new payment (the payment, its ``inflight`` row so a restart finds it, and a
        payout's reservation, in one transaction) before anyone calls a provider; then send."""
        payment, key = admit.payment, admit.key
        if key not in self.claims.pending:
            self.claims.claim(key, request_hash)
        self.machine.reserve(admit, 1)
        try:
            result = await self.store.insert(payment, admit.entries)
        except Exception:
            with acting_on(payment.merchant_id, payment.id):
                log.exception("storing payment %s failed", payment.id)
            result = "error"
        finally:
            self.machine.reserve(admit, -1)
        if result == "duplicate":
            # The primary key knew it although the cache did not (a restart, or an old key).
            stored = await self._get(payment.id)
            self.claims.resolve(key, stored.request_hash if stored is not None else None)
            if stored is None:
                return error_reply(503, "storage_unavailable", "could not read it; retry")
            return await self._replay(key, payment.id, request_hash, unique)
        if result != "ok":
            self.claims.resolve(key, None)
            return error_reply(503, "storage_unavailable", "could not store it; retry")
        self._run_now(self.machine.stored(admit))
        self.claims.resolve(key, payment.request_hash)
        return Reply(202, view(payment))

    async def _replay(
        self, key: str, payment_id: str, request_hash: str, conflict_ok: bool = False
    ) -> Reply:
        """The first answer again (same id), once the first copy is stored."""
        stored_hash = self.machine.idem.get(key, request_hash)
        refused = admission.replay_conflict(stored_hash, request_hash, conflict_ok)
        if refused is not None:
            return refused
        if not await self.claims.stored(key):
            return error_reply(503, "storage_unavailable", "the first copy failed; retry")
        payment = await self._get(payment_id)
        if payment is None:
            return error_reply(503, "storage_unavailable", "payment not readable yet; retry")
        return Reply(202, view(payment), replayed=True)

    # --- reversals -------------------------------------------------------------------------

    async def create_reversals(self, requests: list[CreateReversal]) -> list[Reply]:
        return list(await asyncio.gather(*(self._reverse(r) for r in requests)))

    async def _reverse(self, req: CreateReversal) -> Reply:
        """Give a collection back to the payer: one reversal per collection, ever."""
        original = await self._get(req.payment_id)
        refused = self.machine.reversal_refused(original, req)
        if refused is not None or original is None:
            return refused or error_reply(404, "not_found", f"no payment {req.payment_id}")
        key, rid = self.machine.key_and_id(req.merchant_id, f"reversal:{original.id}")
        if key in self.machine.idem:
            return await self._replay(key, rid, req.request_hash, conflict_ok=True)
        decided = self.machine.reversal(original, req, key, rid)
        if isinstance(decided, Reply):
            return decided
        return await self._admit(decided, req.request_hash, unique=True)

    # --- reviews -------------------------------------------------------------------------

    def kyc_changed(self, merchant_id: str) -> None:
        """An operator changed the merchant's KYC state or limits: the next payment reads them."""
        self.screener.forget(merchant_id)

    def held(self, merchant_id: str | None, limit: int) -> list[dict[str, Any]]:
        return self.machine.held(merchant_id, limit)

    async def review(
        self,
        merchant_id: str | None,
        payment_id: str,
        decision: str,
        reviewer: str,
        reason: str | None,
    ) -> Reply:
        payment = await self._get(payment_id)
        refused, effects = self.machine.review(
            payment, payment_id, merchant_id, decision, reviewer, reason
        )
        await self._run(effects)
        return refused or Reply(200, view(self.payments[payment_id]))

    # --- sandbox funding -------------------------------------------------------------------

    async def fund(self, merchant_id: str, idem_key: str, amount_minor: int) -> Reply:
        """Sandbox mode only (the API checks; switch/sandbox_funding.py): the shard's funding
        account gives the merchant ``amount_minor``, through the writer, so the in-memory
        balance moves with the commit. A repeated key funds nothing more (200)."""
        entry = sandbox_funding.funding(merchant_id, idem_key, amount_minor, self.shard)
        running = self._fundings.get(entry.id)
        if running is None:  # a concurrent copy of the same call waits for the first
            running = asyncio.ensure_future(self.store.post(entry))
            self._fundings[entry.id] = running
            running.add_done_callback(lambda _f: self._fundings.pop(entry.id, None))
        outcome = await asyncio.shield(running)
        if outcome == "error":
            return error_reply(503, "storage_unavailable", "the funding was not stored; retry")
        body = {
            "object": "sandbox_funding",
            "id": entry.payment_id,
            "merchant_id": merchant_id,
            # A repeated key shows no amount: the first call's may have differed.
            "amount": format_minor(amount_minor) if outcome == "ok" else None,
            "created": outcome == "ok",
            "balance": self.machine.balance(merchant_id).body,
        }
        return Reply(201 if outcome == "ok" else 200, body)

    # --- balances and reads ----------------------------------------------------------------

    def balance(self, merchant_id: str) -> Reply:
        return self.machine.balance(merchant_id)

    async def get_payments(self, requests: list[tuple[str, str]]) -> list[Reply]:
        return list(await asyncio.gather(*(self._read_one(m, p) for m, p in requests)))

    async def _read_one(self, merchant_id: str, payment_id: str) -> Reply:
        payment = await self._get(payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            return error_reply(404, "not_found", f"no payment {payment_id}")
        # Show a status only once it is stored: a crash must never take back what a client saw.
        try:
            await asyncio.wait_for(self._persisted(payment), timeout=READ_WAIT_S)
        except TimeoutError:
            return error_reply(503, "storage_unavailable", "the latest change is not stored yet")
        return Reply(200, view(payment))

    # --- C2B confirmations and callbacks ---------------------------------------------------

    async def c2b_confirmations(self, items: list[C2bIn]) -> list[CallbackVerdict]:
        return list(await asyncio.gather(*(self._c2b(i) for i in items)))

    async def _c2b(self, item: C2bIn) -> CallbackVerdict:
        """Store a confirmation as awaiting the provider's record, and ask about its receipt;
        only that record settles it (actors/shard/callbacks.py)."""
        key, payment_id, duplicate = self.machine.c2b_known(item)
        if duplicate is not None:
            await self._run(duplicate)
            return "duplicate"
        if self.sealer is not None:
            await self.sealer.ready(item.merchant_id)
        received = self.machine.c2b_received(item, key, payment_id)
        result = await self.store.insert(received, [])
        if result == "duplicate":
            return "duplicate"
        if result != "ok":
            raise RuntimeError(f"could not store C2B payment {item.trans_id}")
        await self._run(self.machine.c2b_stored(received, self.clock.time()))
        return "applied"

    # --- hub credits to collection accounts ------------------------------------------------

    async def hub_credits(self, items: list[HubCreditIn]) -> list[Reply]:
        return list(await asyncio.gather(*(self._hub_credit(i) for i in items)))

    async def _hub_credit(self, item: HubCreditIn) -> Reply:
        """Credit a merchant for a committed hub transfer to its collection account: 201 with
        the new payment, 200 with the one a first call made (one credit per transfer, ever)."""
        paid, entries = self.machine.hub_credit(item)
        running = self._credits.get(paid.id)
        if running is None:  # a concurrent copy of the same credit waits for the first
            known = await self._get(paid.id)
            if known is not None:
                return Reply(200, view(known))
            if self.sealer is not None:
                await self.sealer.ready(item.merchant_id)
            running = asyncio.ensure_future(self.store.insert(paid, entries))
            self._credits[paid.id] = running
            running.add_done_callback(lambda _f: self._credits.pop(paid.id, None))
            result = await asyncio.shield(running)
            if result == "ok":
                self._run_now(self.machine.hub_credited(paid))
                return Reply(201, view(paid))
        else:
            result = await asyncio.shield(running)
        if result == "error":
            return error_reply(503, "storage_unavailable", "the credit was not stored; retry")
        stored = await self._get(paid.id)
        if stored is None:
            return error_reply(503, "storage_unavailable", "the credit is not readable yet; retry")
        return Reply(200, view(stored))

    async def apply_callbacks(self, items: list[CallbackIn]) -> list[CallbackVerdict]:
        return list(await asyncio.gather(*(self._callback(i) for i in items)))

    async def _callback(self, item: CallbackIn) -> CallbackVerdict:
        payment = await self._get(item.payment_id)
        if payment is None:
            return "unknown_payment"
        verdict, effects = self.machine.callback(payment, item, self.clock.time())
        await self._run(effects)
        return verdict  # type: ignore[return-value]

    # --- personal data, transfers, webhooks ------------------------------------------------

    async def by_phone(self, merchant_id: str, phone: str, limit: int) -> Reply:
        return await self.personal.by_phone(merchant_id, phone, limit)

    async def erase(self, merchant_id: str, phone: str) -> Reply:
        return await self.personal.erase(merchant_id, phone, self.in_flight)

    async def create_transfers(self, requests: list[CreateTransfer]) -> list[Reply]:
        return list(await asyncio.gather(*(self.transfers.create(r) for r in requests)))

    async def get_transfers(self, requests: list[tuple[str, str]]) -> list[Reply]:
        return list(await asyncio.gather(*(self.transfers.read(m, t) for m, t in requests)))
