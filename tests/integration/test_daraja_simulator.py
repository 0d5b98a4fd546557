"""The real connector and AiohttpTransport against the Daraja simulator on a real local port.

A small aiohttp app stands in for the switch's callback endpoint. The customer acts after
``DELAY`` seconds, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from connectors.mpesa import (
    AccessToken,
    DarajaAccount,
    DarajaConnector,
    ProviderError,
    StkAccepted,
    StkPending,
    StkPushOrder,
    StkResult,
    callback_ack,
    parse_stk_callback,
)
from connectors.mpesa.simulator import SIMULATOR, SimConfig, Simulator, create_app
from connectors.mpesa.simulator.config import SANDBOX_PASSKEY
from connectors.transport import AiohttpTransport
from tests.simharness import Receiver, SimClient, staged

from .helpers import for_up_to

pytestmark = pytest.mark.integration

DELAY = 0.3  # seconds until the simulated customer acts
PAYER = "254708374149"


@dataclass
class Rig(SimClient):
    sim: Simulator
    base_url: str
    callback_url: str
    receiver: Receiver
    transport: AiohttpTransport
    daraja: DarajaConnector

    def connector(self, **change: str) -> DarajaConnector:
        fields = {
            "base_url": self.base_url,
            "consumer_key": "sandbox-key",
            "consumer_secret": "sandbox-secret",
            "shortcode": "174379",
            "passkey": SANDBOX_PASSKEY,
            **change,
        }
        return DarajaConnector(DarajaAccount(**fields), timeout=5.0)

    async def token(self, daraja: DarajaConnector | None = None) -> str:
        daraja = daraja or self.daraja
        answer = daraja.parse_token(await self.transport.send(daraja.token_request()), time.time())
        assert isinstance(answer, AccessToken), answer
        return answer.value

    async def push(
        self,
        phone: str = PAYER,
        amount: int = 150,
        *,
        token: str | None = None,
        account: dict[str, str] | None = None,
    ) -> StkAccepted | ProviderError:
        daraja = self.connector(**account) if account else self.daraja
        order = StkPushOrder(amount, phone, "INV0001", "Order 1", self.callback_url)
        request = daraja.stk_push_request(token or await self.token(), order, datetime.now(UTC))
        return daraja.parse_stk_push(await self.transport.send(request))

    async def accepted(self, phone: str = PAYER, amount: int = 150) -> StkAccepted:
        answer = await self.push(phone, amount)
        assert isinstance(answer, StkAccepted), answer
        return answer

    async def query(
        self, cid: str, account: dict[str, str] | None = None
    ) -> StkResult | StkPending | ProviderError:
        daraja = self.connector(**account) if account else self.daraja
        request = daraja.stk_query_request(await self.token(), cid, datetime.now(UTC))
        return daraja.parse_stk_query(await self.transport.send(request), checkout_request_id=cid)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    receiver = Receiver(answer=callback_ack())
    simulator = create_app(SimConfig(callback_delay=DELAY))
    async with staged(receiver, "/hooks/stk", lambda _: simulator) as stage:
        account = DarajaAccount(
            stage.base_url, "sandbox-key", "sandbox-secret", "174379", SANDBOX_PASSKEY
        )
        yield Rig(
            simulator[SIMULATOR],
            stage.base_url,
            stage.hooks_url + "/hooks/stk",
            receiver,
            stage.transport,
            DarajaConnector(account, 5.0),
        )


def stk_callback(body: bytes) -> dict[str, Any]:
    cb: dict[str, Any] = orjson.loads(body)["Body"]["stkCallback"]
    return cb


# --- OAuth -------------------------------------------------------------------------------------


async def test_token_comes_with_a_string_lifetime(rig: Rig) -> None:
    resp = await rig.transport.send(rig.daraja.token_request())
    assert resp.status == 200
    assert resp.json()["expires_in"] == "3599"
    token = rig.daraja.parse_token(resp, now=1000.0)
    assert isinstance(token, AccessToken)
    assert token.expires_at == 1000.0 + 3599 - 60


async def test_wrong_consumer_secret_is_a_bare_400(rig: Rig) -> None:
    daraja = rig.connector(consumer_secret="nope")
    resp = await rig.transport.send(daraja.token_request())
    assert (resp.status, resp.body) == (400, b"")
    assert daraja.parse_token(resp, 0.0) == ProviderError(
        "rejected", "", "HTTP 400 with an empty body", 400
    )


@pytest.mark.parametrize(
    ("path", "headers", "code"),
    [
        ("/oauth/v1/generate?grant_type=client_credentials", {}, "400.008.01"),
        (
            "/oauth/v1/generate?grant_type=password",
            {"Authorization": "Basic c2FuZGJveC1rZXk6c2FuZGJveC1zZWNyZXQ="},
            "400.008.02",
        ),
    ],
)
async def test_oauth_error_envelopes(
    rig: Rig, path: str, headers: dict[str, str], code: str
) -> None:
    resp = await rig.http("GET", path, headers=headers)
    assert (resp.status, resp.json()["errorCode"]) == (400, code)


async def test_an_expired_token_is_refused_then_a_fresh_one_works(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"token_ttl": 0.2})
    old = await rig.token()
    await asyncio.sleep(0.3)
    refused = await rig.push(token=old)
    assert isinstance(refused, ProviderError)
    assert (refused.kind, refused.code, refused.http_status) == ("invalid_token", "404.001.03", 404)
    assert isinstance(await rig.push(), StkAccepted)  # push() fetches a new token


# --- STK push and callbacks, by trigger -------------------------------------------------------


async def test_payment_end_to_end(rig: Rig) -> None:
    accepted = await rig.accepted(PAYER, 150)
    cid = accepted.checkout_request_id
    assert re.fullmatch(r"ws_CO_\d{17}708374149", cid)
    assert accepted.customer_message == "Success. Request accepted for processing"
    assert await rig.query(cid) == StkPending(cid)  # the customer has not acted yet

    [body] = await rig.receiver.wait_for(count=1)
    result = parse_stk_callback(body)
    assert (result.outcome, result.result_code, result.checkout_request_id) == (
        "succeeded",
        "0",
        cid,
    )
    assert result.merchant_request_id == accepted.merchant_request_id
    assert (result.amount, result.phone) == (150, PAYER)
    assert result.receipt is not None
    assert re.fullmatch(r"[A-Z0-9]{10}", result.receipt)
    assert result.transaction_date is not None
    assert re.fullmatch(r"20\d{12}", result.transaction_date)

    final = await rig.query(cid)
    assert isinstance(final, StkResult)
    assert (final.outcome, final.result_code) == ("succeeded", "0")
    record = await rig.control("GET", f"/stk/{cid}")
    assert (record["receipt"], record["callback_statuses"]) == (result.receipt, [200])


async def test_callback_wire_types_match_the_doc(rig: Rig) -> None:
    await rig.accepted()
    [body] = await rig.receiver.wait_for(count=1)
    cb = stk_callback(body)
    assert cb["ResultCode"] == 0  # a number
    items = cb["CallbackMetadata"]["Item"]
    assert [i["Name"] for i in items] == [
        "Amount",
        "MpesaReceiptNumber",
        "Balance",
        "TransactionDate",
        "PhoneNumber",
    ]
    assert "Value" not in items[2]
    assert b'"Value":150.0' in body
    assert isinstance(items[3]["Value"], int)
    assert items[4]["Value"] == int(PAYER)


@pytest.mark.parametrize(
    ("last_four", "code", "outcome"),
    [
        ("1032", "1032", "failed"),
        ("0001", "1", "failed"),
        ("1037", "1037", "expired"),
        ("2001", "2001", "failed"),
    ],
)
async def test_declining_triggers(rig: Rig, last_four: str, code: str, outcome: str) -> None:
    cid = (await rig.accepted("25470837" + last_four)).checkout_request_id
    [body] = await rig.receiver.wait_for(count=1)
    assert "CallbackMetadata" not in stk_callback(body)
    result = parse_stk_callback(body)
    assert (result.checkout_request_id, result.result_code, result.outcome) == (cid, code, outcome)
    assert result.amount is None
    queried = await rig.query(cid)
    assert isinstance(queried, StkResult)
    assert (queried.result_code, queried.outcome) == (code, outcome)


async def test_paid_without_callback_is_learnt_by_query(rig: Rig) -> None:
    cid = (await rig.accepted("254708370404")).checkout_request_id
    assert isinstance(await rig.query(cid), StkPending)
    await asyncio.sleep(DELAY + 0.3)
    assert rig.receiver.bodies == []
    result = await rig.query(cid)
    assert isinstance(result, StkResult)
    assert (result.outcome, result.result_code) == ("succeeded", "0")
    stats = await rig.control("GET", "/stats")
    assert (stats["push_accepted"], stats["callbacks_sent"]) == (1, 0)


async def test_amount_over_the_maximum_is_declined(rig: Rig) -> None:
    await rig.accepted(PAYER, 250_001)
    [body] = await rig.receiver.wait_for(count=1)
    assert parse_stk_callback(body).result_code == "3"


# --- subscriber lock, credentials, validation ---------------------------------------------------


async def test_a_second_push_to_a_busy_phone_is_refused(rig: Rig) -> None:
    await rig.accepted(PAYER)
    second = await rig.push(PAYER)
    assert isinstance(second, ProviderError)
    assert (second.kind, second.code, second.http_status) == ("rejected", "500.001.1001", 500)
    assert second.message.startswith("Unable to lock subscriber")
    await rig.accepted("254708374150")  # another phone is not locked
    await rig.receiver.wait_for(count=2)
    await rig.accepted(PAYER)  # the customer acted: the lock is gone


async def test_subscriber_lock_can_be_switched_off(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"lock_subscriber": False})
    first, second = await rig.accepted(), await rig.accepted()
    assert first.checkout_request_id != second.checkout_request_id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"passkey": "0" * 64}, "Wrong credentials"),
        ({"shortcode": "600000"}, "Merchant does not exist"),
    ],
)
async def test_bad_credentials_are_refused(rig: Rig, change: dict[str, str], message: str) -> None:
    answer = await rig.push(account=change)
    assert answer == ProviderError("rejected", "500.001.1001", message, 500)
    query = await rig.query("ws_CO_1", change)
    assert isinstance(query, ProviderError)
    assert query.message == message
    stats = await rig.control("GET", "/stats")
    assert (stats["push_rejected"], stats["push_accepted"]) == (1, 0)
    assert await rig.control("GET", "/stk") == []


def official_sample(**change: Any) -> dict[str, Any]:
    """The doc §4 request, as a third-party client would send it."""
    return {
        "BusinessShortCode": 174379,
        "Password": "MTc0Mzc5YmZiMjc5ZjlhYTliZGJjZjE1OGU5N2RkNzFhNDY3Y2QyZTBjODkzMDU5YjEw"
        "Zjc4ZTZiNzJhZGExZWQyYzkxOTIwMjEwNjI4MDkyNDA4",
        "Timestamp": "20210628092408",
        "TransactionType": "CustomerPayBillOnline",
        "Amount": "1",
        "PartyA": "254712345678",
        "PartyB": "174379",
        "PhoneNumber": "254712345678",
        "CallBackURL": "https://example.co.ke/hooks/stk",
        "AccountReference": "INV0001",
        "TransactionDesc": "Order 1",
        **change,
    }


async def bearer(rig: Rig) -> dict[str, str]:
    return {"Authorization": f"Bearer {await rig.token()}", "Content-Type": "application/json"}


async def test_the_official_sample_request_is_accepted_as_is(rig: Rig) -> None:
    path = "/mpesa/stkpush/v1/processrequest"
    resp = await rig.http("POST", path, official_sample(), await bearer(rig))
    assert resp.status == 200
    assert resp.json()["ResponseCode"] == "0"  # a string


@pytest.mark.parametrize(
    ("body", "headers", "status", "code", "message"),
    [
        (
            official_sample(AccountReference="A" * 13),
            {},
            400,
            "400.002.02",
            "Bad Request - Invalid AccountReference",
        ),
        (
            official_sample(TransactionDesc="D" * 14),
            {},
            400,
            "400.002.02",
            "Bad Request - Invalid TransactionDesc",
        ),
        (
            official_sample(PhoneNumber="0712345678"),
            {},
            400,
            "400.002.02",
            "Bad Request - Invalid PhoneNumber",
        ),
        (official_sample(Amount=0), {}, 400, "400.002.02", "Bad Request - Invalid Amount"),
        (b"{not json", {}, 400, "400.002.05", "Invalid Request Payload"),
        (
            official_sample(),
            {"Content-Type": "text/plain"},
            400,
            "400.002.02",
            "Bad Request - Invalid BusinessShortCode",
        ),
        (
            official_sample(),
            {"Authorization": "Bearer nope"},
            404,
            "404.001.03",
            "Invalid Access Token",
        ),
        (
            official_sample(),
            {"Authorization": "Token x"},
            404,
            "404.001.04",
            "Invalid Authentication Header",
        ),
        (official_sample(Password="bad"), {}, 500, "500.001.1001", "Wrong credentials"),
    ],
)
async def test_gateway_refusals(
    rig: Rig, body: Any, headers: dict[str, str], status: int, code: str, message: str
) -> None:
    path = "/mpesa/stkpush/v1/processrequest"
    resp = await rig.http("POST", path, body, {**await bearer(rig), **headers})
    envelope = resp.json()
    assert (resp.status, envelope["errorCode"], envelope["errorMessage"]) == (status, code, message)
    assert envelope["requestId"]


async def test_query_for_an_unknown_checkout_id(rig: Rig) -> None:
    answer = await rig.query("ws_CO_01012024000000000708374149")
    assert answer == ProviderError(
        "rejected", "400.002.02", "Bad Request - Invalid CheckoutRequestID", 400
    )


async def test_unknown_paths_and_methods_answer_in_daraja_envelopes(rig: Rig) -> None:
    missing = await rig.http("POST", "/mpesa/nothing/v1/here", {})
    assert (missing.status, missing.json()["errorCode"]) == (404, "404.001.01")
    wrong = await rig.http("GET", "/mpesa/stkpush/v1/processrequest")
    assert (wrong.status, wrong.json()["errorCode"]) == (405, "405.001")


# --- knobs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (500, "unknown", "500.003.1001"),
        (503, "retriable", "500.003.02"),
        (429, "retriable", "500.003.02"),
    ],
)
async def test_error_burst_fails_the_next_pushes_before_processing(
    rig: Rig, status: int, kind: str, code: str
) -> None:
    await rig.control("PATCH", "/config", {"error_burst": {"status": status, "count": 2}})
    for _ in range(2):
        failed = await rig.push()
        assert isinstance(failed, ProviderError)
        assert (failed.http_status, failed.kind, failed.code) == (status, kind, code)
    accepted = await rig.accepted()  # the phone was never locked by the failed pushes
    await rig.receiver.wait_for(count=1)
    await asyncio.sleep(0.1)
    assert len(rig.receiver.bodies) == 1
    records = await rig.control("GET", "/stk")
    assert [r["checkout_request_id"] for r in records] == [accepted.checkout_request_id]
    stats = await rig.control("GET", "/stats")
    assert (stats["push_requests"], stats["push_rejected"], stats["push_accepted"]) == (3, 2, 1)


async def test_duplicate_callbacks(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"duplicate_callbacks": 2})
    cid = (await rig.accepted()).checkout_request_id
    bodies = await rig.receiver.wait_for(count=3)
    assert len(set(bodies)) == 1
    assert parse_stk_callback(bodies[0]).checkout_request_id == cid
    record = await rig.control("GET", f"/stk/{cid}")
    assert record["callback_statuses"] == [200, 200, 200]


async def test_a_failed_callback_is_recorded_and_not_retried(rig: Rig) -> None:
    rig.receiver.status = 500
    cid = (await rig.accepted()).checkout_request_id
    await rig.receiver.wait_for(count=1)
    await asyncio.sleep(0.3)
    assert len(rig.receiver.bodies) == 1
    record = await rig.control("GET", f"/stk/{cid}")
    assert record["callback_statuses"] == [500]
    stats = await rig.control("GET", "/stats")
    assert (stats["callbacks_sent"], stats["callbacks_failed"]) == (1, 1)


async def test_an_unreachable_callback_url_is_recorded(rig: Rig) -> None:
    order = StkPushOrder(10, PAYER, "INV1", "x", "http://127.0.0.1:9/cb")  # discard port
    request = rig.daraja.stk_push_request(await rig.token(), order, datetime.now(UTC))
    answer = rig.daraja.parse_stk_push(await rig.transport.send(request))
    assert isinstance(answer, StkAccepted)
    for _ in for_up_to():  # the customer acts after DELAY, then the callback's connect fails
        record = await rig.control("GET", f"/stk/{answer.checkout_request_id}")
        if record["callback_statuses"]:
            break
        await asyncio.sleep(0.05)
    assert record["callback_statuses"] == [None]
    assert record["callback_error"]


async def test_latency_is_added_to_daraja_answers(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"latency": 0.25})
    started = time.monotonic()
    await rig.token()
    assert time.monotonic() - started >= 0.25


async def test_control_endpoints(rig: Rig) -> None:
    config = await rig.control("GET", "/config")
    assert config["callback_delay"] == DELAY
    assert "passkey" not in config
    assert "consumer_secret" not in config
    bad = await rig.http("PATCH", "/__sim/config", {"callback_delay": -1})
    assert bad.status == 400
    assert "callback_delay" in bad.json()["error"]

    await rig.control("PATCH", "/config", {"callback_delay": 5.0})
    cid = (await rig.accepted()).checkout_request_id
    [record] = await rig.control("GET", f"/stk?phone={PAYER}")
    assert record["checkout_request_id"] == cid
    assert (record["amount"], record["account_reference"], record["result_code"]) == (
        150,
        "INV0001",
        0,
    )
    assert await rig.control("GET", "/stk?phone=254700000000") == []
    assert (await rig.control("GET", "/stats"))["pending_customers"] == 1

    assert await rig.control("POST", "/reset") == {"reset": True}
    assert await rig.control("GET", "/stk") == []
    stats = await rig.control("GET", "/stats")
    assert (stats["push_requests"], stats["pending_customers"]) == (0, 0)
    assert (await rig.control("GET", "/config"))["callback_delay"] == DELAY
    missing = await rig.http("GET", f"/__sim/stk/{cid}")
    assert missing.status == 404
    await rig.accepted()  # the lock went with the reset; the old token is still valid


async def test_query_wire_before_and_after_the_customer_acts(rig: Rig) -> None:
    cid = (await rig.accepted()).checkout_request_id
    request = rig.daraja.stk_query_request(await rig.token(), cid, datetime.now(UTC))
    pending = await rig.transport.send(request)
    assert pending.status == 500
    assert pending.json() == {
        "requestId": cid,
        "errorCode": "500.001.1001",
        "errorMessage": "The transaction is being processed",
    }
    await asyncio.sleep(DELAY + 0.05)
    final = await rig.transport.send(request)
    assert final.status == 200
    answer = final.json()
    assert (answer["ResultCode"], answer["ResponseCode"]) == ("0", "0")  # strings
    assert answer["ResponseDescription"] == "The service request has been accepted successsfully"
    assert answer["CheckoutRequestID"] == cid
