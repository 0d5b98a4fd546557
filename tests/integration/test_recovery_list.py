"""The recovery list (issue 17): a payment carries an ``inflight`` marker in its own document
from its insert until nothing is left to resume; a restarted shard lists its payments by that
marker (a sparse index). Rows of the ``inflight`` collection an older switch wrote become markers
the first time a shard reads its list."""

from __future__ import annotations

import uuid

import pytest

from actors.shard.mongo_store import MongoPaymentStore
from app.stack import Stack

from .helpers import Api, unique_phone

pytestmark = pytest.mark.integration

NO_SHARD = 97  # no shard of the test stack has this number: its list is this test's alone


async def test_a_payment_is_marked_until_settled(merchant: Api, stack: Stack) -> None:
    assert stack.state is not None
    cols = stack.state.cols
    paid = await merchant.pay(unique_phone())
    stored = await cols.payments.find_one({"_id": paid["id"]})
    assert stored is not None and stored["inflight"] == stored["shard"]
    await merchant.wait_for(paid["id"])
    assert await cols.inflight.find_one({"_id": paid["id"]}) is None  # no row of its own


async def test_an_older_switchs_rows_become_markers(stack: Stack) -> None:
    assert stack.state is not None and stack.client is not None
    cols = stack.state.cols
    ids = [f"pay_s{NO_SHARD}_{uuid.uuid4().hex}" for _ in range(2)]
    await cols.payments.insert_many([{"_id": i, "merchant_id": "m_none"} for i in ids])
    await cols.inflight.insert_many([{"_id": i, "shard": NO_SHARD} for i in ids[:1]])
    await cols.payments.update_one({"_id": ids[1]}, {"$set": {"inflight": NO_SHARD}})
    try:
        store = MongoPaymentStore(NO_SHARD, stack.client, cols)
        assert sorted(await store.inflight()) == sorted(ids)
        assert await cols.inflight.count_documents({"shard": NO_SHARD}) == 0
        assert sorted(await store.inflight()) == sorted(ids)  # the same list again
    finally:
        await cols.payments.delete_many({"_id": {"$in": ids}})
