"""The api handlers through the in-process ports (tests/unit/api/ports.py): which shard or
gateway each request reaches, with which operation and arguments, and what the caller sees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api import callbacks, lookups, payments, reviews
from api.auth import CLAIMS
from api.errors import Handler, error_middleware
from api.state import STATE
from routing.shards import shard_for
from switch.ids import new_payment_id
from switch.messages import CreatePayment, QueryResult, Reply, StatusCheck
from switch.tokens import Claims
from tests.unit.api.ports import InProcess, in_process_state

Client = TestClient[web.Request, web.Application]
MERCHANT = "mch_1"
SHARD = shard_for(MERCHANT, 2)


def _claims(scope: str = "payments:write payouts:write", kind: str = "client") -> Claims:
    return Claims(MERCHANT, "cli_1", scope, 2**40, "t", kind=kind, issuer="")


@pytest.fixture
async def switch() -> InProcess:
    return InProcess(shards=2)


async def _client(switch: InProcess, claims: Claims, **settings: str) -> Client:
    @web.middleware
    async def signed_in(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[CLAIMS] = claims  # what the bearer middleware sets (tested on its own)
        return await handler(request)

    app = web.Application(middlewares=[error_middleware, signed_in])
    app[STATE] = in_process_state(switch, shards="2", **settings)
    app.router.add_get("/v1/balance", payments.get_balance)
    app.router.add_post("/v1/payments", payments.create_payment)
    app.router.add_get("/v1/payments/{payment_id}", payments.get_payment)
    app.router.add_post("/v1/lookups", lookups.lookup)
    app.router.add_get("/v1/operator/held", reviews.list_all_held)
    app.router.add_post("/v1/reviews/{payment_id}/approve", reviews.approve)
    app.router.add_post("/callbacks/airtel", callbacks.airtel)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(switch: InProcess) -> AsyncIterator[Client]:
    c = await _client(switch, _claims())
    yield c
    await c.close()


async def test_balance_is_asked_of_the_merchants_own_shard(
    switch: InProcess, client: Client
) -> None:
    answer = {"object": "balance", "currency": "KES", "available": "10.00", "reserved": "0.00"}
    switch.shards[SHARD].answers["balance"] = Reply(200, answer)
    resp = await client.get("/v1/balance")
    assert resp.status == 200
    assert await resp.json() == answer
    assert switch.calls() == [(f"shard-{SHARD}", "balance", (MERCHANT,))]


async def test_a_payment_travels_through_its_shards_micro_batcher(
    switch: InProcess, client: Client
) -> None:
    created = {"object": "payment", "id": "pay_x", "status": "pending"}
    switch.shards[SHARD].answers["create_payments"] = lambda reqs: [Reply(201, created)] * len(reqs)
    body = {
        "method": "mpesa_stk",
        "amount": "150.00",
        "currency": "KES",
        "phone": "0712345678",
        "reference": "INV1",
    }
    resp = await client.post("/v1/payments", json=body, headers={"Idempotency-Key": "key-1"})
    assert resp.status == 201, await resp.text()
    assert await resp.json() == created
    [(who, op, (requests,))] = switch.calls()
    assert (who, op) == (f"shard-{SHARD}", "create_payments")
    [command] = requests
    assert isinstance(command, CreatePayment)
    assert (command.merchant_id, command.idem_key, command.amount_minor, command.phone) == (
        MERCHANT,
        "key-1",
        15000,
        "254712345678",
    )
    assert command.maker == "client:cli_1"


async def test_a_shard_that_does_not_answer_is_a_503_to_retry(
    switch: InProcess, client: Client
) -> None:
    def down(_: Any) -> Any:
        raise ConnectionError("the actor died")

    switch.shards[SHARD].answers["get_payments"] = down
    resp = await client.get(f"/v1/payments/{new_payment_id(SHARD)}")
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "temporarily_unavailable"


async def test_a_payment_id_of_no_shard_is_404_without_asking_any(
    switch: InProcess, client: Client
) -> None:
    resp = await client.get(f"/v1/payments/{new_payment_id(7)}")
    assert resp.status == 404
    assert switch.calls() == []


async def test_operator_held_list_gathers_every_shard_oldest_first(switch: InProcess) -> None:
    def held(*created: str) -> Any:
        return lambda _m, _l: [{"id": f"pay_{c}", "created_at": c} for c in created]

    switch.shards[0].answers["held"] = held("2024-01-02", "2024-01-04")
    switch.shards[1].answers["held"] = held("2024-01-01", "2024-01-03")
    client = await _client(switch, _claims("operator"))
    try:
        resp = await client.get("/v1/operator/held", params={"limit": "3"})
        assert resp.status == 200
        data = (await resp.json())["data"]
    finally:
        await client.close()
    assert [p["created_at"] for p in data] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert sorted(switch.calls()) == [
        ("shard-0", "held", (None, 3)),
        ("shard-1", "held", (None, 3)),
    ]


async def test_a_review_goes_to_the_shard_its_payment_id_names(switch: InProcess) -> None:
    payment_id = new_payment_id(1)
    switch.shards[1].answers["review"] = Reply(200, {"object": "payment", "id": payment_id})
    client = await _client(switch, _claims("", kind="session"))
    try:
        resp = await client.post(f"/v1/reviews/{payment_id}/approve", json={"reason": "ok"})
        assert resp.status == 200
        missing = await client.post(f"/v1/reviews/{new_payment_id(2)}/approve")
        assert missing.status == 404
    finally:
        await client.close()
    assert switch.calls() == [
        ("shard-1", "review", (MERCHANT, payment_id, "approve", "user:cli_1", "ok"))
    ]


async def test_a_bank_lookup_asks_pesalink_and_its_outage_is_a_503(
    switch: InProcess, client: Client
) -> None:
    pesalink = switch.gateways["pesalink"]
    pesalink.answers["lookup"] = {"holder_name": "JANE W", "bank_code": "01"}
    body = {"bank": {"bank_code": "01", "account_number": "1234567890"}}
    resp = await client.post("/v1/lookups", json=body)
    assert resp.status == 200
    assert (await resp.json())["holder_name"] == "JANE W"
    assert pesalink.calls == [("lookup", ("01", "1234567890", None))]
    pesalink.answers["lookup"] = {"error": "down", "error_code": "provider_unavailable"}
    resp = await client.post("/v1/lookups", json=body)
    assert resp.status == 503


async def test_an_unsigned_airtel_callback_is_checked_with_airtel_before_any_credit(
    switch: InProcess, client: Client
) -> None:
    payment_id = new_payment_id(1)
    airtel = switch.gateways["airtel"]
    airtel.answers["check"] = [QueryResult(payment_id, None)]  # Airtel gave no word
    txn = {"id": payment_id, "message": "paid", "status_code": "TS", "airtel_money_id": "MP1"}
    resp = await client.post("/callbacks/airtel", data=orjson.dumps({"transaction": txn}))
    assert resp.status == 503
    assert airtel.calls == [("check", ([StatusCheck(payment_id, "airtel_ussd")],))]
    assert switch.shards[1].calls == []  # nothing reached the shard
