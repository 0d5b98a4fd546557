"""The shard's transfer saga driver (the rules are pure, in :mod:`switch.transfers`).

Each step creates the next leg through the shard's ordinary create path, with a leg key derived
from the transfer id, so a step that runs twice (after a restart, a retry, a duplicate callback)
finds the leg already there. A leg that triggered a step keeps its ``inflight`` row until that
step is stored, so a restart in between resumes the saga instead of forgetting it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from actors.replies import error_reply
from switch.idempotency import scoped_key
from switch.ids import payment_id_for
from switch.messages import CreatePayment, CreateTransfer, Reply
from switch.payments import Payment
from switch.rails import rail
from switch.states import is_final
from switch.transfers import (
    Leg,
    Step,
    leg_key,
    leg_spec,
    next_step,
    transfer_id_for,
    transfer_view,
)

log = logging.getLogger(__name__)

LEGS: tuple[Leg, ...] = ("debit", "credit", "refund")
READ_WAIT_S = 2.0


class TransferDriver:
    def __init__(
        self,
        shard: int,
        secret_key: bytes,
        create: Callable[[CreatePayment], Awaitable[Reply]],
        get: Callable[[str], Awaitable[Payment | None]],
        persisted: Callable[[Payment], Awaitable[None]],
    ) -> None:
        self.shard = shard
        self.secret_key = secret_key
        self._create = create
        self._get = get
        self._persisted = persisted
        self.holding: set[str] = set()  # legs whose next step is not stored yet
        self._locks: dict[str, asyncio.Lock] = {}

    def transfer_id(self, merchant_id: str, idem_key: str) -> str:
        return transfer_id_for(self.shard, self.secret_key, merchant_id, idem_key)

    def leg_ids(self, merchant_id: str, transfer_id: str) -> dict[Leg, str]:
        return {
            leg: payment_id_for(
                self.shard, self.secret_key, scoped_key(merchant_id, leg_key(transfer_id, leg))
            )
            for leg in LEGS
        }

    # --- the API ---------------------------------------------------------------------------

    async def create(self, req: CreateTransfer) -> Reply:
        """Start a transfer: its debit leg is the first payment; the rest follows by itself."""
        tid = self.transfer_id(req.merchant_id, req.idem_key)
        # The maker rides in the spec every leg carries, so a held onward leg has it too.
        spec = {
            "id": tid,
            "source": req.source,
            "destination": req.destination,
            "maker": req.maker,
        }
        debit = leg_spec(spec, "debit")
        reply = await self._create(
            CreatePayment(
                merchant_id=req.merchant_id,
                idem_key=leg_key(tid, "debit"),
                request_hash=req.request_hash,
                method=debit.method,
                amount_minor=req.amount_minor,
                phone=debit.phone,
                reference=req.reference,
                description=req.description,
                metadata=req.metadata,
                destination=debit.destination,
                transfer={**spec, "leg": "debit"},
                maker=req.maker,
            )
        )
        if reply.status >= 300:
            return reply  # nothing stored (or a 409 for another body under the same key)
        shown = await self.read(req.merchant_id, tid)
        return Reply(202 if shown.status == 200 else shown.status, shown.body, reply.replayed)

    async def read(self, merchant_id: str, transfer_id: str) -> Reply:
        legs = await self._legs(merchant_id, transfer_id)
        debit = legs["debit"]
        if debit is None or debit.merchant_id != merchant_id:
            return error_reply(404, "not_found", f"no transfer {transfer_id}")
        try:
            for leg in legs.values():
                if leg is not None:
                    await asyncio.wait_for(self._persisted(leg), READ_WAIT_S)
        except TimeoutError:
            return error_reply(503, "storage_unavailable", "the latest change is not stored yet")
        return Reply(200, transfer_view(debit, legs["credit"], legs["refund"]))

    # --- driving the saga ------------------------------------------------------------------

    def on_settled(self, payment: Payment) -> bool:
        """A leg reached a final state (just committed, or found so on recovery): drive the
        transfer. True while this leg must keep its inflight row."""
        if not payment.transfer or not is_final(payment.state):
            return False
        self.holding.add(payment.id)
        return True

    async def drive(self, payment: Payment) -> bool:
        """Take the next step of the transfer this leg belongs to. True once nothing is left for
        this leg to trigger (the hold can go); False to try again later."""
        spec = payment.transfer
        lock = self._locks.setdefault(spec["id"], asyncio.Lock())
        async with lock:
            try:
                done = await self._step(payment.merchant_id, spec)
            except Exception:
                log.exception("transfer %s: step failed; will retry", spec["id"])
                done = False
        if done:
            self.holding.discard(payment.id)
            self._locks.pop(spec["id"], None)
        return done

    async def _step(self, merchant_id: str, spec: dict[str, Any]) -> bool:
        legs = await self._legs(merchant_id, spec["id"])
        step = next_step(legs["debit"], legs["credit"], legs["refund"])
        if step not in (Step.CREDIT, Step.REFUND):
            return True
        debit = legs["debit"]
        assert debit is not None
        leg: Leg = "credit" if step == Step.CREDIT else "refund"
        how = leg_spec(spec, leg)
        reply = await self._create(
            CreatePayment(
                merchant_id=merchant_id,
                idem_key=leg_key(spec["id"], leg),
                request_hash=f"{spec['id']}:{leg}",
                method=how.method,
                amount_minor=debit.amount_minor,
                phone=how.phone,
                reference=debit.reference,
                description=f"Transfer {debit.reference}",
                metadata=debit.metadata,
                command=rail(how.method).default_command,
                destination=how.destination,
                transfer={**spec, "leg": leg},
                direction="payout",
                maker=str(spec.get("maker") or ""),
            )
        )
        if reply.status >= 300:
            # Typically the provider's circuit is open: the money stays in the merchant's
            # balance (the journal shows it) and the sweeper tries again.
            log.warning("transfer %s: %s leg not created yet: %s", spec["id"], leg, reply.body)
            return False
        return True

    async def _legs(self, merchant_id: str, transfer_id: str) -> dict[Leg, Payment | None]:
        ids = self.leg_ids(merchant_id, transfer_id)
        found = await asyncio.gather(*(self._get(ids[leg]) for leg in LEGS))
        return dict(zip(LEGS, found, strict=True))
