"""The real PesaLink connector and AiohttpTransport against the simulator on a real local port.

A small aiohttp app stands in for the switch's callback endpoint. Callbacks come ``DELAY`` seconds
after a final state and "pending" triggers last ``PENDING`` seconds, so the file runs in seconds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.http import HttpResponse, OutcomeUnknown
from connectors.pesalink import (
    MAX_PER_TRANSACTION_CENTS,
    AccessToken,
    AccountInvalid,
    AccountName,
    DirectoryEntry,
    PesaLinkAccount,
    PesaLinkConnector,
    PhoneNotLinked,
    ProviderError,
    TransferNotFound,
    TransferOrder,
    TransferResult,
    callback_ack,
    parse_callback,
)
from connectors.pesalink.connector import (
    ACCOUNT_LOOKUP_PATH,
    TO_ACCOUNT_PATH,
    TO_PHONE_PATH,
)
from connectors.pesalink.simulator import SIGNING_KEY_PEM, SIMULATOR, SimConfig, create_app
from connectors.pesalink.simulator.config import KNOBS
from connectors.transport import AiohttpTransport
from tests.simharness import Receiver, SimClient, command_line, staged

pytestmark = pytest.mark.integration

DELAY = 0.05  # seconds from a final state to its callback
PENDING = 0.3  # seconds a pending trigger stays pending
BALANCE = 10_000_000_000  # the simulator's default source balance, cents
DOC_ACCOUNT = ("57", "99901288715910", "Tom Doe")  # doc §3.1 destination sample


def ref() -> str:
    return "po_" + uuid.uuid4().hex[:20]


def connector_for(base_url: str, timeout: float = 5.0, **change: Any) -> PesaLinkConnector:
    fields: dict[str, Any] = {
        "base_url": base_url,
        "api_key": "sandbox-api-key",
        "merchant_code": "0000000001",
        "consumer_secret": "sandbox-consumer-secret",
        "signing_key_pem": SIGNING_KEY_PEM,
        "source_account": "0020100014605",
        "source_name": "John Doe",
        **change,
    }
    return PesaLinkConnector(PesaLinkAccount(**fields), timeout)


@dataclass
class Rig(SimClient):
    base_url: str
    callback_url: str
    receiver: Receiver
    transport: AiohttpTransport
    bank: PesaLinkConnector
    _token: str | None = None

    def connector(self, timeout: float = 5.0, **change: Any) -> PesaLinkConnector:
        return connector_for(self.base_url, timeout, **change)

    async def token(self, fresh: bool = False) -> str:
        if self._token is None or fresh:
            answer = self.bank.parse_token(
                await self.transport.send(self.bank.token_request()), time.time()
            )
            assert isinstance(answer, AccessToken), answer
            self._token = answer.value
        return self._token

    async def lookup(self, bank: str, account: str) -> AccountName | AccountInvalid | ProviderError:
        request = self.bank.account_lookup_request(await self.token(), bank, account)
        return self.bank.parse_account_lookup(await self.transport.send(request), bank, account)

    async def phone(self, phone: str) -> DirectoryEntry | PhoneNotLinked | ProviderError:
        request = self.bank.phone_lookup_request(await self.token(), phone)
        return self.bank.parse_phone_lookup(await self.transport.send(request), phone)

    def order(
        self,
        account: str = DOC_ACCOUNT[1],
        bank: str = DOC_ACCOUNT[0],
        name: str = DOC_ACCOUNT[2],
        amount: int = 50_000,
        reference: str | None = None,
    ) -> TransferOrder:
        e2e = reference or ref()
        return TransferOrder.to_account(e2e, amount, bank, account, name, "test", self.callback_url)

    async def send(
        self, order: TransferOrder, bank: PesaLinkConnector | None = None
    ) -> TransferResult | ProviderError:
        bank = bank or self.bank
        request = bank.transfer_request(await self.token(), order, datetime.now(UTC))
        return bank.parse_transfer(await self.transport.send(request), order)

    async def enquire(self, reference: str) -> TransferResult | TransferNotFound | ProviderError:
        request = self.bank.status_request(await self.token(), reference)
        return self.bank.parse_status(await self.transport.send(request), reference)

    async def signed(self, path: str, body: dict[str, Any], *fields: str) -> HttpResponse:
        """A hand-made request with a valid token and signature: for what the connector refuses
        to build (another bank code form, an amount over the limit, another currency)."""
        headers = {
            "Authorization": f"Bearer {await self.token()}",
            "signature": self.bank.sign(*fields),
        }
        return await self.http("POST", path, body, headers)

    def body_of(self, order: TransferOrder) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(
            self.bank.transfer_request("t", order, datetime.now(UTC)).body or b""
        )
        return body

    async def send_body(self, body: dict[str, Any], path: str = TO_ACCOUNT_PATH) -> HttpResponse:
        t = body["transfer"]
        signed = (str(t["amount"]), t["currencyCode"], t["reference"])
        return await self.signed(
            path, body, *signed, body["destination"]["name"], body["source"]["accountNumber"]
        )

    async def ledger(self, reference: str | None = None) -> list[dict[str, Any]]:
        query = f"?reference={reference}" if reference else ""
        records: list[dict[str, Any]] = await self.control("GET", "/transfers" + query)
        return records

    async def balance(self) -> int:
        stats = await self.control("GET", "/stats")
        return int(stats["source_balance_cents"])


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    receiver = Receiver(answer=callback_ack())
    simulator = create_app(SimConfig(callback_delay=DELAY, pending_for=PENDING))
    async with staged(receiver, "/hooks/pesalink", lambda _: simulator) as stage:
        url, hooks = stage.base_url, stage.hooks_url + "/hooks/pesalink"
        rig = Rig(url, hooks, receiver, stage.transport, connector_for(url))
        assert simulator[SIMULATOR].config.callback_delay == DELAY
        yield rig


def paid(result: object) -> TransferResult:
    assert isinstance(result, TransferResult), result
    assert result.outcome == "succeeded", result
    return result


# --- token and signature ------------------------------------------------------------------------


async def test_token_answer_carries_iso_times_and_a_usable_lifetime(rig: Rig) -> None:
    resp = await rig.transport.send(rig.bank.token_request())
    body = resp.json()
    assert resp.status == 200
    assert set(body) == {"accessToken", "refreshToken", "expiresIn", "issuedAt", "tokenType"}
    assert body["tokenType"] == "Bearer"
    token = rig.bank.parse_token(resp, now=1000.0)
    assert isinstance(token, AccessToken)
    assert token.expires_at == pytest.approx(1000.0 + 3600 - 60, abs=1)


async def test_wrong_credentials_are_a_rejection(rig: Rig) -> None:
    bank = rig.connector(consumer_secret="nope")
    answer = bank.parse_token(await rig.transport.send(bank.token_request()), time.time())
    assert answer == ProviderError(
        "rejected", "401100", "Invalid API key or merchant credentials", 401
    )


async def test_an_expired_token_is_invalid_token_and_a_fresh_one_works(rig: Rig) -> None:
    await rig.token()
    assert (await rig.control("POST", "/expire_tokens"))["expired"] == 1
    answer = await rig.lookup(*DOC_ACCOUNT[:2])
    assert isinstance(answer, ProviderError) and answer.kind == "invalid_token"
    await rig.token(fresh=True)
    assert isinstance(await rig.lookup(*DOC_ACCOUNT[:2]), AccountName)


async def test_a_wrong_signing_key_is_refused_and_nothing_is_booked(rig: Rig) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    order = rig.order()
    answer = await rig.send(order, rig.connector(signing_key_pem=pem))
    assert answer == ProviderError("rejected", "900100", "Invalid signature", 400)
    assert await rig.ledger() == []
    await rig.control("PATCH", "/config", {"check_signatures": False})
    paid(await rig.send(order, rig.connector(signing_key_pem=pem)))


# --- lookups ------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["12", "0012"])
async def test_account_lookup_accepts_every_bank_code_form(rig: Rig, form: str) -> None:
    body = {"countryCode": "KE", "bankCode": form, "accountNumber": "0170197176640"}
    resp = await rig.signed(ACCOUNT_LOOKUP_PATH, body, "KE", form, "0170197176640")
    assert resp.status == 200
    assert resp.json()["data"]["accountName"] == "John Doe"  # doc §3.2 sample
    assert rig.bank.parse_account_lookup(resp, form, "0170197176640") == AccountName(
        "12", "National Bank of Kenya", "0170197176640", "John Doe"
    )


async def test_kcb_in_one_digit_is_looked_up(rig: Rig) -> None:
    answer = await rig.lookup("1", "1100123456789")
    assert answer == AccountName("01", "KCB Bank Kenya", "1100123456789", "JANE WANJIKU DOE")


@pytest.mark.parametrize(
    ("account", "reason"), [("0123451001", "AC01"), ("0123451004", "AC04"), ("0123451006", "AC06")]
)
async def test_lookup_triggers_for_accounts_that_cannot_receive(
    rig: Rig, account: str, reason: str
) -> None:
    answer = await rig.lookup("11", account)
    assert isinstance(answer, AccountInvalid)
    assert (answer.bank_code, answer.reason_code) == ("11", reason)


async def test_lookup_with_the_receiving_bank_offline_is_retriable(rig: Rig) -> None:
    answer = await rig.lookup("11", "0123453008")
    assert isinstance(answer, ProviderError)
    assert (answer.kind, answer.code) == ("retriable", "AB08")


async def test_unlisted_accounts_exist_with_a_stable_name(rig: Rig) -> None:
    first, again = await rig.lookup("68", "5550001234"), await rig.lookup("0068", "5550001234")
    assert isinstance(first, AccountName) and first == again
    assert first.account_name.count(" ") == 2


async def test_a_bank_not_on_pesalink_is_refused_here_and_by_the_bank(rig: Rig) -> None:
    with pytest.raises(ValueError, match="Imperial Bank"):
        rig.bank.account_lookup_request("t", "39", "0123456789")
    body = {"countryCode": "KE", "bankCode": "39", "accountNumber": "0123456789"}
    resp = await rig.signed(ACCOUNT_LOOKUP_PATH, body, "KE", "39", "0123456789")
    assert (resp.status, resp.json()["code"], resp.json()["data"]) == (
        400,
        400101,
        {"reasonCode": "RC01"},
    )


async def test_phone_lookup_lists_every_link_and_the_default(rig: Rig) -> None:
    entry = await rig.phone("+254 712 345 678")
    assert isinstance(entry, DirectoryEntry)
    assert [(a.bank_code, a.is_default) for a in entry.accounts] == [("68", True), ("01", False)]
    assert entry.default.holder_name == "JANE WANJIKU DOE"
    assert entry.default.account_mask == "*********5678"


async def test_unlisted_phones_have_one_default_link_and_0404_none(rig: Rig) -> None:
    entry = await rig.phone("0799111222")
    assert isinstance(entry, DirectoryEntry) and len(entry.accounts) == 1
    assert entry.default.account_mask is not None and entry.default.account_mask.endswith("1222")
    assert await rig.phone("0799110404") == PhoneNotLinked(
        "254799110404", "The phone number is not linked to an account on PesaLink."
    )


# --- transfers ----------------------------------------------------------------------------------


async def test_a_transfer_pays_once_books_it_and_calls_back(rig: Rig) -> None:
    looked = await rig.lookup(*DOC_ACCOUNT[:2])
    assert isinstance(looked, AccountName)
    order = rig.order(name=looked.account_name, amount=123_456)
    result = paid(await rig.send(order))
    assert (result.end_to_end_id, result.amount_cents, result.status) == (
        order.end_to_end_id,
        123_456,
        "SUCCESS",
    )
    callback = parse_callback((await rig.receiver.wait_for(count=1))[0])
    enquiry = await rig.enquire(order.end_to_end_id)
    assert callback == enquiry == result  # one parser, one truth
    [booked] = await rig.ledger(order.end_to_end_id)
    assert (booked["state"], booked["paid"], booked["amount_cents"]) == ("paid", True, 123_456)
    assert booked["callback_statuses"] == [200]
    assert await rig.balance() == BALANCE - 123_456


@pytest.mark.parametrize(
    ("account", "reason"),
    [
        ("0123451001", "AC01"),
        ("0123451004", "AC04"),
        ("0123451006", "AC06"),
        ("0123453004", "AM04"),
        ("0123453008", "AB08"),
    ],
)
async def test_failing_triggers_are_final_and_debit_nothing(
    rig: Rig, account: str, reason: str
) -> None:
    order = rig.order(account=account, bank="11", name="Anyone")
    result = await rig.send(order)
    assert isinstance(result, TransferResult)
    assert (result.outcome, result.status, result.reason_code) == ("failed", "FAILED", reason)
    assert parse_callback((await rig.receiver.wait_for(count=1))[0]) == result
    [booked] = await rig.ledger(order.end_to_end_id)
    assert (booked["state"], booked["debited"]) == ("failed", False)
    assert await rig.balance() == BALANCE


async def test_a_name_checked_account_refuses_another_name_and_takes_the_holders(rig: Rig) -> None:
    looked = await rig.lookup("63", "0090207632001")
    assert isinstance(looked, AccountName)
    wrong = await rig.send(rig.order(account="0090207632001", bank="63", name="Somebody Else"))
    assert isinstance(wrong, TransferResult)
    assert (wrong.outcome, wrong.reason_code) == ("failed", "BE01")
    reordered = " ".join(reversed(looked.account_name.split())).lower()
    paid(await rig.send(rig.order(account="0090207632001", bank="63", name=reordered)))


async def test_an_upstream_timeout_paid_and_the_enquiry_says_so(rig: Rig) -> None:
    order = rig.order(account="0123454004", bank="01", name="X Y")
    answer = await rig.send(order)
    assert isinstance(answer, ProviderError)
    assert (answer.kind, answer.http_status) == ("unknown", 504)
    paid(await rig.enquire(order.end_to_end_id))
    resent = await rig.send(order)
    assert isinstance(resent, ProviderError) and resent.kind == "duplicate"
    assert [r["paid"] for r in await rig.ledger(order.end_to_end_id)] == [True]


async def test_pending_then_paid_by_callback_and_enquiry(rig: Rig) -> None:
    order = rig.order(account="0123455001", bank="07", name="X Y")
    first = await rig.send(order)
    assert isinstance(first, TransferResult)
    assert (first.outcome, first.status, first.completed_at) == ("pending", "PENDING", None)
    still = await rig.enquire(order.end_to_end_id)
    assert isinstance(still, TransferResult) and still.outcome == "pending"
    assert await rig.balance() == BALANCE - 50_000  # debited at acceptance
    final = parse_callback((await rig.receiver.wait_for(count=1))[0])
    assert final.outcome == "succeeded" and final.completed_at is not None
    assert await rig.enquire(order.end_to_end_id) == final


async def test_pending_then_failed_gives_the_money_back(rig: Rig) -> None:
    order = rig.order(account="0123455002", bank="07", name="X Y")
    first = await rig.send(order)
    assert isinstance(first, TransferResult) and first.outcome == "pending"
    assert await rig.balance() == BALANCE - 50_000
    final = parse_callback((await rig.receiver.wait_for(count=1))[0])
    assert (final.outcome, final.reason_code) == ("failed", "AB05")
    assert await rig.balance() == BALANCE
    [booked] = await rig.ledger(order.end_to_end_id)
    assert (booked["state"], booked["debited"]) == ("failed", False)


async def test_send_to_phone_goes_to_the_default_link_or_the_chosen_bank(rig: Rig) -> None:
    to_default = TransferOrder.to_phone(ref(), 10_000, "0712345678", "Jane Doe")
    result = paid(await rig.send(to_default))
    assert (result.bank_code, result.account) == ("68", "*********5678")
    to_kcb = TransferOrder.to_phone(ref(), 10_000, "0712345678", "Jane Doe", bank_code="01")
    assert paid(await rig.send(to_kcb)).bank_code == "01"
    booked = {r["reference"]: r for r in await rig.ledger()}
    assert booked[to_kcb.end_to_end_id]["account_number"] == "1100123456789"


async def test_send_to_an_unlinked_phone_is_refused_and_books_nothing(rig: Rig) -> None:
    order = TransferOrder.to_phone(ref(), 10_000, "0711000404", "Nobody")
    answer = await rig.send(order)
    assert answer == ProviderError(
        "rejected", "104102", "Mobile number is not registered on PesaLink", 400
    )
    not_there = TransferOrder.to_phone(ref(), 10_000, "0712345678", "Jane Doe", bank_code="31")
    assert isinstance(await rig.send(not_there), ProviderError)
    assert await rig.ledger() == []


async def test_phone_transfers_follow_the_resolved_accounts_triggers(rig: Rig) -> None:
    result = await rig.send(TransferOrder.to_phone(ref(), 10_000, "0799001004", "X Y"))
    assert isinstance(result, TransferResult)
    assert (result.outcome, result.reason_code) == ("failed", "AC04")


# --- one reference, one transfer ----------------------------------------------------------------


async def test_a_second_transfer_with_the_same_reference_is_refused(rig: Rig) -> None:
    order = rig.order()
    paid(await rig.send(order))
    again = rig.order(reference=order.end_to_end_id, amount=99_999)
    answer = await rig.send(again)
    assert answer == ProviderError("duplicate", "409100", "Duplicate transaction reference", 409)
    assert [r["amount_cents"] for r in await rig.ledger(order.end_to_end_id)] == [50_000]
    assert (await rig.control("GET", "/stats"))["duplicates_refused"] == 1


async def test_a_dropped_answer_is_settled_by_enquiry_never_by_paying_again(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"drop_sync_answer": 1})
    order = rig.order()
    request = rig.bank.transfer_request(await rig.token(), order, datetime.now(UTC))
    with pytest.raises(OutcomeUnknown):
        await rig.transport.send(request)
    paid(await rig.enquire(order.end_to_end_id))
    resent = await rig.send(order)  # a careless resend is refused, not paid
    assert isinstance(resent, ProviderError) and resent.kind == "duplicate"
    [booked] = await rig.ledger(order.end_to_end_id)
    assert (booked["paid"], booked["answer"]) == (True, "dropped")
    assert await rig.balance() == BALANCE - 50_000


async def test_a_slow_answer_times_out_after_the_money_moved(rig: Rig) -> None:
    await rig.token()
    await rig.control("PATCH", "/config", {"latency": 0.4})
    order = rig.order()
    with pytest.raises(OutcomeUnknown):
        await rig.send(order, rig.connector(timeout=0.15))
    await rig.control("PATCH", "/config", {"latency": 0})
    paid(await rig.enquire(order.end_to_end_id))


# --- limits -------------------------------------------------------------------------------------


async def test_per_transaction_limits_here_and_at_the_bank(rig: Rig) -> None:
    with pytest.raises(ValueError, match="maximum"):
        rig.bank.transfer_request(
            "t", rig.order(amount=MAX_PER_TRANSACTION_CENTS + 1), datetime.now(UTC)
        )
    with pytest.raises(ValueError, match="minimum"):
        rig.bank.transfer_request("t", rig.order(amount=999), datetime.now(UTC))
    over = rig.body_of(rig.order())
    over["transfer"]["amount"] = "1000000.00"
    resp = await rig.send_body(over)
    assert (resp.status, resp.json()["code"], resp.json()["data"]) == (
        400,
        400102,
        {"reasonCode": "AM13"},
    )
    under = rig.body_of(rig.order())
    under["transfer"]["amount"] = "9.99"
    assert (await rig.send_body(under)).json()["code"] == 400102
    paid(await rig.send(rig.order(amount=MAX_PER_TRANSACTION_CENTS)))
    assert len(await rig.ledger()) == 1


async def test_minimum_and_daily_limit_knobs(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"minimum_cents": 100, "daily_limit_cents": 100_000})
    low = rig.body_of(rig.order())
    low["transfer"]["amount"] = "5.00"
    assert (await rig.send_body(low)).status == 200
    paid(await rig.send(rig.order(amount=60_000)))
    answer = await rig.send(rig.order(amount=60_000))
    assert isinstance(answer, ProviderError)
    assert (answer.kind, answer.code) == ("rejected", "400104")
    assert "KES 395.00" in answer.message


async def test_a_source_balance_too_small_fails_with_am04(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"source_balance_cents": 10_000})
    result = await rig.send(rig.order(amount=10_001))
    assert isinstance(result, TransferResult)
    assert (result.outcome, result.reason_code) == ("failed", "AM04")
    paid(await rig.send(rig.order(amount=10_000)))
    assert await rig.balance() == 0


async def test_only_kes_is_accepted(rig: Rig) -> None:
    body = rig.body_of(rig.order())
    body["transfer"]["currencyCode"] = "USD"
    resp = await rig.send_body(body)
    assert (resp.status, resp.json()["code"]) == (400, 400103)


async def test_a_bad_field_is_named(rig: Rig) -> None:
    body = rig.body_of(rig.order())
    body["destination"]["accountNumber"] = "12-34"
    resp = await rig.send_body(body)
    assert (resp.status, resp.json()["message"]) == (
        400,
        "Invalid request: destination.accountNumber",
    )
    phone = TransferOrder.to_phone(ref(), 10_000, "0712345678", "Jane Doe")
    sent_to_account_path = rig.body_of(phone)
    assert (await rig.send_body(sent_to_account_path)).json()["message"] == (
        "Invalid request: destination.type"
    )
    assert (await rig.send_body(rig.body_of(phone), TO_PHONE_PATH)).status == 200


# --- faults -------------------------------------------------------------------------------------


async def test_a_503_burst_is_retriable_and_the_same_reference_then_pays(rig: Rig) -> None:
    await rig.token()
    await rig.control("PATCH", "/config", {"error_burst": {"status": 503, "count": 2}})
    order = rig.order()
    for _ in range(2):
        answer = await rig.send(order)
        assert isinstance(answer, ProviderError) and answer.kind == "retriable"
    paid(await rig.send(order))
    assert len(await rig.ledger(order.end_to_end_id)) == 1


async def test_a_500_burst_is_unknown_and_the_enquiry_proves_nothing_happened(rig: Rig) -> None:
    await rig.token()
    burst = {"status": 500, "count": 1, "api": "transfer"}
    await rig.control("PATCH", "/config", {"error_burst": burst})
    order = rig.order()
    answer = await rig.send(order)
    assert isinstance(answer, ProviderError) and answer.kind == "unknown"
    assert await rig.enquire(order.end_to_end_id) == TransferNotFound(order.end_to_end_id)
    paid(await rig.send(order))  # proven never booked: the same reference may go again


async def test_a_burst_scoped_to_lookups_spares_transfers(rig: Rig) -> None:
    await rig.token()
    await rig.control(
        "PATCH", "/config", {"error_burst": {"status": 429, "count": 1, "api": "lookup"}}
    )
    paid(await rig.send(rig.order()))
    answer = await rig.lookup(*DOC_ACCOUNT[:2])
    assert isinstance(answer, ProviderError) and (answer.kind, answer.http_status) == (
        "retriable",
        429,
    )
    assert isinstance(await rig.lookup(*DOC_ACCOUNT[:2]), AccountName)


async def test_an_outage_answers_503_then_ends(rig: Rig) -> None:
    await rig.token()
    config = await rig.control("PATCH", "/config", {"outage": 0.3})
    assert 0 < config["outage"] <= 0.3
    order = rig.order()
    answer = await rig.send(order)
    assert isinstance(answer, ProviderError) and answer.kind == "retriable"
    lookup = await rig.lookup(*DOC_ACCOUNT[:2])
    assert isinstance(lookup, ProviderError) and lookup.kind == "retriable"
    await asyncio.sleep(0.35)
    paid(await rig.send(order))


async def test_lost_and_duplicated_callbacks(rig: Rig) -> None:
    await rig.control("PATCH", "/config", {"lose_callbacks": 1, "duplicate_callbacks": 1})
    lost, doubled = rig.order(), rig.order()
    paid(await rig.send(lost))
    paid(await rig.send(doubled))
    bodies = await rig.receiver.wait_for(count=2)
    await asyncio.sleep(DELAY * 2)
    assert {parse_callback(b).end_to_end_id for b in bodies} == {doubled.end_to_end_id}
    assert len(rig.receiver.bodies) == 2
    [booked] = await rig.ledger(lost.end_to_end_id)
    assert (booked["callback_lost"], booked["paid"]) == (True, True)


# --- control ------------------------------------------------------------------------------------


async def test_patch_validates_and_reset_restores(rig: Rig) -> None:
    resp = await rig.http("PATCH", "/__sim/config", {"latency": -1})
    assert resp.status == 400 and "latency" in resp.json()["error"]
    resp = await rig.http("PATCH", "/__sim/config", {"nope": 1})
    assert resp.status == 400 and "unknown knobs" in resp.json()["error"]
    config = await rig.control("PATCH", "/config", {"pending_for": 9, "drop_sync_answer": 2})
    assert set(KNOBS) <= set(config) and config["pending_for"] == 9
    await rig.control("POST", "/reset")
    config = await rig.control("GET", "/config")
    assert (config["pending_for"], config["drop_sync_answer"]) == (PENDING, 0)


async def test_stats_and_ledger_filters(rig: Rig) -> None:
    ok, failed = rig.order(), rig.order(account="0123451004", bank="11", name="X")
    paid(await rig.send(ok))
    await rig.send(failed)
    await rig.enquire(ok.end_to_end_id)
    stats = await rig.control("GET", "/stats")
    assert (stats["transfers_accepted"], stats["transfers_paid"], stats["transfers_failed"]) == (
        2,
        1,
        1,
    )
    assert stats["enquiries"] == 1
    assert [r["reference"] for r in await rig.control("GET", "/transfers?state=failed")] == [
        failed.end_to_end_id
    ]
    assert len(await rig.control("GET", "/transfers?limit=1")) == 1
    one = await rig.control("GET", f"/transfers/{ok.end_to_end_id}")
    assert one["transaction_id"] and one["holder_name"] == "Tom Doe"
    directory = await rig.control("GET", "/directory")
    assert "254712345678" in directory["phones"]


async def test_unknown_routes_answer_the_bank_envelope(rig: Rig) -> None:
    resp = await rig.http("GET", "/v3-apis/nothing-here")
    assert (resp.status, resp.json()["status"]) == (404, False)
    resp = await rig.http("GET", TO_ACCOUNT_PATH)
    assert (resp.status, resp.json()["code"]) == (405, 405100)


async def test_the_command_line_serves_the_simulator() -> None:
    async with command_line("connectors.pesalink.simulator", "--pending-for", "1") as (_, config):
        assert (config["pending_for"], config["source_account"]) == (1.0, "0020100014605")
