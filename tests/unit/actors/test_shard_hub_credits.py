"""Hub credits through the shard (in-memory store): a committed hub transfer to a collection
account credits the merchant once, net of the bank_credit fee, with a balanced journal entry
and the payment.succeeded webhook; concurrent and repeated calls credit nothing more."""

from __future__ import annotations

import asyncio

from switch.hub.collections import credit_key
from switch.ledger import available, fees, provider_float
from switch.messages import HubCreditIn
from tests.unit.actors.shard_rig import MERCHANT, Rig

ITEM = HubCreditIn(
    merchant_id=MERCHANT,
    transfer_id="htr_01TEST",
    amount_minor=100_000,
    account="99:0000000000",
    payer={"participant": "hpa_1", "name": "Bank 61", "bank_code": "61"},
    reference="INV-42",
    committed_at="2026-12-07T09:00:00.000Z",
)


async def test_a_hub_credit_is_stored_once_and_credits_the_merchant_net_of_its_fee() -> None:
    rig = Rig()
    await rig.start()
    first, twin = await asyncio.gather(rig.core.hub_credits([ITEM]), rig.core.hub_credits([ITEM]))
    [a], [b] = first, twin
    assert sorted((a.status, b.status)) == [200, 201] or (a.status, b.status) == (201, 201)
    assert a.body["id"] == b.body["id"]
    assert (a.body["status"], a.body["method"], a.body["fee"]) == ("succeeded", "bank_credit", "10")
    assert a.body["provider"] == {"name": "hub", "receipt": "htr_01TEST", "result_code": None}
    [again] = await rig.core.hub_credits([ITEM])
    assert (again.status, again.body["id"]) == (200, a.body["id"])
    await rig.settle()
    assert rig.core.machine.balances.of(available(MERCHANT)) == 99_000
    assert rig.store.accounts[available(MERCHANT)] == 99_000
    assert rig.store.accounts[provider_float("hub", 0)] == -100_000
    assert rig.store.accounts[fees(0)] == 1_000
    assert [e.kind for e in rig.store.journal] == ["collection"]
    assert rig.endpoint.types(a.body["id"]) == ["payment.succeeded"]
    assert rig.payment(a.body["id"]).idem_key.endswith(credit_key("htr_01TEST"))
    assert rig.stored(a.body["id"])["state"] == "succeeded"
    await rig.stop()


async def test_a_failed_commit_credits_nothing_and_the_retry_credits_once() -> None:
    rig = Rig()
    await rig.start()
    rig.store.fail_next()
    [failed] = await rig.core.hub_credits([ITEM])
    assert failed.status == 503
    assert rig.core.machine.balances.of(available(MERCHANT)) == 0
    [retried] = await rig.core.hub_credits([ITEM])
    assert retried.status == 201
    await rig.settle()
    assert rig.core.machine.balances.of(available(MERCHANT)) == 99_000
    await rig.stop()
