"""The shard's side of compliance (actors/compliance.py): screening new payments, giving back
what was counted for a payment never stored, releasing what a failed payment counted, and the
review record. Without a compliance desk (unit tests of other paths) every payment is let
through and nothing is recorded."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from actors.compliance import Compliance
from actors.shard import admission
from actors.shard.effects import Record
from switch.compliance import ALLOW, Screening
from switch.logs import acting_on
from switch.messages import CreatePayment
from switch.payments import Payment

log = logging.getLogger(__name__)


class Screener:
    def __init__(
        self, compliance: Compliance | None, spawn: Callable[[Awaitable[Any]], None]
    ) -> None:
        self.compliance = compliance
        self.spawn = spawn

    def start(self) -> None:
        if self.compliance is not None:
            self.compliance.start()

    async def stop(self) -> None:
        if self.compliance is not None:
            await self.compliance.stop()

    async def screen(self, req: CreatePayment, payment_id: str, method: str) -> Screening:
        if self.compliance is None:
            return ALLOW
        try:
            return await self.compliance.screen(
                payment_id=payment_id,
                merchant_id=req.merchant_id,
                method=method,
                amount=req.amount_minor,
                phone=req.phone,
                destination=req.destination,
                metadata=req.metadata,
                stage=admission.screening_stage(req.transfer),
            )
        except Exception:
            with acting_on(req.merchant_id, payment_id):
                log.exception("screening of %s failed", payment_id)
            message = "screening is unavailable; nothing was stored. Retry with the same key."
            return Screening("refuse", "screening_unavailable", None, status=503, message=message)

    def needed(self, amount: int) -> int:
        """Approvals a held payment of this amount needs."""
        return self.compliance.needed(amount) if self.compliance is not None else 1

    def unscreen(self, req: CreatePayment, screening: Screening) -> None:
        """Not stored by this request: uncount it from today's totals."""
        if self.compliance is not None and screening.day is not None:
            give_back = self.compliance.give_back
            self.spawn(give_back(req.merchant_id, req.phone, req.amount_minor, screening.day))

    def release(self, payment: Payment) -> None:
        """No money moved: back to today's AML totals."""
        if self.compliance is not None:
            self.spawn(self.compliance.release(payment))

    def forget(self, merchant_id: str) -> None:
        if self.compliance is not None:
            self.compliance.forget(merchant_id)

    def record(self, e: Record) -> None:
        if self.compliance is None:
            return
        p = e.payment
        self.compliance.record(
            e.kind,
            payment_id=p.id,
            merchant_id=p.merchant_id,
            method=p.method,
            amount=p.amount_minor,
            phone=p.phone,
            reason=e.decision,
            reviewer=e.reviewer,
            note=e.note,
        )
