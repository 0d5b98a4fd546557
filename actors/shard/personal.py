"""Personal data (switch/pii.py): a merchant's payments found by phone, and erasure.

Erasure overwrites the person's phone, account numbers and names in every final payment of the
merchant; amounts, dates, receipts and statuses stay (payment records must be kept). Payments
still in flight are not touched: the answer says how many, and the request can be repeated once
they are final.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Container

from actors.replies import error_reply
from actors.shard.ports import PaymentStore
from infra.storage.mongo import Doc
from switch.batches import item_of_key
from switch.messages import Reply
from switch.payments import Payment, view
from switch.pii import Sealer, erased_fields

log = logging.getLogger(__name__)

# (merchant id, [(batch id, item id, payment id)]) -> how many batch items were erased.
EraseBatchItems = Callable[[str, list[tuple[str, str, str]]], Awaitable[int]]

KEPT = ["amounts", "dates", "statuses", "provider receipts", "references"]


def batch_items(docs: list[Doc], merchant_id: str) -> list[tuple[str, str, str]]:
    """The payout batch items (batch id, item id, payment id) that hold copies of these
    payments' personal data."""
    return [
        (*found, doc["_id"])
        for doc in docs
        if (found := item_of_key(str(doc.get("idem") or ""), merchant_id)) is not None
    ]


class PersonalData:
    """``opened`` opens a stored document; ``current`` is the shard's copy of a payment, if it
    has one; ``forget`` drops the shard's copy (read back erased from then on)."""

    def __init__(
        self,
        store: PaymentStore,
        sealer: Sealer | None,
        erase_batch_items: EraseBatchItems | None,
        opened: Callable[[Doc], Awaitable[Payment]],
        current: Callable[[Payment], Payment],
        forget: Callable[[str], None],
    ) -> None:
        self.store = store
        self.sealer = sealer
        self.erase_batch_items = erase_batch_items
        self.opened = opened
        self.current = current
        self.forget = forget

    async def by_phone(self, merchant_id: str, phone: str, limit: int) -> Reply:
        """A merchant's payments to or from a phone, newest first, found by the blind index."""
        if self.sealer is None:
            return error_reply(501, "not_supported", "personal data sealing is off")
        docs = await self.store.by_phone_index(merchant_id, self.sealer.bidx(phone), limit)
        found = [self.current(await self.opened(doc)) for doc in docs]
        return Reply(200, {"object": "list", "data": [view(p) for p in found]})

    async def erase(self, merchant_id: str, phone: str, in_flight: Container[str]) -> Reply:
        if self.sealer is None:
            return error_reply(501, "not_supported", "personal data sealing is off")
        bidx = self.sealer.bidx(phone)
        docs = await self.store.by_phone_index(merchant_id, bidx, None)
        busy = [d["_id"] for d in docs if d["_id"] in in_flight]
        done = [d for d in docs if d["_id"] not in in_flight]
        # The copies first: should that fail, the payments still match the phone and a repeat
        # of the request finds everything again.
        items = batch_items(done, merchant_id)
        copies = 0
        if items and self.erase_batch_items is not None:
            try:
                copies = await self.erase_batch_items(merchant_id, items)
            except Exception:
                log.exception("erasure for %s: the batch items could not be erased", merchant_id)
                return error_reply(
                    503, "unavailable", "the payout batches are unavailable; nothing was erased"
                )
        for doc in done:
            await self.store.erase(doc["_id"], erased_fields(doc, bidx))
            self.forget(doc["_id"])
        return Reply(
            200,
            {
                "object": "erasure",
                "erased": len(done),
                "batch_items": copies,
                "in_flight": len(busy),
                "kept": list(KEPT),
            },
        )
