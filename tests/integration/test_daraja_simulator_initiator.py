"""The real connector against the Daraja simulator's initiator APIs and C2B, on a real local port.

B2C v3 (every trigger, credential, duplicate OriginatorConversationID, dropped answer, lost and
duplicated Results, float), Transaction Status, Reversal, Account Balance, C2B register URL, a
customer paying with validation and confirmation, and the new fault knobs. A small aiohttp app
stands in for the switch's ResultURL/QueueTimeOutURL and C2B URLs. Results arrive ``DELAY``
seconds after a request, so the whole file runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
import pytest

from connectors.http import HttpRequest, HttpResponse, OutcomeUnknown
from connectors.mpesa import (
    AccessToken,
    AccountBalanceResult,
    B2cAccepted,
    B2cOrder,
    B2cResult,
    BalanceQuery,
    C2bAccepted,
    C2bRegistration,
    C2bSimulation,
    DarajaAccount,
    DarajaConnector,
    InitiatorAccepted,
    ProviderError,
    ReversalOrder,
    ReversalResult,
    StatusQuery,
    StkPushOrder,
    TransactionStatusResult,
    c2b_accept,
    c2b_confirmation_ack,
    c2b_reject,
    parse_account_balance,
    parse_b2c_result,
    parse_c2b_payment,
    parse_result,
    parse_reversal_result,
    parse_transaction_status,
)
from connectors.mpesa.simulator import SIMULATOR, SimConfig, Simulator, certificate_pem, create_app
from connectors.mpesa.simulator.config import SANDBOX_PASSKEY
from connectors.transport import AiohttpTransport
from tests.simharness import Receiver, SimClient, by_path, staged

pytestmark = pytest.mark.integration

DELAY = 0.2  # seconds until a Result is sent
RECIPIENT = "254712345678"  # the doc §8 sample recipient: JANE WANJIKU DOE
PAYBILL = "600984"  # a C2B shortcode (doc §6 sample)
START_FLOAT = 1_000_000_000  # cents: the simulator's default B2C float


@dataclass
class Rig(SimClient):
    sim: Simulator
    base_url: str
    hooks_url: str
    hooks: Receiver
    transport: AiohttpTransport
    daraja: DarajaConnector

    def url(self, name: str) -> str:
        return f"{self.hooks_url}/hooks/{name}"

    def connector(self, **change: Any) -> DarajaConnector:
        fields = {**_account_fields(self.base_url), **change}
        return DarajaConnector(DarajaAccount(**fields), timeout=5.0)

    async def token(self) -> str:
        resp = await self.transport.send(self.daraja.token_request())
        answer = self.daraja.parse_token(resp, time.time())
        assert isinstance(answer, AccessToken), answer
        return answer.value

    async def send(self, request: HttpRequest) -> HttpResponse:
        return await self.transport.send(request)

    def order(self, phone: str = RECIPIENT, amount: int = 150, **change: Any) -> B2cOrder:
        fields: dict[str, Any] = {
            "originator_conversation_id": f"payout-{uuid.uuid4().hex[:12]}",
            "command_id": "BusinessPayment",
            "amount": amount,
            "phone": phone,
            "remarks": "Loan disbursement",
            "occasion": "April",
            "result_url": self.url("result"),
            "queue_timeout_url": self.url("timeout"),
            **change,
        }
        return B2cOrder(**fields)

    async def b2c(
        self, order: B2cOrder, daraja: DarajaConnector | None = None
    ) -> B2cAccepted | ProviderError:
        daraja = daraja or self.daraja
        resp = await self.send(daraja.b2c_request(await self.token(), order))
        return daraja.parse_b2c_ack(resp)

    async def paid(self, phone: str = RECIPIENT, amount: int = 150) -> tuple[B2cOrder, B2cResult]:
        """A payout whose Result has arrived."""
        order = self.order(phone, amount)
        seen = self.hooks.count("result")
        assert isinstance(await self.b2c(order), B2cAccepted)
        bodies = await self.hooks.wait_for("result", seen + 1)
        return order, parse_b2c_result(bodies[seen])

    async def initiator(self, request: HttpRequest) -> InitiatorAccepted:
        answer = self.daraja.parse_initiator_ack(await self.send(request))
        assert isinstance(answer, InitiatorAccepted), answer
        return answer

    async def status(self, **query: Any) -> TransactionStatusResult:
        seen = self.hooks.count("status")
        q = StatusQuery(self.url("status"), self.url("timeout"), **query)
        await self.initiator(self.daraja.transaction_status_request(await self.token(), q))
        bodies = await self.hooks.wait_for("status", seen + 1)
        return parse_transaction_status(bodies[seen])

    async def reverse(self, receipt: str, amount: int, party: str) -> ReversalResult:
        seen = self.hooks.count("reversal")
        order = ReversalOrder(receipt, amount, self.url("reversal"), self.url("timeout"), party)
        await self.initiator(self.daraja.reversal_request(await self.token(), order))
        bodies = await self.hooks.wait_for("reversal", seen + 1)
        return parse_reversal_result(bodies[seen])

    async def balance(self, party: str | None = None) -> AccountBalanceResult:
        seen = self.hooks.count("balance")
        query = BalanceQuery(self.url("balance"), self.url("timeout"), party)
        await self.initiator(self.daraja.account_balance_request(await self.token(), query))
        bodies = await self.hooks.wait_for("balance", seen + 1)
        return parse_account_balance(bodies[seen])

    async def register(
        self,
        shortcode: str = PAYBILL,
        response_type: Literal["Completed", "Cancelled"] = "Completed",
        version: int = 2,
    ) -> C2bAccepted | ProviderError:
        urls = (self.url("confirm"), self.url("validate"))
        registration = C2bRegistration(shortcode, *urls, response_type)
        request = self.daraja.c2b_register_request(await self.token(), registration, version)
        return self.daraja.parse_c2b_ack(await self.send(request))

    async def customer_pays(self, **change: Any) -> dict[str, Any]:
        body = {"shortcode": PAYBILL, "amount": 500, "msisdn": "254708374149", "bill_ref": "ACC001"}
        record: dict[str, Any] = await self.control("POST", "/c2b/pay", {**body, **change})
        return record


def _account_fields(base_url: str) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "consumer_key": "sandbox-key",
        "consumer_secret": "sandbox-secret",
        "shortcode": "174379",
        "passkey": SANDBOX_PASSKEY,
        "initiator_name": "sandbox-initiator",
        "initiator_password": "sandbox-initiator-password",
        "certificate_pem": certificate_pem(),
        "b2c_shortcode": "600000",
    }


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    hooks = Receiver(answer=c2b_confirmation_ack(), key=by_path("name"))
    simulator = create_app(SimConfig(callback_delay=DELAY, c2b_validation_timeout=0.4))
    async with staged(hooks, "/hooks/{name}", lambda _: simulator) as stage:
        daraja = DarajaConnector(DarajaAccount(**_account_fields(stage.base_url)), 5.0)
        url = stage.base_url
        yield Rig(simulator[SIMULATOR], url, stage.hooks_url, hooks, stage.transport, daraja)


def envelope(body: bytes) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(body)["Result"]
    return result


# --- B2C: success and the wire -----------------------------------------------------------------


async def test_payout_end_to_end(rig: Rig) -> None:
    order = rig.order(RECIPIENT, 150)
    accepted = await rig.b2c(order)
    assert isinstance(accepted, B2cAccepted)
    assert accepted.originator_conversation_id == order.originator_conversation_id
    assert re.fullmatch(r"AG_\d{8}_[0-9a-f]{20}", accepted.conversation_id)
    [body] = await rig.hooks.wait_for("result")
    result = parse_b2c_result(body)
    assert (result.outcome, result.result_code) == ("succeeded", "0")
    assert result.conversation_id == accepted.conversation_id
    assert result.receipt is not None
    assert re.fullmatch(r"[A-Z0-9]{10}", result.receipt)
    assert (result.amount_cents, result.receiver_phone) == (15_000, RECIPIENT)
    assert result.receiver_name == "JANE WANJIKU DOE"
    assert result.utility_balance_cents == START_FLOAT - 15_000
    assert result.recipient_registered is True
    assert result.completed_at is not None
    assert abs((result.completed_at - datetime.now(UTC)).total_seconds()) < 5

    payout = await rig.control("GET", f"/b2c/{order.originator_conversation_id}")
    assert (payout["state"], payout["paid"]) == ("completed", True)
    assert payout["receipt"] == result.receipt
    assert payout["result_statuses"] == [200]
    assert (await rig.control("GET", "/config"))["b2c_float_cents"] == START_FLOAT - 15_000


async def test_result_wire_matches_the_doc_sample_shape(rig: Rig) -> None:
    await rig.b2c(rig.order())
    [body] = await rig.hooks.wait_for("result")
    result = envelope(body)
    assert (result["ResultType"], result["ResultCode"]) == (0, 0)  # numbers for B2C
    params = result["ResultParameters"]["ResultParameter"]
    assert [p["Key"] for p in params] == [
        "TransactionAmount",
        "TransactionReceipt",
        "ReceiverPartyPublicName",
        "TransactionCompletedDateTime",
        "B2CUtilityAccountAvailableFunds",
        "B2CWorkingAccountAvailableFunds",
        "B2CRecipientIsRegisteredCustomer",
        "B2CChargesPaidAccountAvailableFunds",
    ]
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d", params[3]["Value"])
    assert params[2]["Value"] == f"{RECIPIENT} - JANE WANJIKU DOE"
    assert result["ReferenceData"]["ReferenceItem"]["Key"] == "QueueTimeoutURL"  # an object


async def test_the_doc_sample_request_with_numbers_and_occasion_spellings(rig: Rig) -> None:
    headers = {"Authorization": f"Bearer {await rig.token()}", "Content-Type": "application/json"}
    sample = {
        "OriginatorConversationID": "payout-2024-000123",
        "InitiatorName": "sandbox-initiator",
        "SecurityCredential": rig.daraja.security_credential(),
        "CommandID": "SalaryPayment",
        "Amount": "10",
        "PartyA": 600000,
        "PartyB": 254712345678,
        "Remarks": "Loan disbursement",
        "QueueTimeOutURL": rig.url("timeout"),
        "ResultURL": rig.url("result"),
        "Occasion": "legacy spelling",
    }
    resp = await rig.http("POST", "/mpesa/b2c/v3/paymentrequest", sample, headers)
    assert resp.status == 200
    assert resp.json()["ResponseCode"] == "0"
    assert resp.json()["ResponseDescription"] == "Accept the service request successfully."
    [body] = await rig.hooks.wait_for("result")
    assert parse_b2c_result(body).outcome == "succeeded"
    payout = await rig.control("GET", "/b2c/payout-2024-000123")
    assert (payout["amount"], payout["occasion"]) == (10, "legacy spelling")


# --- B2C: triggers -----------------------------------------------------------------------------

FAILING_TRIGGERS = [
    ("0001", "1"),
    ("0002", "2"),
    ("0003", "3"),
    ("0004", "4"),
    ("0008", "8"),
    ("0011", "11"),
    ("0021", "21"),
    ("2001", "2001"),
    ("2006", "2006"),
    ("2028", "2028"),
    ("2040", "2040"),
    ("8006", "8006"),
    ("9003", "SFC_IC0003"),
]


@pytest.mark.parametrize(("last_four", "code"), FAILING_TRIGGERS)
async def test_failing_triggers_move_no_money(rig: Rig, last_four: str, code: str) -> None:
    order, result = await rig.paid("25471234" + last_four)
    assert (result.result_code, result.outcome, result.receipt) == (code, "failed", None)
    assert "ResultParameters" not in envelope(rig.hooks.of("result")[0])
    payout = await rig.control("GET", f"/b2c/{order.originator_conversation_id}")
    assert (payout["state"], payout["paid"], payout["receipt"]) == ("failed", False, None)
    assert payout["transaction_id"].endswith("0000000")  # a placeholder (doc §7)
    assert (await rig.control("GET", "/config"))["b2c_float_cents"] == START_FLOAT


async def test_paid_without_result_is_found_by_transaction_status(rig: Rig) -> None:
    order = rig.order("254712340404", 200)
    assert isinstance(await rig.b2c(order), B2cAccepted)
    await asyncio.sleep(DELAY + 0.15)
    assert rig.hooks.count("result") == 0
    status = await rig.status(original_conversation_id=order.originator_conversation_id)
    assert (status.lookup, status.status, status.outcome) == ("found", "Completed", "succeeded")
    assert status.amount_cents == 20_000
    assert status.original_originator_conversation_id == order.originator_conversation_id
    payout = await rig.control("GET", f"/b2c/{order.originator_conversation_id}")
    assert (payout["state"], payout["result_lost"]) == ("completed", True)


async def test_queue_timeout_goes_to_the_timeout_url_and_pays_nothing(rig: Rig) -> None:
    order = rig.order("254712340408")
    assert isinstance(await rig.b2c(order), B2cAccepted)
    [body] = await rig.hooks.wait_for("timeout")
    assert rig.hooks.count("result") == 0
    result = parse_b2c_result(body)
    assert (result.outcome, result.receipt) == ("pending", None)  # unknown code: check status
    payout = await rig.control("GET", f"/b2c/{order.originator_conversation_id}")
    assert (payout["state"], payout["paid"]) == ("timed_out", False)
    status = await rig.status(original_conversation_id=order.originator_conversation_id)
    assert (status.lookup, status.outcome) == ("not_found", "pending")


async def test_queue_timeouts_knob(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"queue_timeouts": 1})
    first, second = rig.order(), rig.order()
    await rig.b2c(first)
    await rig.b2c(second)
    await rig.hooks.wait_for("timeout")
    [body] = await rig.hooks.wait_for("result")
    assert parse_b2c_result(body).originator_conversation_id == second.originator_conversation_id
    assert (await rig.control("GET", "/config"))["queue_timeouts"] == 0


# --- B2C: credentials, duplicates, limits, float -----------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"initiator_password": "wrong-password"},
        {"initiator_name": "someone-else"},
    ],
)
async def test_wrong_initiator_gives_result_2001(rig: Rig, change: dict[str, str]) -> None:
    daraja = rig.connector(**change)
    order = rig.order()
    accepted = await rig.b2c(order, daraja)
    assert isinstance(accepted, B2cAccepted)  # the gateway does not check it (doc §8 sample)
    [body] = await rig.hooks.wait_for("result")
    result = parse_b2c_result(body)
    assert (result.result_code, result.outcome) == ("2001", "failed")
    assert result.result_desc == "The initiator information is invalid."
    assert (await rig.control("GET", "/config"))["b2c_float_cents"] == START_FLOAT


async def test_a_credential_that_is_not_ours_gives_2001(rig: Rig) -> None:
    headers = {"Authorization": f"Bearer {await rig.token()}", "Content-Type": "application/json"}
    request = rig.daraja.b2c_request(await rig.token(), rig.order())
    body = orjson.loads(request.body or b"{}")
    body["SecurityCredential"] = "bm90IGEgY2lwaGVydGV4dA=="
    resp = await rig.http("POST", "/mpesa/b2c/v3/paymentrequest", body, headers)
    assert resp.status == 200
    [result] = await rig.hooks.wait_for("result")
    assert parse_b2c_result(result).result_code == "2001"


async def test_duplicate_originator_conversation_id(rig: Rig) -> None:
    order = rig.order()
    assert isinstance(await rig.b2c(order), B2cAccepted)
    again = await rig.b2c(order)
    assert again == ProviderError(
        "duplicate", "500.002.1001", "Duplicate OriginatorConversationID.", 500
    )
    await rig.hooks.wait_for("result")
    assert len(await rig.control("GET", "/b2c")) == 1
    stats = await rig.control("GET", "/stats")
    assert (stats["b2c_accepted"], stats["b2c_rejected"], stats["b2c_paid"]) == (1, 1, 1)


async def test_amount_limits_are_result_codes(rig: Rig) -> None:
    headers = {"Authorization": f"Bearer {await rig.token()}", "Content-Type": "application/json"}
    for amount, code in ((9, "2"), (250_001, "3")):
        body = orjson.loads(rig.daraja.b2c_request("t", rig.order()).body or b"{}")
        body["Amount"] = amount
        resp = await rig.http("POST", "/mpesa/b2c/v3/paymentrequest", body, headers)
        assert resp.status == 200
        bodies = await rig.hooks.wait_for("result", 1 if code == "2" else 2)
        assert parse_b2c_result(bodies[-1]).result_code == code


async def test_float_runs_out(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"b2c_float_cents": 15_000})
    _, first = await rig.paid(amount=100)
    assert (first.outcome, first.utility_balance_cents) == ("succeeded", 5_000)
    _, second = await rig.paid(amount=100)
    assert (second.result_code, second.outcome) == ("1", "failed")
    balance = await rig.balance()
    utility = balance.account("Utility Account")
    assert utility is not None
    assert utility.available_cents == 5_000
    payouts = await rig.control("GET", "/b2c")
    assert [p["paid"] for p in payouts] == [True, False]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"Remarks": "x"}, "Remarks"),
        ({"PartyB": "0712345678"}, "PartyB"),
        ({"CommandID": "Payout"}, "CommandID"),
        ({"Amount": 0}, "Amount"),
        ({"ResultURL": "not a url"}, "ResultURL"),
        ({"OriginatorConversationID": ""}, "OriginatorConversationID"),
    ],
)
async def test_gateway_refuses_bad_fields(rig: Rig, change: dict[str, Any], field: str) -> None:
    headers = {"Authorization": f"Bearer {await rig.token()}", "Content-Type": "application/json"}
    body = {**orjson.loads(rig.daraja.b2c_request("t", rig.order()).body or b"{}"), **change}
    resp = await rig.http("POST", "/mpesa/b2c/v3/paymentrequest", body, headers)
    assert (resp.status, resp.json()["errorMessage"]) == (400, f"Bad Request - Invalid {field}")
    assert await rig.control("GET", "/b2c") == []


# --- B2C: faults -------------------------------------------------------------------------------


async def test_dropped_answer_then_transaction_status_finds_the_payout(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"drop_sync_answer": 1})
    order = rig.order(amount=300)
    request = rig.daraja.b2c_request(await rig.token(), order)
    with pytest.raises(OutcomeUnknown):
        await rig.send(request)
    # The money moved although the answer was lost; the switch asks instead of resending.
    status = await rig.status(original_conversation_id=order.originator_conversation_id)
    assert (status.lookup, status.outcome, status.status) == ("found", "succeeded", "Completed")
    assert status.amount_cents == 30_000
    [body] = await rig.hooks.wait_for("result")
    receipt = parse_b2c_result(body).receipt
    assert status.receipt == receipt
    by_receipt = await rig.status(transaction_id=receipt)
    assert by_receipt.original_originator_conversation_id == order.originator_conversation_id
    resent = await rig.b2c(order)  # a blind resend would be refused, not paid twice
    assert isinstance(resent, ProviderError)
    assert resent.kind == "duplicate"
    [payout] = await rig.control("GET", "/b2c")
    assert (payout["answer_dropped"], payout["paid"]) == (True, True)
    assert (await rig.control("GET", "/stats"))["sync_answers_dropped"] == 1


async def test_lost_result_callback(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"lose_result_callbacks": 1})
    lost, kept = rig.order(), rig.order()
    await rig.b2c(lost)
    await rig.b2c(kept)
    [body] = await rig.hooks.wait_for("result")
    assert parse_b2c_result(body).originator_conversation_id == kept.originator_conversation_id
    status = await rig.status(original_conversation_id=lost.originator_conversation_id)
    assert (status.lookup, status.outcome) == ("found", "succeeded")
    stats = await rig.control("GET", "/stats")
    assert (stats["results_lost"], stats["b2c_paid"]) == (1, 2)


async def test_duplicate_result_callbacks(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"duplicate_result_callbacks": 2})
    order = rig.order()
    await rig.b2c(order)
    bodies = await rig.hooks.wait_for("result", 3)
    assert len(set(bodies)) == 1
    payout = await rig.control("GET", f"/b2c/{order.originator_conversation_id}")
    assert payout["result_statuses"] == [200, 200, 200]
    assert (await rig.control("GET", "/config"))["b2c_float_cents"] == START_FLOAT - 15_000


async def test_error_burst_for_b2c_only(rig: Rig) -> None:
    burst = {"status": 429, "count": 1, "api": "b2c"}
    await rig.control("PATCH", "/config", {"error_burst": burst})
    assert (await rig.control("GET", "/config"))["error_burst"] == burst
    stk = StkPushOrder(10, "254708374149", "INV1", "x", rig.url("stk"))
    push = rig.daraja.stk_push_request(await rig.token(), stk, datetime.now(UTC))
    assert (await rig.send(push)).status == 200  # STK is not hit by a B2C burst
    refused = await rig.b2c(rig.order())
    assert isinstance(refused, ProviderError)
    assert (refused.kind, refused.http_status, refused.code) == ("retriable", 429, "500.003.02")
    assert isinstance(await rig.b2c(rig.order()), B2cAccepted)
    assert len(await rig.control("GET", "/b2c")) == 1


async def test_outage_answers_503_everywhere_then_ends(rig: Rig) -> None:
    token = await rig.token()
    await rig.control("PATCH", "/config", {"outage": 0.4})
    assert 0 < (await rig.control("GET", "/config"))["outage"] <= 0.4
    for resp in (
        await rig.send(rig.daraja.token_request()),
        await rig.send(rig.daraja.b2c_request(token, rig.order())),
    ):
        error = rig.daraja.parse_b2c_ack(resp)
        assert isinstance(error, ProviderError)
        assert (error.http_status, error.kind) == (503, "retriable")
    await asyncio.sleep(0.45)
    assert isinstance(await rig.b2c(rig.order()), B2cAccepted)
    assert (await rig.control("GET", "/config"))["outage"] == 0


async def test_expire_tokens(rig: Rig) -> None:
    token = await rig.token()
    assert (await rig.control("POST", "/expire_tokens"))["expired"] >= 1
    resp = await rig.send(rig.daraja.b2c_request(token, rig.order()))
    error = rig.daraja.parse_b2c_ack(resp)
    assert isinstance(error, ProviderError)
    assert (error.kind, error.code, error.http_status) == ("invalid_token", "401.002.01", 401)
    assert token not in error.message  # echoed by Daraja (doc §2), redacted by the parser
    fresh = await rig.token()
    await rig.control("PATCH", "/config", {"expire_tokens": True})
    status = rig.daraja.transaction_status_request(
        fresh, StatusQuery(rig.url("status"), rig.url("timeout"), transaction_id="SG632NMUAB")
    )
    error = rig.daraja.parse_initiator_ack(await rig.send(status))
    assert isinstance(error, ProviderError)
    assert (error.code, error.http_status) == ("400.003.01", 400)  # per-API envelope (doc §2)


# --- Transaction Status ------------------------------------------------------------------------


async def test_transaction_status_by_receipt(rig: Rig) -> None:
    _, paid = await rig.paid(amount=250)
    status = await rig.status(transaction_id=paid.receipt)
    assert (status.lookup, status.status, status.outcome) == ("found", "Completed", "succeeded")
    assert (status.receipt, status.amount_cents) == (paid.receipt, 25_000)
    assert status.debit_party == "600000 - Sandbox Org"
    assert status.credit_party == f"{RECIPIENT} - JANE WANJIKU DOE"  # the second DebitPartyName
    assert status.reason_type == "Business Payment to Customer via API"
    assert status.initiated_at is not None
    body = envelope(rig.hooks.of("status")[0])
    keys = [p["Key"] for p in body["ResultParameters"]["ResultParameter"]]
    assert keys.count("DebitPartyName") == 2
    assert body["ReferenceData"]["ReferenceItem"] == {"Key": "Occasion"}  # no Value


async def test_transaction_status_while_the_payout_is_processing(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"callback_delay": 0.8})
    order = rig.order()
    await rig.b2c(order)
    await rig.control("PATCH", "/config", {"callback_delay": 0.1})
    status = await rig.status(original_conversation_id=order.originator_conversation_id)
    assert (status.lookup, status.status, status.outcome) == ("found", "Pending", "pending")


async def test_transaction_status_of_failed_and_unknown(rig: Rig) -> None:
    order, _ = await rig.paid("254712342001")
    failed = await rig.status(original_conversation_id=order.originator_conversation_id)
    assert (failed.lookup, failed.status, failed.outcome) == ("found", "Declined", "failed")
    missing = await rig.status(transaction_id="SAA0000001")
    assert (missing.lookup, missing.outcome) == ("not_found", "pending")
    assert missing.result_code == "2032"


async def test_transaction_status_with_a_wrong_credential_is_a_failed_lookup(rig: Rig) -> None:
    daraja = rig.connector(initiator_password="nope")
    query = StatusQuery(rig.url("status"), rig.url("timeout"), transaction_id="SG632NMUAB")
    await rig.initiator(daraja.transaction_status_request(await rig.token(), query))
    [body] = await rig.hooks.wait_for("status")
    status = parse_transaction_status(body)
    assert (status.lookup, status.outcome, status.result_code) == ("failed", "pending", "2001")


async def test_transaction_status_of_an_stk_payment(rig: Rig) -> None:
    order = StkPushOrder(75, "254708374149", "INV1", "x", rig.url("stk"))
    push = rig.daraja.stk_push_request(await rig.token(), order, datetime.now(UTC))
    assert (await rig.send(push)).status == 200
    [callback] = await rig.hooks.wait_for("stk")
    receipt = rig.daraja.parse_stk_callback(callback).receipt
    status = await rig.status(transaction_id=receipt, party_a="174379")
    assert (status.status, status.amount_cents, status.receipt) == ("Completed", 7_500, receipt)


# --- Reversal ----------------------------------------------------------------------------------


async def test_reversal_of_a_c2b_payment_then_again(rig: Rig) -> None:
    paid = await rig.customer_pays(amount=500)
    receipt = paid["trans_id"]
    first = await rig.reverse(receipt, 500, PAYBILL)
    assert (first.outcome, first.original_transaction_id) == ("succeeded", receipt)
    assert first.reversal_receipt is not None
    assert first.reversal_receipt != receipt
    assert first.amount_cents == 50_000
    assert first.debit_account is not None
    assert (first.debit_account.name, first.debit_account.available_cents) == ("Utility Account", 0)
    again = await rig.reverse(receipt, 500, PAYBILL)
    assert (again.result_code, again.outcome, again.reversal_receipt) == ("R000001", "failed", None)
    [payment] = await rig.control("GET", "/c2b")
    assert payment["reversed_by"] == first.reversal_receipt
    wire = envelope(rig.hooks.of("reversal")[1])
    assert wire["ResultCode"] == "R000001"  # a string


async def test_reversal_of_an_stk_payment_and_of_what_cannot_be_reversed(rig: Rig) -> None:
    order = StkPushOrder(60, "254708374149", "INV1", "x", rig.url("stk"))
    await rig.send(rig.daraja.stk_push_request(await rig.token(), order, datetime.now(UTC)))
    [callback] = await rig.hooks.wait_for("stk")
    receipt = rig.daraja.parse_stk_callback(callback).receipt
    assert receipt is not None
    wrong_party = await rig.reverse(receipt, 60, PAYBILL)
    assert wrong_party.result_code == "R000002"
    reversed_ = await rig.reverse(receipt, 60, "174379")
    assert reversed_.outcome == "succeeded"
    _, payout = await rig.paid()
    assert payout.receipt is not None
    b2c = await rig.reverse(payout.receipt, 150, "600000")  # B2C is portal-only (doc §8)
    assert (b2c.result_code, b2c.outcome) == ("R000002", "failed")
    unknown = await rig.reverse("SZZ9999999", 1, PAYBILL)
    assert unknown.result_code == "R000002"


async def test_reversal_request_needs_the_misspelt_field(rig: Rig) -> None:
    request = rig.daraja.reversal_request(
        await rig.token(), ReversalOrder("SG632NMUAB", 1, rig.url("r"), rig.url("t"))
    )
    body = orjson.loads(request.body or b"{}")
    assert body["RecieverIdentifierType"] == "11"
    body["ReceiverIdentifierType"] = body.pop("RecieverIdentifierType")
    resp = await rig.http("POST", "/mpesa/reversal/v1/request", body, dict(request.headers))
    assert (resp.status, resp.json()["errorMessage"]) == (
        400,
        "Bad Request - Invalid RecieverIdentifierType",
    )


# --- Account Balance ---------------------------------------------------------------------------


async def test_account_balance_of_the_b2c_shortcode(rig: Rig) -> None:
    await rig.paid(amount=1_000)
    balance = await rig.balance()
    assert balance.outcome == "succeeded"
    assert [a.name for a in balance.accounts] == [
        "Working Account",
        "Utility Account",
        "Charges Paid Account",
    ]
    utility = balance.account("utility account")
    assert utility is not None
    assert (utility.currency, utility.available_cents) == ("KES", START_FLOAT - 100_000)
    wire = envelope(rig.hooks.of("balance")[0])
    assert (wire["ResultType"], wire["ResultCode"]) == ("0", "0")  # strings (doc §7)
    assert balance.completed_at is not None


async def test_account_balance_of_a_paybill_and_of_a_stranger(rig: Rig) -> None:
    await rig.customer_pays(amount=700)
    await rig.customer_pays(amount=300)
    paybill = await rig.balance(PAYBILL)
    assert len(paybill.accounts) == 5
    utility = paybill.account("Utility Account")
    assert utility is not None
    assert utility.available_cents == 100_000
    stranger = await rig.balance("600111")
    assert (stranger.result_code, stranger.outcome, stranger.accounts) == ("21", "failed", ())


async def test_initiator_requests_are_recorded(rig: Rig) -> None:
    await rig.balance()
    await rig.status(transaction_id="SAA0000001")
    records = await rig.control("GET", "/initiator")
    assert [(r["kind"], r["result_code"]) for r in records] == [("balance", "0"), ("status", 2032)]
    assert [r["kind"] for r in await rig.control("GET", "/initiator?kind=status")] == ["status"]


# --- C2B ---------------------------------------------------------------------------------------


async def test_register_urls_v2_and_v1(rig: Rig) -> None:
    v2 = await rig.register(version=2)
    assert isinstance(v2, C2bAccepted)
    assert (v2.description, bool(v2.originator_conversation_id)) == ("Success", True)
    v1 = await rig.register("600985", version=1)
    assert isinstance(v1, C2bAccepted)
    assert v1.description == "success"
    resp = await rig.send(
        rig.daraja.c2b_register_request(
            await rig.token(), C2bRegistration(PAYBILL, rig.url("confirm"), rig.url("validate"))
        )
    )
    assert "OriginatorCoversationID" in resp.json()  # sic (doc §6)
    registrations = await rig.control("GET", "/c2b/registrations")
    assert {(r["shortcode"], r["version"]) for r in registrations} == {(PAYBILL, 2), ("600985", 1)}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ConfirmationURL": "https://example.co.ke/mpesa/confirm"}, "ConfirmationURL"),
        ({"ValidationURL": "https://abc.ngrok.io/validate"}, "ValidationURL"),
        ({"ResponseType": "completed"}, "ResponseType"),
        ({"ShortCode": "12"}, "ShortCode"),
    ],
)
async def test_register_refuses_bad_urls_and_types(
    rig: Rig, change: dict[str, str], field: str
) -> None:
    body = {
        "ShortCode": PAYBILL,
        "ResponseType": "Completed",
        "ConfirmationURL": rig.url("confirm"),
        "ValidationURL": rig.url("validate"),
        **change,
    }
    headers = {"Authorization": f"Bearer {await rig.token()}", "Content-Type": "application/json"}
    resp = await rig.http("POST", "/mpesa/c2b/v2/registerurl", body, headers)
    assert (resp.status, resp.json()["errorMessage"]) == (400, f"Bad Request - Invalid {field}")


async def test_customer_pays_validation_accepts_then_confirmation(rig: Rig) -> None:
    await rig.register()
    rig.hooks.answers["validate"] = (200, c2b_accept("my-ref-1"))
    record = await rig.customer_pays(amount=500, bill_ref="ACC001")
    assert (record["state"], record["validation"]) == ("completed", "accepted")
    assert record["confirmation_statuses"] == [200]
    [validation] = rig.hooks.of("validate")
    [confirmation] = rig.hooks.of("confirm")
    assert all(isinstance(v, str) for v in orjson.loads(confirmation).values())  # doc §6
    v, c = parse_c2b_payment(validation), parse_c2b_payment(confirmation)
    assert (v.trans_id, v.amount_cents, v.bill_ref) == (record["trans_id"], 50_000, "ACC001")
    assert (v.transaction_type, v.shortcode, v.org_account_balance_cents) == (
        "Pay Bill",
        PAYBILL,
        None,
    )
    assert (c.org_account_balance_cents, c.third_party_trans_id) == (50_000, "my-ref-1")
    assert c.msisdn == "2547 ***** 149"
    assert (c.msisdn_form, c.paid_by("254708374149"), c.paid_by("254708374150")) == (
        "masked",
        True,
        False,
    )
    names = (record["first_name"], record["middle_name"], record["last_name"])
    assert c.full_name == " ".join(names)


async def test_v1_registration_hashes_the_msisdn(rig: Rig) -> None:
    await rig.register(version=1)
    await rig.customer_pays(msisdn="254712345678")
    [confirmation] = rig.hooks.of("confirm")
    payment = parse_c2b_payment(confirmation)
    assert payment.msisdn == hashlib.sha256(b"254712345678").hexdigest()
    assert (payment.msisdn_form, payment.paid_by("254712345678")) == ("hashed", True)
    assert payment.full_name == "JANE WANJIKU DOE"


async def test_validation_rejects(rig: Rig) -> None:
    await rig.register()
    rig.hooks.answers["validate"] = (200, c2b_reject("C2B00012"))
    record = await rig.customer_pays(bill_ref="NOPE")
    assert (record["state"], record["validation_result_code"]) == ("rejected", "C2B00012")
    assert rig.hooks.count("confirm") == 0
    status = await rig.status(transaction_id=record["trans_id"], party_a=PAYBILL)
    assert (status.status, status.outcome) == ("Cancelled", "failed")


@pytest.mark.parametrize(
    ("response_type", "state", "confirmations"),
    [("Completed", "completed", 1), ("Cancelled", "cancelled", 0)],
)
async def test_validation_timeout_lets_response_type_decide(
    rig: Rig, response_type: Literal["Completed", "Cancelled"], state: str, confirmations: int
) -> None:
    await rig.register(response_type=response_type)
    rig.hooks.delays["validate"] = 0.6  # beyond the 0.4 s deadline of this rig
    record = await rig.customer_pays()
    assert record["state"] == state
    assert record["validation"].startswith("no answer") and record["validation"].endswith(
        response_type
    )
    assert rig.hooks.count("confirm") == confirmations


async def test_validation_error_lets_response_type_decide(rig: Rig) -> None:
    await rig.register(response_type="Cancelled")
    rig.hooks.answers["validate"] = (500, b"oops")
    record = await rig.customer_pays()
    assert (record["state"], record["validation_status"]) == ("cancelled", 500)


async def test_unregistered_shortcode_is_paid_silently(rig: Rig) -> None:
    record = await rig.customer_pays(shortcode="600777", command_id="CustomerBuyGoodsOnline")
    assert (record["state"], record["registered_version"], record["bill_ref"]) == (
        "completed",
        None,
        "",
    )
    assert rig.hooks.bodies == []


async def test_simulate_api_pays_in_the_background(rig: Rig) -> None:
    await rig.register()
    request = rig.daraja.c2b_simulate_request(
        await rig.token(), C2bSimulation(PAYBILL, 25, "254708374149", "ACC9")
    )
    answer = rig.daraja.parse_c2b_ack(await rig.send(request))
    assert isinstance(answer, C2bAccepted)
    assert answer.description == "Accept the service request successfully."
    [confirmation] = await rig.hooks.wait_for("confirm")
    assert parse_c2b_payment(confirmation).amount_cents == 2_500
    assert rig.hooks.count("validate") == 1


async def test_pay_control_refuses_bad_input(rig: Rig) -> None:
    resp = await rig.http("POST", "/__sim/c2b/pay", {"shortcode": PAYBILL, "amount": 0})
    assert (resp.status, resp.json()["error"]) == (400, "invalid Amount")


async def test_control_endpoints_and_reset(rig: Rig) -> None:
    pem = await rig.http("GET", "/__sim/certificate")
    assert pem.body == certificate_pem()
    named = await rig.http("PUT", f"/__sim/customers/{RECIPIENT}", {"name": "Wanjiru Kamau"})
    assert named.json() == {"phone": RECIPIENT, "name": "WANJIRU KAMAU"}
    _, paid = await rig.paid()
    assert paid.receiver_name == "WANJIRU KAMAU"
    await rig.customer_pays()
    assert len(await rig.control("GET", "/b2c?state=completed")) == 1
    assert await rig.control("GET", "/b2c?state=failed") == []
    assert await rig.control("POST", "/reset") == {"reset": True}
    assert await rig.control("GET", "/b2c") == []
    assert await rig.control("GET", "/c2b") == []
    assert (await rig.control("GET", "/config"))["b2c_float_cents"] == START_FLOAT
    bad = await rig.http("PATCH", "/__sim/config", {"expire_tokens": 1})
    assert bad.status == 400


async def test_raw_result_parse_of_a_live_result(rig: Rig) -> None:
    await rig.paid()
    result = parse_result(rig.hooks.of("result")[0])
    assert result.is_final
    assert result.parameters["B2CRecipientIsRegisteredCustomer"] == "Y"
    assert result.reference_items["QueueTimeoutURL"]
