"""PesaLinkGatewayCore against the real PesaLink simulator app, in-process on a local port,
through AiohttpTransport: lookups refuse bad accounts, unlinked phones and name mismatches before
any money moves (the simulator's own records prove it), every trigger maps to the right event,
duplicates are never resent, lost answers and timeouts become answer_lost, throttling is retried,
the breaker opens, and the callback the simulator really sends reads into the right CallbackIn."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from connectors.http import HttpRequest, HttpResponse
from connectors.pesalink import PesaLinkAccount, PesaLinkConnector, callback_ack
from connectors.pesalink.gateway import PesaLinkGatewayCore, pesalink_gateway_from
from connectors.pesalink.orders import BankOrder
from connectors.pesalink.outcomes import pesalink_callback
from connectors.pesalink.simulator import SIMULATOR, SimConfig, Simulator, create_app
from connectors.pesalink.simulator.config import SANDBOX_SOURCE_ACCOUNT
from connectors.pesalink.simulator.directory import holder_name
from connectors.pesalink.simulator.sandbox import SIGNING_KEY_PEM, switch_settings
from connectors.transport import AiohttpTransport
from switch.breaker import Breaker
from switch.config import Settings
from switch.messages import ProviderOutcome, QueryResult, StatusCheck
from switch.states import Event
from tests.simharness import Receiver, by_path, staged

PENDING_FOR = 0.2  # seconds a pending trigger stays pending
BANK = "68"  # Equity
JANE = "JANE WANJIKU DOE"  # holder of the accounts 0712345678 is linked to


class Tap:
    """AiohttpTransport that counts what it sends and can slow the simulator down for
    transfers only (so a transfer, not its lookup, times out)."""

    def __init__(self, inner: AiohttpTransport, sim: Simulator) -> None:
        self.inner, self.sim = inner, sim
        self.sent: list[str] = []
        self.slow_transfers = 0.0

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.sent.append(request.url)
        if "/remittance/" in request.url and self.slow_transfers:
            self.sim.config.latency = self.slow_transfers
        try:
            return await self.inner.send(request)
        finally:
            self.sim.config.latency = 0.0

    async def close(self) -> None:
        await self.inner.close()

    def transfers(self) -> int:
        return sum("/remittance/" in url for url in self.sent)


@dataclass
class Rig:
    sim: Simulator
    url: str
    cb_url: str
    receiver: Receiver
    tap: Tap

    def gateway(
        self, retries: int = 3, timeout: float = 3.0, breaker: Breaker | None = None
    ) -> PesaLinkGatewayCore:
        account = PesaLinkAccount(
            base_url=self.url,
            api_key="sandbox-api-key",
            merchant_code="0000000001",
            consumer_secret="sandbox-consumer-secret",
            signing_key_pem=SIGNING_KEY_PEM,
            source_account=SANDBOX_SOURCE_ACCOUNT,
            source_name="John Doe",
        )
        connector = PesaLinkConnector(account, timeout=timeout)
        return PesaLinkGatewayCore(
            connector, self.tap, retries=retries, retry_base=0.001, breaker=breaker
        )

    def order(
        self,
        account: str | None = "0123456789",
        cents: int = 50_000,
        *,
        bank: str | None = BANK,
        phone: str | None = None,
        name: str | None = None,
        payment_id: str | None = None,
    ) -> BankOrder:
        pid = payment_id or f"pay_s0_{uuid.uuid4().hex[:16]}"
        return BankOrder(
            payment_id=pid,
            amount_minor=cents,
            bank_code=bank,
            account_number=account,
            phone=phone,
            recipient_name=name,
            reference="INV-1",
            narration="Supplier payment",
            callback_url=f"{self.cb_url}/callbacks/pesalink/{pid}",
        )

    def configure(self, **knobs: Any) -> None:
        self.sim.config.apply(knobs)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    receiver = Receiver(answer=callback_ack(), key=by_path("pid"))
    app = create_app(SimConfig(callback_delay=0.05, pending_for=PENDING_FOR))
    async with staged(receiver, "/callbacks/pesalink/{pid}", lambda _: app) as stage:
        sim = app[SIMULATOR]
        yield Rig(sim, stage.base_url, stage.hooks_url, receiver, Tap(stage.transport, sim))


async def submit_one(gw: PesaLinkGatewayCore, order: BankOrder) -> ProviderOutcome:
    (result,) = await gw.submit([order])
    assert result.payment_id == order.payment_id
    return result.outcome


async def check_one(gw: PesaLinkGatewayCore, payment_id: str) -> QueryResult:
    (result,) = await gw.check([StatusCheck(payment_id, "pesalink")])
    assert result.payment_id == payment_id
    return result


async def settled(gw: PesaLinkGatewayCore, payment_id: str) -> ProviderOutcome:
    deadline = time.monotonic() + 3.0
    while True:
        result = await check_one(gw, payment_id)
        assert result.outcome is not None, result
        if result.outcome.event is not None:
            return result.outcome
        assert time.monotonic() < deadline, result
        await asyncio.sleep(PENDING_FOR / 4)


def failure_of(outcome: ProviderOutcome) -> tuple[str, str | None]:
    assert outcome.failure is not None, outcome
    return outcome.failure.code, outcome.failure.provider_code


def receiver_of(outcome: ProviderOutcome) -> str | None:
    return outcome.refs.receiver_name if outcome.refs else None


# --- paid transfers ----------------------------------------------------------------------------


async def test_transfer_to_an_account_is_paid_with_the_bank_reference(rig: Rig) -> None:
    gw = rig.gateway()
    balance = rig.sim.config.source_balance_cents
    order = rig.order(name=None)
    outcome = await submit_one(gw, order)
    record = rig.sim.state.transfers[order.payment_id]
    holder = holder_name(BANK, "0123456789")
    assert outcome.event == Event.SUCCEED
    assert outcome.failure is None
    assert outcome.amount_minor == 50_000
    assert outcome.refs is not None
    assert outcome.refs.receipt == record.transaction_id
    assert receiver_of(outcome) == holder
    assert record.given_name == holder  # the lookup's name is what the transfer carried
    assert record.callback_url == order.callback_url
    assert rig.sim.config.source_balance_cents == balance - 50_000
    enquiry = await check_one(gw, order.payment_id)
    assert enquiry.outcome is not None and enquiry.outcome.event == Event.SUCCEED
    assert not enquiry.not_found


async def test_the_callback_reads_into_a_callback_for_the_payment(rig: Rig) -> None:
    order = rig.order()
    await submit_one(rig.gateway(), order)
    item = pesalink_callback(order.payment_id, (await rig.receiver.wait_for(order.payment_id))[0])
    assert item.payment_id == order.payment_id
    assert item.originator_conversation_id == order.payment_id
    assert item.outcome.event == Event.SUCCEED
    assert item.outcome.amount_minor == 50_000
    record = rig.sim.state.transfers[order.payment_id]
    assert item.outcome.refs is not None and item.outcome.refs.receipt == record.transaction_id


async def test_transfer_to_a_phone_pays_its_default_account(rig: Rig) -> None:
    order = rig.order(None, bank=None, phone="0712345678", name="Jane Doe Wanjiku")
    outcome = await submit_one(rig.gateway(), order)
    record = rig.sim.state.transfers[order.payment_id]
    assert outcome.event == Event.SUCCEED
    assert receiver_of(outcome) == JANE
    assert (record.bank_code, record.account_number) == ("68", "1450123455678")


async def test_transfer_to_a_phone_at_a_chosen_bank(rig: Rig) -> None:
    order = rig.order(None, bank="1", phone="254712345678")
    outcome = await submit_one(rig.gateway(), order)
    assert outcome.event == Event.SUCCEED
    record = rig.sim.state.transfers[order.payment_id]
    assert (record.bank_code, record.account_number) == ("01", "1100123456789")


async def test_matching_name_on_a_name_checked_account_is_paid(rig: Rig) -> None:
    holder = holder_name(BANK, "0123452001")
    order = rig.order("0123452001", name=holder.lower())
    assert (await submit_one(rig.gateway(), order)).event == Event.SUCCEED


# --- refused before any money moves -------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["1001", "1004", "1006"])
async def test_invalid_accounts_are_refused_at_the_lookup(rig: Rig, suffix: str) -> None:
    order = rig.order("012345" + suffix)
    outcome = await submit_one(rig.gateway(), order)
    assert outcome.event == Event.REJECTED
    assert failure_of(outcome) == ("rejected", "AC" + suffix[2:])
    assert rig.tap.transfers() == 0
    assert rig.sim.state.transfers == {}
    assert rig.sim.state.stats.account_lookups == 1


async def test_name_mismatch_is_refused_before_sending(rig: Rig) -> None:
    balance = rig.sim.config.source_balance_cents
    order = rig.order("0123452001", name="Somebody Else")
    outcome = await submit_one(rig.gateway(), order)
    assert outcome.event == Event.REJECTED
    assert failure_of(outcome) == ("rejected", "BE01")
    assert receiver_of(outcome) == holder_name(BANK, "0123452001")
    assert rig.sim.state.stats.transfer_requests == 0
    assert rig.sim.config.source_balance_cents == balance


async def test_unlinked_phone_is_refused_before_sending(rig: Rig) -> None:
    order = rig.order(None, bank=None, phone="0712340404")
    outcome = await submit_one(rig.gateway(), order)
    assert outcome.event == Event.REJECTED
    assert outcome.failure is not None and "not linked" in outcome.failure.message
    assert rig.sim.state.stats.phone_lookups == 1
    assert rig.sim.state.stats.transfer_requests == 0


async def test_phone_not_linked_at_the_chosen_bank_is_refused(rig: Rig) -> None:
    order = rig.order(None, bank="31", phone="0712345678")
    outcome = await submit_one(rig.gateway(), order)
    assert outcome.event == Event.REJECTED
    assert outcome.failure is not None and "Stanbic" in outcome.failure.message
    assert rig.sim.state.stats.transfer_requests == 0


async def test_phone_name_mismatch_is_refused(rig: Rig) -> None:
    order = rig.order(None, bank=None, phone="0712345678", name="John Kamau")
    outcome = await submit_one(rig.gateway(), order)
    assert failure_of(outcome) == ("rejected", "BE01")
    assert receiver_of(outcome) == JANE
    assert rig.sim.state.stats.transfer_requests == 0


@pytest.mark.parametrize("cents", [500, 999_999_01])
async def test_limits_are_enforced_before_sending(rig: Rig, cents: int) -> None:
    outcome = await submit_one(rig.gateway(), rig.order(cents=cents))
    assert outcome.event == Event.REJECTED
    assert outcome.failure is not None and "PesaLink" in outcome.failure.message
    assert receiver_of(outcome) == holder_name(BANK, "0123456789")
    assert rig.sim.state.stats.transfer_requests == 0


@pytest.mark.parametrize(
    ("bank", "account", "phone"),
    [("05", "0123456789", None), (None, "0123456789", None), (BANK, "01234", "0712345678")],
)
async def test_malformed_destinations_are_refused_without_a_call(
    rig: Rig, bank: str | None, account: str | None, phone: str | None
) -> None:
    outcome = await submit_one(rig.gateway(), rig.order(account, bank=bank, phone=phone))
    assert outcome.event == Event.REJECTED
    assert rig.tap.sent == []


async def test_receiving_bank_offline_at_lookup_is_unavailable(rig: Rig) -> None:
    outcome = await submit_one(rig.gateway(retries=2), rig.order("0123453008"))
    assert outcome.event == Event.REJECTED
    assert failure_of(outcome) == ("provider_unavailable", None)
    assert rig.sim.state.stats.account_lookups == 3  # retried: AB08 means "not now"
    assert rig.sim.state.stats.transfer_requests == 0


# --- transfers that fail, wait or lose their answer ---------------------------------------------


async def test_insufficient_funds_is_a_decline_and_debits_nothing(rig: Rig) -> None:
    balance = rig.sim.config.source_balance_cents
    order = rig.order("0123453004")
    outcome = await submit_one(rig.gateway(), order)
    assert outcome.event == Event.DECLINE
    assert failure_of(outcome) == ("declined", "AM04")
    assert receiver_of(outcome) is not None
    assert rig.sim.config.source_balance_cents == balance
    assert rig.sim.state.transfers[order.payment_id].status == "FAILED"


async def test_too_little_balance_is_a_decline(rig: Rig) -> None:
    rig.configure(source_balance_cents=10_000)
    outcome = await submit_one(rig.gateway(), rig.order(cents=50_000))
    assert failure_of(outcome) == ("declined", "AM04")


async def test_pending_then_paid(rig: Rig) -> None:
    gw = rig.gateway()
    order = rig.order("0123455001")
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.QUEUED
    assert outcome.refs is not None and outcome.refs.receipt is None
    assert outcome.refs.conversation_id == rig.sim.state.transfers[order.payment_id].transaction_id
    final = await settled(gw, order.payment_id)
    assert final.event == Event.SUCCEED
    item = pesalink_callback(order.payment_id, (await rig.receiver.wait_for(order.payment_id))[0])
    assert item.outcome.event == Event.SUCCEED


async def test_pending_then_failed(rig: Rig) -> None:
    gw = rig.gateway()
    balance = rig.sim.config.source_balance_cents
    order = rig.order("0123455002")
    assert (await submit_one(gw, order)).event == Event.QUEUED
    final = await settled(gw, order.payment_id)
    assert final.event == Event.DECLINE
    assert failure_of(final) == ("declined", "AB05")
    assert rig.sim.config.source_balance_cents == balance  # refunded at the failure
    item = pesalink_callback(order.payment_id, (await rig.receiver.wait_for(order.payment_id))[0])
    assert item.outcome.event == Event.DECLINE


async def test_upstream_timeout_is_answer_lost_and_the_enquiry_finds_it_paid(rig: Rig) -> None:
    gw = rig.gateway()
    order = rig.order("0123454004")
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.ANSWER_LOST
    assert failure_of(outcome) == ("outcome_unknown", None)
    assert receiver_of(outcome) == holder_name(BANK, "0123454004")
    assert rig.tap.transfers() == 1  # never resent
    final = await check_one(gw, order.payment_id)
    assert final.outcome is not None and final.outcome.event == Event.SUCCEED


async def test_dropped_answer_is_answer_lost_never_resent(rig: Rig) -> None:
    rig.configure(drop_sync_answer=1)
    order = rig.order()
    outcome = await submit_one(rig.gateway(), order)
    assert outcome.event == Event.ANSWER_LOST
    assert rig.tap.transfers() == 1
    assert rig.sim.state.transfers[order.payment_id].paid


async def test_transfer_timeout_is_answer_lost_never_resent(rig: Rig) -> None:
    rig.tap.slow_transfers = 0.5
    gw = rig.gateway(timeout=0.2)
    order = rig.order()
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.ANSWER_LOST
    assert rig.tap.transfers() == 1
    await asyncio.sleep(0.4)
    assert rig.sim.state.transfers[order.payment_id].paid  # the money did move


async def test_duplicate_reference_is_answer_lost_and_pays_once(rig: Rig) -> None:
    gw = rig.gateway()
    balance = rig.sim.config.source_balance_cents
    order = rig.order()
    assert (await submit_one(gw, order)).event == Event.SUCCEED
    again = await submit_one(gw, order)
    assert again.event == Event.ANSWER_LOST
    assert again.failure is not None and "409100" in again.failure.message
    assert rig.tap.transfers() == 2
    assert rig.sim.state.stats.duplicates_refused == 1
    assert rig.sim.config.source_balance_cents == balance - 50_000


async def test_internal_error_on_transfer_is_answer_lost_not_resent(rig: Rig) -> None:
    rig.configure(error_burst={"status": 500, "count": 1, "api": "transfer"})
    gw = rig.gateway()
    order = rig.order()
    outcome = await submit_one(gw, order)
    assert outcome.event == Event.ANSWER_LOST
    assert rig.tap.transfers() == 1
    result = await check_one(gw, order.payment_id)
    assert result.not_found  # this burst answered before recording anything
    assert result.outcome == ProviderOutcome(None)


@pytest.mark.parametrize(("status", "api"), [(429, "transfer"), (503, "transfer"), (503, "lookup")])
async def test_throttling_is_retried(rig: Rig, status: int, api: str) -> None:
    rig.configure(error_burst={"status": status, "count": 2, "api": api})
    order = rig.order()
    outcome = await submit_one(rig.gateway(), order)
    assert outcome.event == Event.SUCCEED
    assert rig.sim.state.stats.transfers_accepted == 1
    assert len(rig.tap.sent) == 1 + 3 + 1  # token, three tries of the throttled call, the other


async def test_expired_token_is_refreshed_once(rig: Rig) -> None:
    gw = rig.gateway()
    assert (await submit_one(gw, rig.order())).event == Event.SUCCEED
    rig.sim.state.tokens.clear()  # every issued token stops working
    results = await gw.submit([rig.order() for _ in range(3)])
    assert all(r.outcome.event == Event.SUCCEED for r in results)
    assert rig.sim.state.stats.tokens_issued == 2


async def test_breaker_opens_and_fails_fast(rig: Rig) -> None:
    rig.configure(error_burst={"status": 503, "count": 100, "api": "lookup"})
    gw = rig.gateway(retries=0, breaker=Breaker(threshold=2, cool_down=30))
    for _ in range(2):
        outcome = await submit_one(gw, rig.order())
        assert failure_of(outcome) == ("provider_unavailable", None)
    lookups = rig.sim.state.stats.account_lookups
    fast = await submit_one(gw, rig.order())
    assert fast.event == Event.REJECTED
    assert fast.retry_after is not None and fast.retry_after > 0
    assert fast.failure is not None and "circuit open" in fast.failure.message
    assert rig.sim.state.stats.account_lookups == lookups


# --- status checks ------------------------------------------------------------------------------


async def test_unknown_reference_is_not_found(rig: Rig) -> None:
    result = await check_one(rig.gateway(), "pay_s0_never_sent")
    assert result == QueryResult("pay_s0_never_sent", ProviderOutcome(None), not_found=True)


async def test_failed_enquiry_says_nothing(rig: Rig) -> None:
    rig.configure(error_burst={"status": 503, "count": 100, "api": "status"})
    result = await check_one(rig.gateway(retries=1), "pay_s0_x")
    assert result == QueryResult("pay_s0_x", None)
    assert rig.sim.state.stats.enquiries == 2


# --- the public name lookup ---------------------------------------------------------------------


async def test_lookup_of_an_account(rig: Rig) -> None:
    found = await rig.gateway().lookup("0012", "0170197176640", None)
    assert found == {
        "holder_name": "John Doe",
        "bank_code": "12",
        "bank_name": "National Bank of Kenya",
        "account_mask": "*********6640",
    }


async def test_lookup_of_a_phone(rig: Rig) -> None:
    found = await rig.gateway().lookup(None, None, "0722000000")
    assert found["holder_name"] == "JOHN KAMAU MWANGI"
    assert (found["bank_code"], found["phone"]) == ("31", "254722000000")
    assert found["account_mask"].endswith("7890") and "4567890" not in found["account_mask"]


async def test_lookup_errors(rig: Rig) -> None:
    gw = rig.gateway()
    closed = await gw.lookup("68", "0123451004", None)
    assert (closed["error_code"], closed["reason_code"]) == ("account_invalid", "AC04")
    assert "closed" in closed["error"]
    unlinked = await gw.lookup(None, None, "0700000404")
    assert unlinked["error_code"] == "phone_not_linked"
    not_on_pesalink = await gw.lookup("05", "0123456789", None)
    assert not_on_pesalink["error_code"] == "invalid_request"
    assert "not on PesaLink" in not_on_pesalink["error"]
    assert (await gw.lookup(None, None, None))["error_code"] == "invalid_request"
    assert rig.sim.state.transfers == {}


async def test_lookup_when_the_bank_is_down(rig: Rig) -> None:
    rig.configure(error_burst={"status": 503, "count": 100, "api": "lookup"})
    found = await rig.gateway(retries=0).lookup("68", "0123456789", None)
    assert found["error_code"] == "provider_unavailable"


# --- the factory and the sandbox wiring ---------------------------------------------------------


async def test_factory_from_sandbox_settings_signs_with_the_sandbox_key(rig: Rig) -> None:
    settings = Settings(**switch_settings(rig.url), provider_retries=0)
    gw = pesalink_gateway_from(settings, rig.tap)
    assert gw.connector.account.signing_key_pem == SIGNING_KEY_PEM
    assert rig.sim.config.check_signatures
    order = rig.order()
    assert (await submit_one(gw, order)).event == Event.SUCCEED
    assert orjson.loads((await rig.receiver.wait_for(order.payment_id))[0])["data"]["status"] == (
        "SUCCESS"
    )


async def test_without_a_signing_key_nothing_is_sent_and_the_refusal_says_why(rig: Rig) -> None:
    """The switch never signs with a simulator's key: with no key file configured, every
    transfer is refused before any request (and the payout's reservation is released)."""
    settings = Settings(**{**switch_settings(rig.url), "pesalink_signing_key_file": None})
    gw = pesalink_gateway_from(settings, rig.tap)
    outcome = await submit_one(gw, rig.order())
    assert outcome.event == Event.REJECTED
    assert outcome.failure is not None
    assert "SWITCH_PESALINK_SIGNING_KEY_FILE" in outcome.failure.message
    stats = rig.sim.state.stats
    assert (stats.account_lookups, stats.transfer_requests) == (0, 0)  # nothing reached the bank
