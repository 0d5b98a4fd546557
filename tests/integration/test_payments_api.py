"""STK Push collections through the public API against the Daraja simulator."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from app.stack import Stack

from .conftest import Receiver
from .helpers import Api, for_up_to, stk_body, unique_phone

pytestmark = pytest.mark.integration

TRIGGERS = [
    # suffix, status, provider result code, failure code
    ("", "succeeded", "0", None),
    ("1032", "failed", "1032", "declined"),
    ("0001", "failed", "1", "declined"),
    ("2001", "failed", "2001", "declined"),
    ("1037", "expired", "1037", "timeout"),
    ("0404", "succeeded", "0", None),  # no callback: settled by STK query
]


async def sim_records(merchant: Api, sim_url: str, phone: str) -> list[dict]:
    async with merchant.http.get(f"{sim_url}/__sim/stk", params={"phone": phone}) as resp:
        return await resp.json()


@pytest.mark.parametrize(("suffix", "status", "code", "failure"), TRIGGERS)
async def test_every_sandbox_trigger_reaches_its_final_status(
    merchant: Api,
    receiver: Receiver,
    stack: Stack,
    suffix: str,
    status: str,
    code: str,
    failure: str | None,
) -> None:
    phone = unique_phone(suffix)
    created = await merchant.pay(phone, metadata={"order": 7})
    assert created["status"] == "pending"
    assert created["phone"].startswith("2547") and "*" in created["phone"]
    assert created["amount"] == "150" and created["metadata"] == {"order": 7}

    final = await merchant.wait_for(created["id"])
    assert final["status"] == status
    assert final["provider"]["result_code"] == code
    assert final["provider"]["checkout_request_id"].startswith("ws_CO_")
    assert (final["failure"] or {}).get("code") == failure
    if failure:
        assert final["failure"]["provider_code"] == code and final["failure"]["message"]
    if suffix == "":
        assert len(final["provider"]["receipt"]) == 10
    [record] = await sim_records(merchant, stack.sim_url, "254" + phone[1:])
    assert record["amount"] == 150 and record["account_reference"] == "INV1001"
    assert str(record["result_code"]) == code
    for _ in for_up_to():  # the final webhook follows the stored status
        if len(receiver.types_for(merchant.hook, created["id"])) >= 2:
            break
        await asyncio.sleep(0.1)
    assert receiver.types_for(merchant.hook, created["id"]) == [
        "payment.processing",
        f"payment.{status}",
    ]


async def test_phone_forms_are_normalised(merchant: Api, stack: Stack) -> None:
    national = unique_phone()
    for form in ("+254" + national[1:], "254" + national[1:], national[:4] + " " + national[4:]):
        status, body, _ = await merchant.create(stk_body(form), key=uuid.uuid4().hex)
        assert status == 202, body
        await merchant.wait_for(body["id"])
    records = await sim_records(merchant, stack.sim_url, "254" + national[1:])
    assert len(records) == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 150}, "amount"),
        ({"amount": "1.5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "250001"}, "amount"),
        ({"phone": "0733123456"}, "phone"),
        ({"phone": "12345"}, "phone"),
        ({"reference": "INV 1001 TOO LONG"}, "reference"),
        ({"description": "fourteen chars"}, "description"),
        ({"currency": "USD"}, "currency"),
        ({"method": "card"}, "method"),
        ({"colour": "blue"}, "colour"),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    merchant: Api, stack: Stack, change: dict, field: str
) -> None:
    phone = unique_phone()
    body = stk_body(phone) | change
    status, answer, _ = await merchant.create(body, key=uuid.uuid4().hex)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_failed"
    assert field in [d["field"] for d in answer["error"]["details"]]
    assert all(d["reason"] for d in answer["error"]["details"])
    assert stack.state is not None
    assert (
        await stack.state.cols.payments.count_documents(
            {"merchant_id": merchant.merchant.merchant_id}
        )
        == 0
    )
    assert await sim_records(merchant, stack.sim_url, "254" + phone[1:]) == []


async def test_missing_idempotency_key_is_400_and_bad_json_is_400(merchant: Api) -> None:
    status, body, _ = await merchant.create(stk_body(unique_phone()))
    assert status == 400 and body["error"]["code"] == "idempotency_key_missing"
    headers = {**merchant.auth, "Idempotency-Key": "x", "Content-Type": "application/json"}
    async with merchant.http.post(
        f"{merchant.base}/v1/payments", data=b"{not json", headers=headers
    ) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"


async def test_same_key_same_body_replays_and_other_body_conflicts(merchant: Api) -> None:
    key, body = uuid.uuid4().hex, stk_body(unique_phone())
    first = await merchant.create(body, key=key)
    again = await merchant.create(body, key=key)
    assert first[0] == again[0] == 202
    assert first[1]["id"] == again[1]["id"]
    assert again[2].get("Idempotent-Replayed") == "true"
    status, conflict, _ = await merchant.create(body | {"amount": "151"}, key=key)
    assert status == 409 and conflict["error"]["code"] == "idempotency_key_reused"
    await merchant.wait_for(first[1]["id"])


async def test_fifty_concurrent_copies_make_one_payment_and_one_push(
    merchant: Api, stack: Stack
) -> None:
    phone = unique_phone()
    key, body = uuid.uuid4().hex, stk_body(phone)
    answers = await asyncio.gather(*(merchant.create(body, key=key) for _ in range(50)))
    assert {a[0] for a in answers} == {202}
    assert len({a[1]["id"] for a in answers}) == 1
    await merchant.wait_for(answers[0][1]["id"])
    assert len(await sim_records(merchant, stack.sim_url, "254" + phone[1:])) == 1
    assert stack.state is not None
    count = await stack.state.cols.payments.count_documents(
        {"merchant_id": merchant.merchant.merchant_id}
    )
    assert count == 1


async def test_keys_are_scoped_to_the_merchant(merchant: Api, stack: Stack, http, receiver) -> None:
    key = uuid.uuid4().hex
    a = await merchant.create(stk_body(unique_phone()), key=key)
    other = await _other_merchant(stack, receiver, http)
    b = await other.create(stk_body(unique_phone()), key=key)
    assert a[0] == b[0] == 202 and a[1]["id"] != b[1]["id"]


async def test_another_merchants_payment_is_404(
    merchant: Api, stack: Stack, http, receiver
) -> None:
    created = await merchant.pay(unique_phone())
    other = await _other_merchant(stack, receiver, http)
    status, body = await other.get(created["id"])
    assert status == 404 and body["error"]["code"] == "not_found"
    for bogus in ("pay_s0_NOTANID", "pay_s99_01JDX4Q8Z5V6W7X8Y9Z0A1B2C3", "nonsense"):
        assert (await merchant.get(bogus))[0] == 404


async def _other_merchant(stack: Stack, receiver: Receiver, http) -> Api:
    from infra.merchants import create_merchant

    assert stack.state is not None
    name = uuid.uuid4().hex[:12]
    created = await create_merchant(stack.state.cols, "Other", f"{receiver.url}/{name}")
    receiver.secrets[name] = created.webhook_secret
    api = Api(http, stack.api_url, created, name)
    await api.login()
    return api


async def test_collections_credit_the_balance_net_of_fees(merchant: Api, stack: Stack) -> None:
    assert stack.state is not None
    async with merchant.http.get(f"{merchant.base}/v1/balance", headers=merchant.auth) as r:
        assert (await r.json())["available"] == "0"
    paid = await merchant.pay(unique_phone(), amount="150")
    declined = await merchant.pay(unique_phone("1032"), amount="1000")
    await merchant.wait_for(declined["id"])
    assert (await merchant.wait_for(paid["id"]))["fee"] == "2.25"  # 1.5 % of KES 150
    async with merchant.http.get(f"{merchant.base}/v1/balance", headers=merchant.auth) as r:
        body = await r.json()
    assert body == {"object": "balance", "currency": "KES", "available": "147.75", "reserved": "0"}
    entries = [e async for e in stack.state.cols.journal.find({"payment_id": paid["id"]})]
    assert [e["kind"] for e in entries] == ["collection"]
    assert sum(line["amount"] for line in entries[0]["lines"]) == 0
    assert await stack.state.cols.journal.count_documents({"payment_id": declined["id"]}) == 0
