"""AirtelGatewayCore against the real Airtel simulator app, in-process on a local port, through
AiohttpTransport: every trigger maps to the right event, duplicates are never resent, timeouts
become answer_lost, throttling is retried, the breaker opens, and the collection callback that the
simulator really sends reads into the right CallbackIn."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web

from connectors.airtel import (
    AirtelAccount,
    AirtelConnector,
    CallbackHashMismatch,
    callback_ack,
    kyc,
)
from connectors.airtel.gateway import AirtelGatewayCore, airtel_gateway_from
from connectors.airtel.orders import WalletOrder
from connectors.airtel.outcomes import airtel_callback
from connectors.airtel.simulator import SIMULATOR, SimConfig, Simulator, create_app
from connectors.airtel.simulator import kyc as kyc_sim
from connectors.airtel.simulator.sandbox import public_key_pem, switch_settings
from connectors.airtel.simulator.wire import Refusal
from connectors.http import HttpResponse
from connectors.transport import AiohttpTransport
from switch.breaker import Breaker
from switch.config import Settings
from switch.messages import ProviderOutcome, QueryResult, StatusCheck
from switch.states import Event
from tests.simharness import Receiver, SimClient, by_json, staged

DELAY = 0.15  # seconds until the simulated customer acts (and a pending payout settles)
PAYER = "254733123456"  # no trigger: pays
ROUTE = "/callbacks/airtel"


@dataclass
class Rig(SimClient):
    sim: Simulator
    base_url: str
    receiver: Receiver
    transport: AiohttpTransport

    def gateway(
        self, retries: int = 3, timeout: float = 3.0, breaker: Breaker | None = None, **acct: Any
    ) -> AirtelGatewayCore:
        fields: dict[str, Any] = {
            "base_url": self.base_url,
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
            "pin": "1234",
            "public_key": public_key_pem().decode(),
            **acct,
        }
        connector = AirtelConnector(AirtelAccount(**fields), timeout=timeout)
        return AirtelGatewayCore(
            connector, self.transport, retries=retries, retry_base=0.001, breaker=breaker
        )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    receiver = Receiver(answer=callback_ack(), key=by_json("transaction", "id"))

    def simulator(hooks_url: str) -> web.Application:
        return create_app(SimConfig(callback_delay=DELAY, callback_url=hooks_url + ROUTE))

    async with staged(receiver, ROUTE, simulator) as stage:
        yield Rig(stage.app[SIMULATOR], stage.base_url, receiver, stage.transport)


def new_id() -> str:
    return f"pay_s0_{uuid.uuid4().hex[:16]}"


def wallet(kind: str = "collect", phone: str = PAYER, cents: int = 10_000) -> WalletOrder:
    return WalletOrder(new_id(), kind, cents, phone, "Order 1001")  # type: ignore[arg-type]


async def submit_one(gw: AirtelGatewayCore, order: WalletOrder) -> ProviderOutcome:
    (result,) = await gw.submit([order])
    assert result.payment_id == order.payment_id
    return result.outcome


async def check_one(gw: AirtelGatewayCore, payment_id: str, method: str) -> QueryResult:
    (result,) = await gw.check([StatusCheck(payment_id, method)])
    assert result.payment_id == payment_id
    return result


async def settled(gw: AirtelGatewayCore, payment_id: str, method: str) -> ProviderOutcome:
    """Ask until the answer is final, as the sweeper would."""
    deadline = time.monotonic() + 3.0
    while True:
        result = await check_one(gw, payment_id, method)
        assert result.outcome is not None, result
        if result.outcome.event is not None:
            return result.outcome
        assert time.monotonic() < deadline, result
        await asyncio.sleep(DELAY / 3)


def failure_of(outcome: ProviderOutcome) -> tuple[str, str | None]:
    assert outcome.failure is not None, outcome
    return outcome.failure.code, outcome.failure.provider_code


# --- collections: every trigger -----------------------------------------------------------------


async def test_collection_is_accepted_then_paid_by_enquiry_and_callback(rig: Rig) -> None:
    gw = rig.gateway()
    order = wallet()
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.ACCEPTED
    assert outcome.failure is None
    pending = await check_one(gw, order.payment_id, "airtel_ussd")
    assert pending == QueryResult(order.payment_id, pending.outcome)
    assert pending.outcome is not None and pending.outcome.event is None  # TIP: still pending
    final = await settled(gw, order.payment_id, "airtel_ussd")
    record = rig.sim.state.collections[order.payment_id]
    assert final.event == Event.SUCCEED
    assert final.refs is not None and final.refs.receipt == record.airtel_money_id
    assert record.airtel_money_id
    # The callback Airtel sends to its one configured URL reads the same way.
    item = airtel_callback((await rig.receiver.wait_for(order.payment_id))[0], None)
    assert item.payment_id == order.payment_id
    assert item.outcome.event == Event.SUCCEED
    assert item.outcome.refs is not None and item.outcome.refs.receipt == record.airtel_money_id


@pytest.mark.parametrize(
    ("suffix", "event", "code"),
    [
        ("1002", Event.DECLINE, "DP00800001002"),
        ("1003", Event.DECLINE, "DP00800001003"),
        ("1004", Event.DECLINE, "DP00800001004"),
        ("1005", Event.DECLINE, "DP00800001005"),
        ("1007", Event.DECLINE, "DP00800001007"),
        ("1008", Event.DECLINE, "DP00800001008"),
        ("1009", Event.DECLINE, "DP00800001009"),
        ("1010", Event.DECLINE, "DP00800001010"),
        ("1024", Event.EXPIRE, "DP00800001024"),
        ("1029", Event.EXPIRE, "DP00800001029"),
        ("1000", Event.SUCCEED, "DP00800001001"),
        ("0404", Event.SUCCEED, "DP00800001001"),
    ],
)
async def test_collection_triggers_settle_as_their_event(
    rig: Rig, suffix: str, event: Event, code: str
) -> None:
    gw = rig.gateway()
    order = wallet(phone="25473312" + suffix)
    assert (await submit_one(gw, order)).event == Event.ACCEPTED
    final = await settled(gw, order.payment_id, "airtel_ussd")
    assert final.event == event
    assert final.refs is not None and final.refs.result_code == code
    if event == Event.SUCCEED:
        assert final.failure is None
        assert final.refs.receipt == rig.sim.state.collections[order.payment_id].airtel_money_id
    else:
        expected = "timeout" if event == Event.EXPIRE else "declined"
        assert failure_of(final) == (expected, code)
        assert final.refs.receipt is None


async def test_declined_collection_callback_is_a_decline(rig: Rig) -> None:
    gw = rig.gateway()
    order = wallet(phone="254733121007")  # too little money
    await submit_one(gw, order)
    item = airtel_callback((await rig.receiver.wait_for(order.payment_id))[0], None)
    assert item.outcome.event == Event.DECLINE
    assert failure_of(item.outcome) == ("declined", "TF")


async def test_unknown_subscriber_is_rejected_and_nothing_recorded(rig: Rig) -> None:
    gw = rig.gateway()
    order = wallet(phone="254733124005")  # "Msisdn Not Found", HTTP 400
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.REJECTED
    assert failure_of(outcome) == ("rejected", "DP00800001005")
    assert outcome.failure is not None and "Airtel Money refused" in outcome.failure.message
    assert order.payment_id not in rig.sim.state.collections
    assert rig.sim.state.stats.collection_requests == 1


async def test_an_amount_airtel_cannot_take_is_refused_before_sending(rig: Rig) -> None:
    gw = rig.gateway()
    outcome = await submit_one(gw, wallet(cents=10_050))  # not whole shillings
    assert outcome.event == Event.REJECTED
    assert failure_of(outcome) == ("rejected", None)
    assert rig.sim.state.stats.collection_requests == 0


async def test_hashed_callbacks_are_verified(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"callback_auth": True})
    order = wallet()
    await submit_one(rig.gateway(), order)
    body = (await rig.receiver.wait_for(order.payment_id))[0]
    key = "sandbox-callback-key"
    assert airtel_callback(body, key).outcome.event == Event.SUCCEED
    with pytest.raises(CallbackHashMismatch):
        airtel_callback(body, "another-key")
    doc = orjson.loads(body)
    doc["transaction"]["status_code"] = "TF"  # tampered in flight
    with pytest.raises(CallbackHashMismatch):
        airtel_callback(orjson.dumps(doc), key)


# --- disbursements: every trigger ---------------------------------------------------------------


async def test_payout_is_paid_synchronously_with_the_receipt(rig: Rig) -> None:
    gw = rig.gateway()
    float_before = rig.sim.config.float_cents
    order = wallet("payout", cents=50_000)
    outcome = await submit_one(gw, order)
    record = rig.sim.state.disbursements[order.payment_id]
    assert outcome.event == Event.SUCCEED
    assert outcome.refs is not None
    assert outcome.refs.receipt == record.airtel_money_id
    assert outcome.refs.conversation_id == record.reference_id
    assert rig.sim.config.float_cents == float_before - 50_000
    enquiry = await check_one(gw, order.payment_id, "airtel_payout")
    assert enquiry.outcome is not None and enquiry.outcome.event == Event.SUCCEED


@pytest.mark.parametrize(
    "suffix", ["1003", "1004", "1005", "1007", "1009", "1010", "1011", "1012", "1013"]
)
async def test_failed_payout_triggers_are_declines_and_pay_nothing(rig: Rig, suffix: str) -> None:
    gw = rig.gateway()
    float_before = rig.sim.config.float_cents
    order = wallet("payout", phone="25473312" + suffix)
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.DECLINE
    assert failure_of(outcome) == ("declined", "DP0090000" + suffix)
    assert rig.sim.config.float_cents == float_before
    later = await check_one(gw, order.payment_id, "airtel_payout")
    assert later.outcome is not None and later.outcome.event == Event.DECLINE


@pytest.mark.parametrize("suffix", ["1006", "1014", "1000"])
async def test_pending_payout_is_queued_then_paid(rig: Rig, suffix: str) -> None:
    gw = rig.gateway()
    order = wallet("payout", phone="25473312" + suffix)
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.QUEUED
    assert outcome.refs is not None and outcome.refs.receipt is None
    final = await settled(gw, order.payment_id, "airtel_payout")
    assert final.event == Event.SUCCEED
    assert final.refs is not None
    assert final.refs.receipt == rig.sim.state.disbursements[order.payment_id].airtel_money_id


async def test_wrong_pin_is_rejected_and_pays_nothing(rig: Rig) -> None:
    gw = rig.gateway(pin="9999")
    order = wallet("payout")
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.REJECTED
    assert failure_of(outcome) == ("rejected", "ROUTER115")
    assert order.payment_id not in rig.sim.state.disbursements


async def test_payout_without_pin_is_refused_before_sending(rig: Rig) -> None:
    gw = rig.gateway(pin=None)
    outcome = await submit_one(gw, wallet("payout"))
    assert outcome.event == Event.REJECTED
    assert rig.sim.state.stats.disbursement_requests == 0


# --- duplicates, lost answers, throttling, tokens, breaker --------------------------------------


async def test_duplicate_payout_id_is_answer_lost_and_pays_once(rig: Rig) -> None:
    gw = rig.gateway()
    float_before = rig.sim.config.float_cents
    order = wallet("payout", cents=20_000)
    assert (await submit_one(gw, order)).event == Event.SUCCEED
    again = await submit_one(gw, order)
    assert again.event == Event.ANSWER_LOST
    assert failure_of(again) == ("outcome_unknown", None)
    assert again.failure is not None and "DP00900001017" in again.failure.message
    assert rig.sim.state.stats.disbursement_requests == 2  # the refused copy, never a third
    assert rig.sim.config.float_cents == float_before - 20_000


async def test_duplicate_collection_id_is_answer_lost_not_resent(rig: Rig) -> None:
    gw = rig.gateway()
    order = wallet()
    assert (await submit_one(gw, order)).event == Event.ACCEPTED
    again = await submit_one(gw, order)
    assert again.event == Event.ANSWER_LOST
    assert again.failure is not None and "ESB000041" in again.failure.message
    assert rig.sim.state.stats.collection_requests == 2


async def test_dropped_payout_answer_is_answer_lost_and_the_enquiry_finds_it(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"drop_sync_answer": 1})
    gw = rig.gateway()
    order = wallet("payout")
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.ANSWER_LOST
    assert rig.sim.state.stats.disbursement_requests == 1  # never resent
    enquiry = await check_one(gw, order.payment_id, "airtel_payout")
    assert enquiry.outcome is not None and enquiry.outcome.event == Event.SUCCEED


async def test_timeout_is_answer_lost_never_resent(rig: Rig) -> None:
    gw = rig.gateway(timeout=0.2)
    await gw.token()  # the slow answers below are the push's, not the token's
    await rig.control("PATCH", "/config", {"latency": 0.5})
    order = wallet()
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.ANSWER_LOST
    assert failure_of(outcome) == ("outcome_unknown", None)
    await asyncio.sleep(0.4)  # let the slow answer finish on the simulator's side
    assert rig.sim.state.stats.collection_requests == 1
    assert order.payment_id in rig.sim.state.collections  # the prompt did go out


@pytest.mark.parametrize("status", [429, 503])
async def test_throttling_is_retried(rig: Rig, status: int) -> None:
    await rig.control("PATCH", "/config", {"error_burst": {"status": status, "count": 2}})
    gw = rig.gateway()
    outcome = await submit_one(gw, wallet())
    assert outcome.event == Event.ACCEPTED
    assert rig.sim.state.stats.collection_requests == 3
    assert rig.sim.state.stats.collections_accepted == 1


async def test_generic_500_is_answer_lost_not_resent(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"error_burst": {"status": 500, "count": 1}})
    outcome = await submit_one(rig.gateway(), wallet("payout"))
    assert outcome.event == Event.ANSWER_LOST
    assert rig.sim.state.stats.disbursement_requests == 1


async def test_throttled_too_long_is_provider_unavailable(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"error_burst": {"status": 503, "count": 10}})
    outcome = await submit_one(rig.gateway(retries=2), wallet())
    assert outcome.event == Event.REJECTED
    assert failure_of(outcome) == ("provider_unavailable", None)
    assert rig.sim.state.stats.collection_requests == 3


async def test_expired_token_is_refreshed_once_and_the_push_resent(rig: Rig) -> None:
    gw = rig.gateway()
    assert (await submit_one(gw, wallet())).event == Event.ACCEPTED
    await rig.control("PATCH", "/config", {"expire_tokens": True})
    outcomes = await gw.submit([wallet() for _ in range(4)])
    assert all(r.outcome.event == Event.ACCEPTED for r in outcomes)
    assert rig.sim.state.stats.tokens_issued == 2
    assert rig.sim.state.stats.collections_accepted == 5


async def test_breaker_opens_and_fails_fast(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"outage": 30})
    gw = rig.gateway(retries=0, breaker=Breaker(threshold=2, cool_down=30))
    for _ in range(2):
        outcome = await submit_one(gw, wallet())
        assert failure_of(outcome) == ("provider_unavailable", None)
    refused = rig.sim.state.stats.outage_refusals
    fast = await submit_one(gw, wallet())
    assert fast.event == Event.REJECTED
    assert fast.retry_after is not None and fast.retry_after > 0
    assert fast.failure is not None and "circuit open" in fast.failure.message
    assert rig.sim.state.stats.outage_refusals == refused  # nothing reached Airtel


# --- status checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["airtel_ussd", "airtel_payout"])
async def test_unknown_id_is_not_found(rig: Rig, method: str) -> None:
    result = await check_one(rig.gateway(), "pay_s0_never_sent", method)
    assert result.not_found is True
    assert result.outcome == ProviderOutcome(None)


async def test_failed_enquiry_says_nothing(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"outage": 30})
    result = await check_one(rig.gateway(retries=0), "pay_s0_x", "airtel_ussd")
    assert result == QueryResult("pay_s0_x", None)


async def test_other_methods_are_not_asked(rig: Rig) -> None:
    result = await check_one(rig.gateway(), "pay_s0_x", "mpesa_stk")
    assert result == QueryResult("pay_s0_x", None)
    assert rig.sim.state.stats.enquiries == 0


async def test_checks_keep_their_order(rig: Rig) -> None:
    gw = rig.gateway()
    paid = wallet("payout")
    await submit_one(gw, paid)
    results = await gw.check(
        [StatusCheck("pay_s0_none", "airtel_payout"), StatusCheck(paid.payment_id, "airtel_payout")]
    )
    assert [r.payment_id for r in results] == ["pay_s0_none", paid.payment_id]
    assert results[0].not_found and not results[1].not_found


# --- the factory and the sandbox wiring ---------------------------------------------------------


async def test_factory_from_sandbox_settings_pays_out(rig: Rig) -> None:
    settings = Settings(**switch_settings(rig.base_url), provider_timeout=3.0, provider_retries=1)
    gw = airtel_gateway_from(settings, rig.transport)
    assert gw.breaker.threshold == settings.breaker_threshold
    assert gw.connector.account.callback_key is None
    order = wallet("payout")
    assert (await submit_one(gw, order)).event == Event.SUCCEED
    assert (await submit_one(gw, wallet())).event == Event.ACCEPTED


def test_sandbox_settings_with_callback_auth_carry_the_key() -> None:
    values = switch_settings("http://127.0.0.1:9200/", callback_auth=True)
    assert values["airtel_base_url"] == "http://127.0.0.1:9200"
    assert values["airtel_callback_key"] == "sandbox-callback-key"
    gw = airtel_gateway_from(Settings(**values), _unused_transport())
    assert gw.connector.account.callback_key == "sandbox-callback-key"
    assert gw.connector.account.pin == "1234"


def _unused_transport() -> AiohttpTransport:
    return AiohttpTransport()  # never sends: its session opens on the first request


# --- KYC user enquiry: the name before a payout --------------------------------------------------


async def test_kyc_names_the_wallet_holder_or_says_there_is_no_such_wallet(rig: Rig) -> None:
    gw = rig.gateway()
    first, last = kyc_sim.registered_name("733123456")
    assert await gw.lookup(PAYER) == {"name": f"{first} {last}"}
    rig.sim.names["733123456"] = ("Wanjiru", "Otieno")  # PUT /__sim/users/{msisdn}
    assert await gw.lookup("733123456") == {"name": "Wanjiru Otieno"}
    assert (await gw.lookup("0733123456"))["error_code"] == "invalid_phone"
    missing = await gw.lookup("254733124005")  # the unknown subscriber
    assert missing["error_code"] == "not_customer", missing


async def test_kyc_that_cannot_be_asked_is_unavailable_not_a_name(rig: Rig) -> None:
    gw = rig.gateway(retries=0)
    await rig.control("PATCH", "/config", {"outage": 30})
    found = await gw.lookup(PAYER)
    assert found["error_code"] == "provider_unavailable", found


def test_kyc_answers_parse_as_found_not_a_customer_or_failed() -> None:
    def answer(status: int, body: Any) -> HttpResponse:
        return HttpResponse(status, orjson.dumps(body))

    found = kyc.parse_user(answer(200, kyc_sim.user("733123456", {"733123456": ("A", "B")})))
    assert (found.verdict, found.name) == ("found", "A B")
    try:
        kyc_sim.user("733124005", {})
    except Refusal as exc:
        refused = exc
    assert kyc.parse_user(answer(refused.http_status, refused.body())).verdict == "not_customer"
    assert kyc.parse_user(answer(500, {"status": {"success": False}})).verdict == "failed"
    assert kyc.parse_user(answer(200, {"data": {}, "status": {"success": True}})).verdict == (
        "failed"
    )
    assert kyc.path_of("254733123456") == "/standard/v1/users/733123456"
