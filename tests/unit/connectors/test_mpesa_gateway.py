"""MpesaGatewayCore against a scripted Daraja behind MockTransport: token reuse and refresh, the
retry policy (resend only what provably did not take effect) and the mapping of answers."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson
import pytest

from connectors.http import HttpRequest, HttpResponse, NotSent, OutcomeUnknown
from connectors.mpesa import DarajaAccount, DarajaConnector
from connectors.mpesa.gateway import MpesaGatewayCore
from connectors.mpesa.orders import StkOrder
from connectors.transport import MockTransport
from switch.messages import ProviderOutcome, QueryRequest
from switch.payments import Failure, ProviderRefs
from switch.states import Event

PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
ACCOUNT = DarajaAccount(
    base_url="https://daraja.test",
    consumer_key="key-123",
    consumer_secret="secret-456",
    shortcode="174379",
    passkey=PASSKEY,
)
TOKEN_PATH = "/oauth/v1/generate"
PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
QUERY_PATH = "/mpesa/stkpushquery/v1/query"

Reply = HttpResponse | Exception | Callable[[HttpRequest], HttpResponse]


def answer(status: int, payload: Any) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(payload), {"Content-Type": "application/json"})


def error(status: int, code: str, message: str) -> HttpResponse:
    return answer(status, {"requestId": "req-1", "errorCode": code, "errorMessage": message})


def accepted_answer(checkout: str = "ws_CO_1") -> HttpResponse:
    return answer(
        200,
        {
            "MerchantRequestID": "mr-" + checkout,
            "CheckoutRequestID": checkout,
            "ResponseCode": "0",
            "ResponseDescription": "Success. Request accepted for processing",
            "CustomerMessage": "Success. Request accepted for processing",
        },
    )


class FakeDaraja:
    """Plays Daraja: hands out tokens tok-1, tok-2, ...; pushes and queries answer from scripts
    (the last entry repeats), or the accepted answer when no script is given."""

    def __init__(self, push: list[Reply] | None = None, query: list[Reply] | None = None) -> None:
        self.push_script = list(push or [])
        self.query_script = list(query or [])
        self.tokens_issued = 0
        self.revoked: set[str] = set()
        self.pushes: list[HttpRequest] = []
        self.queries: list[HttpRequest] = []

    async def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.url.removeprefix(ACCOUNT.base_url)
        if path.startswith(TOKEN_PATH):
            return self._token(request)
        bearer = request.headers["Authorization"].removeprefix("Bearer ")
        if path == PUSH_PATH:
            self.pushes.append(request)
            if bearer in self.revoked:
                return error(404, "404.001.03", "Invalid Access Token")
            return self._play(self.push_script, request, accepted_answer)
        if path == QUERY_PATH:
            self.queries.append(request)
            return self._play(self.query_script, request, accepted_answer)
        return error(404, "404.001.01", "Resource not found")

    def _token(self, request: HttpRequest) -> HttpResponse:
        expected = base64.b64encode(b"key-123:secret-456").decode()
        assert request.method == "GET"
        assert request.headers["Authorization"] == f"Basic {expected}"
        self.tokens_issued += 1
        return answer(200, {"access_token": f"tok-{self.tokens_issued}", "expires_in": "3599"})

    @staticmethod
    def _play(
        script: list[Reply], request: HttpRequest, default: Callable[[], HttpResponse]
    ) -> HttpResponse:
        if not script:
            return default()
        step = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, HttpResponse):
            return step
        return step(request)

    def bearers(self) -> list[str]:
        return [r.headers["Authorization"] for r in self.pushes]


def gateway(daraja: FakeDaraja, retries: int = 3) -> MpesaGatewayCore:
    return MpesaGatewayCore(
        DarajaConnector(ACCOUNT), MockTransport(daraja), retries=retries, retry_base=0.001
    )


def order(n: int = 1) -> StkOrder:
    return StkOrder(
        payment_id=f"pay_s0_{n}",
        amount=150,
        phone="254712345678",
        account_reference=f"INV{n}",
        description="Order",
        callback_url=f"https://switch.test/callbacks/stk/pay_s0_{n}/tok",
    )


# --- token -------------------------------------------------------------------------------------


async def test_token_is_fetched_once_for_many_pushes() -> None:
    daraja = FakeDaraja()
    gw = gateway(daraja)
    results = await gw.submit([order(i) for i in range(10)])
    more = await gw.submit([order(99)])
    assert daraja.tokens_issued == 1
    assert len(daraja.pushes) == 11
    assert set(daraja.bearers()) == {"Bearer tok-1"}
    assert [r.payment_id for r in results] == [f"pay_s0_{i}" for i in range(10)]
    assert all(r.outcome.event == Event.ACCEPTED for r in [*results, *more])


async def test_push_request_body() -> None:
    daraja = FakeDaraja()
    await gateway(daraja).submit([order(7)])
    body = orjson.loads(daraja.pushes[0].body or b"")
    assert body["BusinessShortCode"] == 174379
    assert body["Amount"] == 150
    assert body["PartyA"] == body["PhoneNumber"] == "254712345678"
    assert body["PartyB"] == "174379"
    assert body["AccountReference"] == "INV7"
    assert body["TransactionDesc"] == "Order"
    assert body["CallBackURL"] == "https://switch.test/callbacks/stk/pay_s0_7/tok"


async def test_accepted_outcome_carries_the_references() -> None:
    daraja = FakeDaraja(push=[accepted_answer("ws_CO_42")])
    (result,) = await gateway(daraja).submit([order()])
    assert result.payment_id == "pay_s0_1"
    assert result.outcome.event == Event.ACCEPTED
    assert result.outcome.refs == ProviderRefs(
        merchant_request_id="mr-ws_CO_42", checkout_request_id="ws_CO_42"
    )
    assert result.outcome.failure is None


async def test_invalid_token_fetches_a_fresh_one_and_resends_once() -> None:
    daraja = FakeDaraja()
    gw = gateway(daraja)
    assert await gw.token() == "tok-1"
    daraja.revoked.add("tok-1")
    (result,) = await gw.submit([order()])
    assert result.outcome.event == Event.ACCEPTED
    assert daraja.tokens_issued == 2
    assert daraja.bearers() == ["Bearer tok-1", "Bearer tok-2"]


async def test_a_refused_token_is_refreshed_once_for_many_requests() -> None:
    daraja = FakeDaraja()
    gw = gateway(daraja)
    await gw.token()
    daraja.revoked.add("tok-1")
    results = await gw.submit([order(i) for i in range(5)])
    assert all(r.outcome.event == Event.ACCEPTED for r in results)
    assert daraja.tokens_issued == 2
    assert sorted(daraja.bearers()) == ["Bearer tok-1"] * 5 + ["Bearer tok-2"] * 5


# --- retry policy ------------------------------------------------------------------------------


async def test_503_then_success_is_accepted_after_a_retry() -> None:
    daraja = FakeDaraja(
        push=[error(503, "503.001.01", "Service Unavailable"), accepted_answer("ws_CO_9")]
    )
    (result,) = await gateway(daraja).submit([order()])
    assert result.outcome.event == Event.ACCEPTED
    assert result.outcome.refs is not None
    assert result.outcome.refs.checkout_request_id == "ws_CO_9"
    assert len(daraja.pushes) == 2


async def test_spike_arrest_is_retried() -> None:
    daraja = FakeDaraja(
        push=[error(500, "500.003.02", "Error Occurred: Spike Arrest Violation"), accepted_answer()]
    )
    (result,) = await gateway(daraja).submit([order()])
    assert result.outcome.event == Event.ACCEPTED
    assert len(daraja.pushes) == 2


async def test_outcome_unknown_is_answer_lost_and_never_resent() -> None:
    daraja = FakeDaraja(push=[OutcomeUnknown("read timeout"), accepted_answer()])
    (result,) = await gateway(daraja).submit([order()])
    assert result.outcome.event == Event.ANSWER_LOST
    assert result.outcome.failure is not None
    assert result.outcome.failure.code == "outcome_unknown"
    assert "read timeout" in result.outcome.failure.message
    assert len(daraja.pushes) == 1


async def test_generic_500_is_answer_lost_and_never_resent() -> None:
    daraja = FakeDaraja(
        push=[error(500, "500.003.1001", "Internal Server Error"), accepted_answer()]
    )
    (result,) = await gateway(daraja).submit([order()])
    assert result.outcome.event == Event.ANSWER_LOST
    assert len(daraja.pushes) == 1


async def test_not_sent_is_retried() -> None:
    daraja = FakeDaraja(push=[NotSent("connection refused"), accepted_answer("ws_CO_2")])
    (result,) = await gateway(daraja).submit([order()])
    assert result.outcome.event == Event.ACCEPTED
    assert len(daraja.pushes) == 2


async def test_bad_request_is_rejected_with_the_provider_code() -> None:
    daraja = FakeDaraja(push=[error(400, "400.002.02", "Bad Request - Invalid PhoneNumber")])
    (result,) = await gateway(daraja).submit([order()])
    assert result.outcome.event == Event.REJECTED
    assert result.outcome.failure == Failure(
        "rejected",
        "M-Pesa refused the request: Bad Request - Invalid PhoneNumber",
        "400.002.02",
    )
    assert len(daraja.pushes) == 1


async def test_retries_exhausted_is_rejected_as_provider_unavailable() -> None:
    daraja = FakeDaraja(push=[error(503, "503.001.01", "Service Unavailable")])
    (result,) = await gateway(daraja, retries=2).submit([order()])
    assert result.outcome.event == Event.REJECTED
    failure = result.outcome.failure
    assert failure is not None
    assert failure.code == "provider_unavailable"
    assert failure.provider_code is None
    assert "503.001.01" in failure.message
    assert len(daraja.pushes) == 3  # the first try and two retries


async def test_no_token_means_nothing_sent_and_provider_unavailable() -> None:
    class NoOAuth(FakeDaraja):
        def _token(self, request: HttpRequest) -> HttpResponse:
            self.tokens_issued += 1
            return HttpResponse(400, b"")

    daraja = NoOAuth()
    (result,) = await gateway(daraja, retries=1).submit([order()])
    assert result.outcome.event == Event.REJECTED
    assert result.outcome.failure is not None
    assert result.outcome.failure.code == "provider_unavailable"
    assert daraja.tokens_issued == 2
    assert daraja.pushes == []


# --- query -------------------------------------------------------------------------------------


QUERY = QueryRequest("pay_s0_1", "ws_CO_13012021093521236557")


async def test_query_being_processed_is_pending() -> None:
    daraja = FakeDaraja(query=[error(500, "500.001.1001", "The transaction is being processed")])
    (result,) = await gateway(daraja).query([QUERY])
    assert result.payment_id == "pay_s0_1"
    assert result.outcome is not None
    assert result.outcome.event is None
    assert len(daraja.queries) == 1
    body = orjson.loads(daraja.queries[0].body or b"")
    assert body["CheckoutRequestID"] == "ws_CO_13012021093521236557"
    assert body["BusinessShortCode"] == "174379"


async def test_query_1032_is_a_decline() -> None:
    final = {
        "ResponseCode": "0",
        "ResponseDescription": "The service request has been accepted successsfully",
        "MerchantRequestID": "22205-34066-1",
        "CheckoutRequestID": "ws_CO_13012021093521236557",
        "ResultCode": "1032",
        "ResultDesc": "Request cancelled by user",
    }
    (result,) = await gateway(FakeDaraja(query=[answer(200, final)])).query([QUERY])
    assert result.outcome is not None
    assert result.outcome.event == Event.DECLINE
    assert result.outcome.failure is not None
    assert result.outcome.failure.code == "declined"
    assert result.outcome.failure.provider_code == "1032"
    assert result.outcome.refs is not None
    assert result.outcome.refs.result_code == "1032"
    assert result.outcome.refs.checkout_request_id == "ws_CO_13012021093521236557"


def _final_query_answer(checkout: str) -> dict[str, str]:
    return {
        "ResponseCode": "0",
        "MerchantRequestID": "22205-34066-1",
        "CheckoutRequestID": checkout,
        "ResultCode": "0",
        "ResultDesc": "The service request is processed successfully.",
    }


async def test_query_success() -> None:
    final = _final_query_answer(QUERY.checkout_request_id)
    (result,) = await gateway(FakeDaraja(query=[answer(200, final)])).query([QUERY])
    assert result.outcome is not None
    assert result.outcome.event == Event.SUCCEED
    assert result.outcome.failure is None


@pytest.mark.parametrize("echoed", ["ws_CO_someone_else", ""])
async def test_a_query_answer_about_another_request_settles_nothing(echoed: str) -> None:
    """The answer must echo the CheckoutRequestID asked about; otherwise it is not about ours."""
    final = _final_query_answer(echoed)
    (result,) = await gateway(FakeDaraja(query=[answer(200, final)])).query([QUERY])
    # Either "still pending" or "the query said nothing": asked again later, never settled.
    assert result.outcome is None or result.outcome.event is None


async def test_query_400_says_nothing_about_the_payment() -> None:
    daraja = FakeDaraja(query=[error(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")])
    (result,) = await gateway(daraja).query([QUERY])
    assert result.payment_id == "pay_s0_1"
    assert result.outcome is None
    assert len(daraja.queries) == 1


async def test_query_lost_answer_says_nothing_about_the_payment() -> None:
    daraja = FakeDaraja(query=[OutcomeUnknown("reset")])
    (result,) = await gateway(daraja).query([QUERY])
    assert result.outcome is None


async def test_queries_keep_their_order() -> None:
    daraja = FakeDaraja(query=[error(500, "500.001.1001", "The transaction is being processed")])
    reqs = [QueryRequest(f"pay_s0_{i}", f"ws_CO_{i}") for i in range(3)]
    results = await gateway(daraja).query(reqs)
    assert [r.payment_id for r in results] == ["pay_s0_0", "pay_s0_1", "pay_s0_2"]


def _b2c_ack(originator: str) -> HttpResponse:
    return answer(
        200,
        {
            "ConversationID": "AG_20261206_0000",
            "OriginatorConversationID": originator,
            "ResponseCode": "0",
            "ResponseDescription": "Accept the service request successfully.",
        },
    )


def test_a_b2c_acknowledgement_of_our_request_queues_it() -> None:
    outcome = gateway(FakeDaraja())._map_b2c(_b2c_ack("pay_s0_9"), "pay_s0_9")
    assert isinstance(outcome, ProviderOutcome)
    assert outcome.event == Event.QUEUED


def test_a_b2c_acknowledgement_naming_another_request_is_not_taken_as_ours() -> None:
    """Daraja B2C v3 echoes our OriginatorConversationID; an acknowledgement that names another
    says nothing about ours: outcome unknown (Transaction Status asks), never queued."""
    outcome = gateway(FakeDaraja())._map_b2c(_b2c_ack("pay_s0_other"), "pay_s0_9")
    assert isinstance(outcome, ProviderOutcome)
    assert outcome.event == Event.ANSWER_LOST


async def test_an_order_daraja_cannot_carry_is_refused_alone_and_unsent() -> None:
    """One bad order (a field Daraja refuses) is REJECTED before anything is sent; the rest of
    the same call goes out as usual (it once failed the whole call: every payout in it lost)."""
    daraja = FakeDaraja()
    bad = replace(order(2), phone="12")
    good, refused = await gateway(daraja).submit([order(1), bad])
    assert good.outcome.event == Event.ACCEPTED
    assert refused.outcome.event == Event.REJECTED
    assert refused.outcome.failure is not None
    assert refused.outcome.failure.provider_code == "invalid_order"
    assert len(daraja.pushes) == 1
