"""The real Airtel connector and AiohttpTransport against the Airtel simulator on a real local port.

A small aiohttp app stands in for the switch's callback endpoint (Airtel posts to the URL set in
its portal, here the simulator's ``callback_url``). The customer acts after ``DELAY`` seconds, so
the whole file runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
import pytest
from aiohttp import web

from connectors.airtel import (
    AccessToken,
    AirtelAccount,
    AirtelConnector,
    CallbackHashMismatch,
    CollectionAccepted,
    CollectionOrder,
    DisbursementOrder,
    EncryptionKey,
    ProviderError,
    RefundResult,
    TransactionResult,
    callback_ack,
    load_public_key,
)
from connectors.airtel.simulator import SIMULATOR, SimConfig, Simulator, create_app
from connectors.airtel.simulator.config import SANDBOX_CALLBACK_KEY
from connectors.http import HttpRequest, HttpResponse, OutcomeUnknown
from connectors.transport import AiohttpTransport
from tests.simharness import Receiver, SimClient, Stage, by_json, command_line, staged

pytestmark = pytest.mark.integration

DELAY = 0.2  # seconds until the simulated customer acts
PAYER = "254733123456"  # pays (no trigger)
ROUTE = "/airtel/callback"  # the switch's callback route, set in Airtel's portal


@dataclass
class Rig(SimClient):
    sim: Simulator
    base_url: str
    receiver: Receiver
    transport: AiohttpTransport
    airtel: AirtelConnector
    _token: AccessToken | None = None
    http_timeout: ClassVar[float] = 3.0

    def connector(self, **change: Any) -> AirtelConnector:
        fields = {
            "base_url": self.base_url,
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
            "pin": "1234",
            "public_key": self.airtel.account.public_key,
            "callback_key": SANDBOX_CALLBACK_KEY,
            **change,
        }
        return AirtelConnector(AirtelAccount(**fields), timeout=3.0)

    async def send(self, request: HttpRequest) -> HttpResponse:
        return await self.transport.send(request)

    async def token(self, airtel: AirtelConnector | None = None) -> str:
        """A cached token, as a client keeps one for its lifetime (doc §2)."""
        if airtel is None and self._token is not None and self._token.is_valid(time.time()):
            return self._token.value
        airtel = airtel or self.airtel
        token = airtel.parse_token(await self.send(airtel.token_request()), time.time())
        assert isinstance(token, AccessToken), token
        if airtel is self.airtel:
            self._token = token
        return token.value

    async def push(
        self, phone: str = PAYER, cents: int = 10_000, txn_id: str | None = None
    ) -> tuple[str, CollectionAccepted | ProviderError]:
        txn_id = txn_id or new_id()
        order = CollectionOrder(txn_id, cents, phone, "Order 1001")
        request = self.airtel.collection_request(await self.token(), order)
        return txn_id, self.airtel.parse_collection(await self.send(request))

    async def accepted(self, phone: str = PAYER, cents: int = 10_000) -> str:
        txn_id, answer = await self.push(phone, cents)
        assert isinstance(answer, CollectionAccepted), answer
        assert answer.transaction_id == txn_id
        return txn_id

    async def enquire(self, txn_id: str) -> TransactionResult:
        request = self.airtel.collection_enquiry_request(await self.token(), txn_id)
        result = self.airtel.parse_collection_enquiry(await self.send(request), txn_id)
        assert isinstance(result, TransactionResult), result
        return result

    async def settled(self, txn_id: str, timeout: float = 30.0) -> TransactionResult:
        deadline = time.monotonic() + timeout
        while (result := await self.enquire(txn_id)).outcome == "pending":
            assert time.monotonic() < deadline, result
            await asyncio.sleep(DELAY / 4)
        return result

    async def callback(self, txn_id: str) -> TransactionResult:
        (body,) = await self.receiver.wait_for(txn_id)
        return self.airtel.parse_callback(body)

    async def disburse(
        self,
        phone: str = PAYER,
        cents: int = 50_000,
        txn_id: str | None = None,
        airtel: AirtelConnector | None = None,
    ) -> tuple[str, TransactionResult | ProviderError]:
        airtel = airtel or self.airtel
        txn_id = txn_id or new_id("PO")
        order = DisbursementOrder(txn_id, cents, phone, "Loan 5521")
        request = airtel.disbursement_request(await self.token(), order)
        return txn_id, airtel.parse_disbursement(await self.send(request), txn_id)

    async def payout_enquiry(self, txn_id: str) -> TransactionResult:
        request = self.airtel.disbursement_enquiry_request(await self.token(), txn_id)
        result = self.airtel.parse_disbursement_enquiry(await self.send(request), txn_id)
        assert isinstance(result, TransactionResult), result
        return result

    async def refund(self, airtel_money_id: str) -> RefundResult | ProviderError:
        request = self.airtel.refund_request(await self.token(), airtel_money_id)
        return self.airtel.parse_refund(await self.send(request), airtel_money_id)

    async def entries(self, txn_id: str) -> list[dict[str, Any]]:
        ledger = await self.control("GET", "/ledger")
        return [e for e in ledger["entries"] if e["transaction_id"] == txn_id]


def new_id(prefix: str = "ORD") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    receiver = Receiver(answer=callback_ack(), key=by_json("transaction", "id"))

    def simulator(hooks_url: str) -> web.Application:
        # Callback authentication on: every callback of the file is verified by its hash.
        return create_app(
            SimConfig(callback_delay=DELAY, callback_url=hooks_url + ROUTE, callback_auth=True)
        )

    async with staged(receiver, ROUTE, simulator) as stage:
        yield await _rig(stage, receiver)


async def _rig(stage: Stage, receiver: Receiver) -> Rig:
    sim_url, transport = stage.base_url, stage.transport
    # The PIN key comes from Airtel's own endpoint, as a client would fetch it (doc §8).
    bootstrap = AirtelConnector(
        AirtelAccount(sim_url, "sandbox-client-id", "sandbox-client-secret")
    )
    token = bootstrap.parse_token(await transport.send(bootstrap.token_request()), time.time())
    assert isinstance(token, AccessToken)
    keys = await transport.send(bootstrap.encryption_keys_request(token.value))
    key = bootstrap.parse_encryption_keys(keys)
    assert isinstance(key, EncryptionKey)
    account = AirtelAccount(
        sim_url,
        "sandbox-client-id",
        "sandbox-client-secret",
        pin="1234",
        public_key=key.key,
        callback_key=SANDBOX_CALLBACK_KEY,
    )
    airtel = AirtelConnector(account, timeout=3.0)
    return Rig(stage.app[SIMULATOR], sim_url, receiver, transport, airtel)


# --- OAuth (doc §2) ------------------------------------------------------------------------------


async def test_token_lives_180_seconds_as_a_string(rig: Rig) -> None:
    resp = await rig.send(rig.airtel.token_request())
    body = resp.json()
    assert (resp.status, body["expires_in"], body["token_type"]) == (200, "180", "bearer")
    assert len(body["access_token"]) == 32
    token = rig.airtel.parse_token(resp, now=1_000.0)
    assert token == AccessToken(body["access_token"], 1_160.0)


async def test_wrong_client_secret_is_rejected(rig: Rig) -> None:
    airtel = rig.connector(client_secret="nope")
    error = airtel.parse_token(await rig.send(airtel.token_request()), 0.0)
    assert error == ProviderError("rejected", "invalid_client", "Client authentication failed", 401)


async def test_wrong_grant_type_is_rejected(rig: Rig) -> None:
    body = {"client_id": "sandbox-client-id", "client_secret": "x", "grant_type": "password"}
    resp = await rig.http("POST", "/auth/oauth2/token", body)
    assert (resp.status, resp.json()["error"]) == (400, "unsupported_grant_type")


async def test_an_expired_token_is_refused_then_a_fresh_one_works(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"token_ttl": 0.2})
    old = await rig.token(rig.connector())
    await asyncio.sleep(0.3)
    order = CollectionOrder(new_id(), 10_000, PAYER, "Order")
    refused = rig.airtel.parse_collection(await rig.send(rig.airtel.collection_request(old, order)))
    assert isinstance(refused, ProviderError)
    assert (refused.kind, refused.http_status) == ("invalid_token", 401)
    assert (await rig.http("GET", f"/__sim/collections/{order.transaction_id}")).status == 404
    fresh = await rig.token(rig.connector())
    accepted = rig.airtel.parse_collection(
        await rig.send(rig.airtel.collection_request(fresh, order))
    )
    assert isinstance(accepted, CollectionAccepted)  # the refused one was never recorded


async def test_expire_tokens_kills_live_tokens(rig: Rig) -> None:
    token = await rig.token(rig.connector())
    await rig.control("PATCH", "/config", {"expire_tokens": True})
    request = rig.airtel.collection_enquiry_request(token, "anything")
    error = rig.airtel.parse_collection_enquiry(await rig.send(request), "anything")
    assert isinstance(error, ProviderError) and error.kind == "invalid_token"


# --- Market headers and paths (doc §1, §12) ------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "change", "code"),
    [
        ("X-Country", {}, "ROUTER003"),
        ("X-Currency", {}, "ROUTER003"),
        (None, {"X-Country": "UG"}, "ROUTER006"),
        (None, {"X-Currency": "UGX"}, "ROUTER112"),
    ],
)
async def test_market_headers_are_required(
    rig: Rig, drop: str | None, change: dict[str, str], code: str
) -> None:
    request = rig.airtel.collection_enquiry_request(await rig.token(), "x")
    headers = {k: v for k, v in request.headers.items() if k != drop} | change
    resp = await rig.http("GET", "/standard/v1/payments/x", headers=headers)
    error = rig.airtel.parse_collection_enquiry(resp, "x")
    assert isinstance(error, ProviderError)
    assert (error.kind, error.code, error.http_status) == ("rejected", code, 400)


async def test_post_paths_need_the_trailing_slash(rig: Rig) -> None:
    request = rig.airtel.collection_request(
        await rig.token(), CollectionOrder(new_id(), 100, PAYER, "r")
    )
    resp = await rig.http(
        "POST", "/merchant/v1/payments", orjson.loads(request.body or b"{}"), dict(request.headers)
    )
    assert resp.status == 404
    assert resp.json()["status"] == {
        "code": "404",
        "message": "Resource not found",
        "success": False,
    }


# --- Collections, by trigger (doc §4-§6) ---------------------------------------------------------


async def test_payment_end_to_end(rig: Rig) -> None:
    txn_id = await rig.accepted(PAYER, 10_000)
    early = await rig.enquire(txn_id)
    assert (early.status, early.outcome, early.response_code) == ("TIP", "pending", "DP00800001006")
    paid = await rig.callback(txn_id)
    assert (paid.status, paid.outcome) == ("TS", "succeeded")
    assert paid.provider_message == (
        f"Paid KES 100 to SANDBOX MERCHANT, Trans ID {paid.airtel_money_id}."
    )
    final = await rig.enquire(txn_id)
    assert (final.status, final.response_code) == ("TS", "DP00800001001")
    assert final.airtel_money_id == paid.airtel_money_id
    (entry,) = await rig.entries(txn_id)
    assert (entry["kind"], entry["amount_cents"], entry["msisdn"]) == (
        "collection",
        10_000,
        "733123456",
    )


@pytest.mark.parametrize(
    ("phone", "status", "code", "callback_status"),
    [
        ("254733121002", "TF", "DP00800001002", "TF"),  # wrong PIN
        ("254733121003", "TF", "DP00800001003", "TF"),
        ("254733121004", "TF", "DP00800001004", "TF"),
        ("254733121005", "TF", "DP00800001005", "TF"),  # did not enter the PIN
        ("254733121007", "TF", "DP00800001007", "TF"),  # insufficient funds
        ("254733121008", "TF", "DP00800001008", "TF"),
        ("254733121009", "TF", "DP00800001009", "TF"),
        ("254733121010", "TF", "DP00800001010", "TF"),
        ("254733121024", "TF", "DP00800001024", "TF"),  # the customer never answered
        ("254733121029", "TE", "DP00800001029", "TF"),  # expired: the callback says TF
        ("254733121000", "TS", "DP00800001001", "TS"),  # ambiguous first, then paid
    ],
)
async def test_every_collection_trigger(
    rig: Rig, phone: str, status: str, code: str, callback_status: str
) -> None:
    txn_id = await rig.accepted(phone)
    early = await rig.enquire(txn_id)
    assert early.status == ("TA" if phone.endswith("1000") else "TIP")
    cb = await rig.callback(txn_id)
    assert (cb.status, cb.outcome) == (callback_status, "succeeded" if status == "TS" else "failed")
    final = await rig.enquire(txn_id)
    assert (final.status, final.response_code) == (status, code)
    assert final.outcome == ("succeeded" if status == "TS" else "failed")
    assert final.expired is (code in ("DP00800001024", "DP00800001029"))
    assert (final.airtel_money_id is not None) is (status == "TS")
    assert len(await rig.entries(txn_id)) == (1 if status == "TS" else 0)


async def test_no_callback_trigger_is_learnt_by_enquiry(rig: Rig) -> None:
    txn_id = await rig.accepted("254733120404")
    result = await rig.settled(txn_id)
    assert (result.status, result.outcome) == ("TS", "succeeded")
    await asyncio.sleep(DELAY)
    assert rig.receiver.of(txn_id) == []
    assert len(await rig.entries(txn_id)) == 1


async def test_unknown_subscriber_is_refused_at_once(rig: Rig) -> None:
    txn_id, error = await rig.push("254733124005")
    assert error == ProviderError("rejected", "DP00800001005", "Msisdn Not Found", 400)
    result = await rig.enquire(txn_id)
    assert (result.found, result.outcome) == (False, "pending")  # nothing was recorded


async def test_an_amount_above_the_limit_fails(rig: Rig) -> None:
    txn_id = await rig.accepted(PAYER, 25_000_100)
    assert (await rig.settled(txn_id)).response_code == "DP00800001003"


async def test_enquiry_of_an_unknown_id_is_not_found(rig: Rig) -> None:
    result = await rig.enquire("ORD-never-sent")
    assert (result.found, result.outcome, result.response_code) == (
        False,
        "pending",
        "DP00800001025",
    )


# --- Callback authentication (doc §6) ------------------------------------------------------------


@pytest.mark.parametrize("form", ["fixed_order", "as_received", "transaction_only"])
async def test_hashed_callbacks_verify(rig: Rig, form: str) -> None:
    await rig.control("PATCH", "/config", {"callback_auth": True, "hash_form": form})
    txn_id = await rig.accepted()
    (body,) = await rig.receiver.wait_for(txn_id)
    assert "hash" in orjson.loads(body)
    assert rig.connector(hash_form=form).parse_callback(body).outcome == "succeeded"
    with pytest.raises(CallbackHashMismatch):
        rig.connector(callback_key="not-the-portal-key", hash_form=form).parse_callback(body)


async def test_without_auth_a_hash_checking_client_refuses(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"callback_auth": False})
    txn_id = await rig.accepted()
    (body,) = await rig.receiver.wait_for(txn_id)
    assert "hash" not in orjson.loads(body)
    with pytest.raises(CallbackHashMismatch):
        rig.airtel.parse_callback(body)  # the rig's account expects hashes
    assert rig.connector(callback_key=None).parse_callback(body).outcome == "succeeded"


# --- Idempotency and lost answers ----------------------------------------------------------------


async def test_a_second_push_with_the_same_id_is_refused(rig: Rig) -> None:
    txn_id = await rig.accepted()
    _, again = await rig.push(PAYER, 10_000, txn_id)
    assert again == ProviderError(
        "duplicate", "ESB000041", "External Transaction ID already exists", 400
    )
    await rig.callback(txn_id)
    await asyncio.sleep(DELAY)
    assert len(rig.receiver.of(txn_id)) == 1
    assert len(await rig.entries(txn_id)) == 1


async def test_a_dropped_answer_is_recovered_by_enquiry_never_paid_twice(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"drop_sync_answer": 1})
    order = CollectionOrder(new_id(), 10_000, PAYER, "Order")
    request = rig.airtel.collection_request(await rig.token(), order)
    with pytest.raises(OutcomeUnknown):
        await rig.send(request)
    assert (await rig.enquire(order.transaction_id)).status == "TIP"  # processed after all
    _, resend = await rig.push(PAYER, 10_000, order.transaction_id)
    assert isinstance(resend, ProviderError) and resend.kind == "duplicate"
    assert (await rig.settled(order.transaction_id)).outcome == "succeeded"
    await rig.receiver.wait_for(order.transaction_id)
    assert len(await rig.entries(order.transaction_id)) == 1
    record = await rig.control("GET", f"/collections/{order.transaction_id}")
    assert record["answer_dropped"] is True
    assert (await rig.control("GET", "/stats"))["sync_answers_dropped"] == 1


async def test_a_slow_answer_times_out_but_the_push_went_out(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"latency": 0.4})
    airtel = rig.connector()
    airtel.timeout = 0.15
    order = CollectionOrder(new_id(), 10_000, PAYER, "Order")
    token = await rig.token()
    with pytest.raises(OutcomeUnknown):
        await rig.send(airtel.collection_request(token, order))
    await rig.control("PATCH", "/config", {"latency": 0})
    assert (await rig.settled(order.transaction_id)).outcome == "succeeded"


async def test_lost_callbacks_are_learnt_by_enquiry(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"lose_callbacks": 1})
    lost, kept = await rig.accepted(), await rig.accepted()
    await rig.receiver.wait_for(kept)
    assert (await rig.settled(lost)).outcome == "succeeded"
    assert rig.receiver.of(lost) == []
    assert (await rig.control("GET", "/stats"))["callbacks_lost"] == 1
    assert (await rig.control("GET", "/config"))["lose_callbacks"] == 0  # counted down


async def test_duplicate_callbacks_are_identical_and_paid_once(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"duplicate_callbacks": 2})
    txn_id = await rig.accepted()
    bodies = await rig.receiver.wait_for(txn_id, count=3)
    assert len(set(bodies)) == 1
    assert len(await rig.entries(txn_id)) == 1
    record = await rig.control("GET", f"/collections/{txn_id}")
    assert record["callback_statuses"] == [200, 200, 200]


async def test_a_failing_callback_endpoint_is_recorded_not_retried(rig: Rig) -> None:
    rig.receiver.status = 500
    txn_id = await rig.accepted()
    await rig.receiver.wait_for(txn_id)
    await asyncio.sleep(0.05)
    record = await rig.control("GET", f"/collections/{txn_id}")
    assert record["callback_statuses"] == [500]
    assert (await rig.control("GET", "/stats"))["callbacks_failed"] == 1


# --- Error bursts and outages (before any processing) ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"), [(503, "retriable"), (429, "retriable"), (500, "unknown")]
)
async def test_bursts_answer_before_processing(rig: Rig, status: int, kind: str) -> None:
    await rig.control("PATCH", "/config", {"error_burst": {"status": status, "count": 2}})
    first_id, first = await rig.push()
    _, second = await rig.push()
    for error in (first, second):
        assert isinstance(error, ProviderError)
        assert (error.kind, error.http_status) == (kind, status)
    assert not (await rig.enquire(first_id)).found  # nothing was processed
    _, third = await rig.push(PAYER, 10_000, first_id)  # the same id is free to use
    assert isinstance(third, CollectionAccepted)
    stats = await rig.control("GET", "/stats")
    assert (stats["bursts_served"], stats["collections_accepted"]) == (2, 1)


async def test_a_burst_can_target_one_api(rig: Rig) -> None:
    burst = {"status": 503, "count": 1, "api": "disbursement"}
    await rig.control("PATCH", "/config", {"error_burst": burst})
    assert isinstance((await rig.push())[1], CollectionAccepted)
    _, payout = await rig.disburse()
    assert isinstance(payout, ProviderError) and payout.kind == "retriable"
    _, again = await rig.disburse()
    assert isinstance(again, TransactionResult) and again.outcome == "succeeded"


async def test_an_outage_answers_503_everywhere_then_ends(rig: Rig) -> None:
    await rig.token()  # cached before the outage
    await rig.control("PATCH", "/config", {"outage": 0.3})
    token = rig.airtel.parse_token(await rig.send(rig.airtel.token_request()), time.time())
    assert isinstance(token, ProviderError) and token.kind == "retriable"
    txn_id, error = await rig.push()
    assert isinstance(error, ProviderError) and (error.kind, error.http_status) == (
        "retriable",
        503,
    )
    assert (await rig.control("GET", "/config"))["outage"] > 0  # control routes still answer
    await asyncio.sleep(0.35)
    _, ok = await rig.push(PAYER, 10_000, txn_id)
    assert isinstance(ok, CollectionAccepted)


# --- Refund (doc §7) -----------------------------------------------------------------------------


async def test_refund_once_then_refused(rig: Rig) -> None:
    txn_id = await rig.accepted(PAYER, 25_000)
    paid = await rig.callback(txn_id)
    assert paid.airtel_money_id is not None
    refund = await rig.refund(paid.airtel_money_id)
    assert isinstance(refund, RefundResult)
    assert (refund.outcome, refund.status, refund.response_code) == (
        "succeeded",
        "SUCCESS",
        "DP00800001006",
    )
    again = await rig.refund(paid.airtel_money_id)
    assert isinstance(again, ProviderError) and again.kind == "duplicate"
    entries = await rig.entries(txn_id)
    assert [(e["kind"], e["amount_cents"]) for e in entries] == [
        ("collection", 25_000),
        ("refund", -25_000),
    ]
    assert (await rig.control("GET", "/ledger"))["collected_cents"] == 0
    (record,) = await rig.control("GET", "/refunds")
    assert record["transaction_id"] == txn_id


async def test_a_refund_whose_answer_was_dropped_is_not_made_twice(rig: Rig) -> None:
    txn_id = await rig.accepted()
    airtel_id = (await rig.callback(txn_id)).airtel_money_id
    assert airtel_id is not None
    await rig.control("PATCH", "/config", {"drop_sync_answer": 1})
    with pytest.raises(OutcomeUnknown):
        await rig.send(rig.airtel.refund_request(await rig.token(), airtel_id))
    resend = await rig.refund(airtel_id)
    assert isinstance(resend, ProviderError) and resend.kind == "duplicate"
    assert [e["kind"] for e in await rig.entries(txn_id)] == ["collection", "refund"]


@pytest.mark.parametrize("phone", ["254733121007", None])
async def test_only_paid_collections_can_be_refunded(rig: Rig, phone: str | None) -> None:
    if phone is not None:
        txn_id = await rig.accepted(phone)
        await rig.callback(txn_id)
    error = await rig.refund("MP000000.0000.Z99999")
    assert isinstance(error, ProviderError)
    assert (error.kind, error.code, error.http_status) == ("rejected", "DP00800001025", 404)


# --- Disbursements (doc §8) ----------------------------------------------------------------------


async def test_payout_end_to_end(rig: Rig) -> None:
    float_before = (await rig.control("GET", "/ledger"))["float_cents"]
    txn_id, result = await rig.disburse(PAYER, 50_000)
    assert isinstance(result, TransactionResult)
    assert (result.status, result.outcome, result.response_code) == (
        "TS",
        "succeeded",
        "DP00900001001",
    )
    assert result.airtel_money_id and result.airtel_money_id.startswith("disburs-")
    assert result.reference_id
    again = await rig.payout_enquiry(txn_id)
    assert (again.outcome, again.airtel_money_id) == ("succeeded", result.airtel_money_id)
    ledger = await rig.control("GET", "/ledger")
    assert ledger["float_cents"] == float_before - 50_000
    (entry,) = [e for e in ledger["entries"] if e["transaction_id"] == txn_id]
    assert (entry["kind"], entry["amount_cents"]) == ("disbursement", -50_000)


@pytest.mark.parametrize(
    "digits", ["1003", "1004", "1005", "1007", "1009", "1010", "1011", "1012", "1013"]
)
async def test_every_payout_decline(rig: Rig, digits: str) -> None:
    txn_id, result = await rig.disburse("25473312" + digits)
    assert isinstance(result, TransactionResult)
    assert (result.status, result.outcome, result.response_code) == (
        "TF",
        "failed",
        "DP0090000" + digits,
    )
    assert (await rig.payout_enquiry(txn_id)).outcome == "failed"
    assert await rig.entries(txn_id) == []


@pytest.mark.parametrize(("digits", "status"), [("1006", "TIP"), ("1014", "TA"), ("1000", "TA")])
async def test_pending_payouts_settle_by_enquiry(rig: Rig, digits: str, status: str) -> None:
    txn_id, result = await rig.disburse("25473312" + digits)
    assert isinstance(result, TransactionResult)
    assert (result.status, result.outcome, result.response_code) == (
        status,
        "pending",
        "DP0090000" + digits,
    )
    assert await rig.entries(txn_id) == []
    await asyncio.sleep(DELAY * 1.5)
    final = await rig.payout_enquiry(txn_id)
    assert (final.status, final.outcome) == ("TS", "succeeded")
    assert len(await rig.entries(txn_id)) == 1


async def test_a_payout_larger_than_the_float_fails(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"float_cents": 40_000})
    _, result = await rig.disburse(PAYER, 50_000)
    assert isinstance(result, TransactionResult) and result.response_code == "DP00900001007"
    assert (await rig.control("GET", "/ledger"))["float_cents"] == 40_000


async def test_wrong_pin_and_wrong_padding_are_refused(rig: Rig) -> None:
    _, wrong_pin = await rig.disburse(airtel=rig.connector(pin="9999"))
    assert isinstance(wrong_pin, ProviderError)
    assert (wrong_pin.kind, wrong_pin.code) == ("rejected", "ROUTER115")
    _, wrong_mode = await rig.disburse(airtel=rig.connector(pin_padding="oaep-sha256"))
    assert isinstance(wrong_mode, ProviderError)
    assert (wrong_mode.kind, wrong_mode.code) == ("rejected", "ROUTER116")
    await rig.control("PATCH", "/config", {"pin_padding": "oaep-sha256"})
    _, now_ok = await rig.disburse(airtel=rig.connector(pin_padding="oaep-sha256"))
    assert isinstance(now_ok, TransactionResult) and now_ok.outcome == "succeeded"
    assert (await rig.control("GET", "/stats"))["disbursements_rejected"] == 2


async def test_a_pin_for_another_key_is_refused(rig: Rig) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    load_public_key(pem)
    _, error = await rig.disburse(airtel=rig.connector(public_key=pem))
    assert isinstance(error, ProviderError) and error.code == "ROUTER116"


async def test_a_second_payout_with_the_same_id_is_refused(rig: Rig) -> None:
    txn_id, first = await rig.disburse()
    assert isinstance(first, TransactionResult)
    _, again = await rig.disburse(txn_id=txn_id)
    assert again == ProviderError("duplicate", "DP00900001017", "Duplicate transaction id", 400)
    assert len(await rig.entries(txn_id)) == 1


async def test_a_dropped_payout_answer_is_recovered_by_enquiry(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"drop_sync_answer": 1})
    order = DisbursementOrder(new_id("PO"), 70_000, PAYER, "Loan")
    with pytest.raises(OutcomeUnknown):
        await rig.send(rig.airtel.disbursement_request(await rig.token(), order))
    found = await rig.payout_enquiry(order.transaction_id)
    assert (found.status, found.outcome) == ("TS", "succeeded")
    _, resend = await rig.disburse(PAYER, 70_000, order.transaction_id)
    assert isinstance(resend, ProviderError) and resend.kind == "duplicate"
    assert len(await rig.entries(order.transaction_id)) == 1


async def test_payout_enquiry_of_an_unknown_id(rig: Rig) -> None:
    result = await rig.payout_enquiry("PO-never-sent")
    assert (result.found, result.response_code) == (False, "DP00900001015")


# --- Control endpoints ---------------------------------------------------------------------------


async def test_bad_knobs_are_refused_with_a_reason(rig: Rig) -> None:
    resp = await rig.http("PATCH", "/__sim/config", {"latency": -1})
    assert resp.status == 400 and "latency" in resp.json()["error"]


async def test_lists_filter_and_reset_forgets(rig: Rig) -> None:
    one = await rig.accepted("254733121007")
    await rig.accepted(PAYER)
    listed = await rig.control("GET", "/collections?msisdn=733121007")
    assert [r["transaction_id"] for r in listed] == [one]
    assert len(await rig.control("GET", "/collections?limit=1")) == 1
    await rig.disburse()
    assert len(await rig.control("GET", "/disbursements")) == 1
    await rig.control("PATCH", "/config", {"latency": 0.01})
    await rig.control("POST", "/reset")
    assert await rig.control("GET", "/collections") == []
    assert (await rig.control("GET", "/ledger"))["entries"] == []
    assert (await rig.control("GET", "/config"))["latency"] == 0.0
    stats = await rig.control("GET", "/stats")
    assert (stats["collection_requests"], stats["pending_timers"]) == (0, 0)
    await asyncio.sleep(DELAY * 1.5)
    assert rig.receiver.bodies == []  # pending callbacks were cancelled too


async def test_public_key_is_served_as_pem(rig: Rig) -> None:
    resp = await rig.http("GET", "/__sim/public_key")
    assert resp.status == 200 and resp.body.startswith(b"-----BEGIN PUBLIC KEY-----")


# --- The command line ----------------------------------------------------------------------------


async def test_python_dash_m_serves_the_simulator() -> None:
    args = ("--callback-delay", "0.5", "--token-ttl", "60")
    async with command_line("connectors.airtel.simulator", *args) as (_, config):
        assert (config["callback_delay"], config["token_ttl"]) == (0.5, 60.0)
