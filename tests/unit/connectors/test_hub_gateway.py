"""The hub gateway (connectors/hub/gateway.py): a request to pay is a signed notice to the payer
bank's endpoint, and the bank's answer decides the debit leg's first step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from connectors.http import HttpRequest, HttpResponse
from connectors.hub.gateway import HubGatewayCore
from connectors.hub.orders import RequestToPay
from connectors.transport import MockTransport
from switch.signing import verify_webhook
from switch.states import Event

SECRET = "whsec_" + "A" * 32
BANK = {"_id": "hpa_bank07", "bank_code": "07", "endpoint_url": "http://bank/rtp",
        "webhook_secret": SECRET, "status": "active"}  # fmt: skip


def _order(account: str = "0012341270", creditor: str = "99:1234567897") -> RequestToPay:
    return RequestToPay(
        "pay_s0_LEG", 70_000, "07", account, creditor, "Transfer", datetime(2026, 1, 1, tzinfo=UTC)
    )


def _gateway(answer: HttpResponse) -> tuple[HubGatewayCore, MockTransport]:
    async def handler(request: HttpRequest) -> HttpResponse:
        return answer

    async def find_bank(code: str) -> dict[str, Any] | None:
        return BANK if code == "07" else None

    transport = MockTransport(handler)
    return HubGatewayCore(find_bank, transport, 5.0, 300.0), transport


async def test_an_accepted_request_is_signed_and_names_the_creditor_and_reference() -> None:
    gateway, transport = _gateway(HttpResponse(202, b""))
    [result] = await gateway.submit([_order()])
    assert (result.payment_id, result.outcome.event) == ("pay_s0_LEG", Event.ACCEPTED)
    [sent] = transport.sent
    assert sent.url == "http://bank/rtp"
    assert verify_webhook(SECRET, sent.headers, sent.body)
    event = orjson.loads(sent.body)
    assert event["type"] == "hub.request_to_pay"
    data = event["data"]
    assert (data["amount"], data["reference"], data["creditor"]["id"]) == (
        "700",
        "pay_s0_LEG",
        "99:1234567897",
    )
    assert data["expires_at"] == "2026-01-01T00:05:00.000Z"  # created + SWITCH_STK_EXPIRE_AFTER


async def test_a_declined_request_fails_the_leg_with_the_banks_reason() -> None:
    gateway, _ = _gateway(HttpResponse(422, b'{"reason": "insufficient funds"}'))
    [result] = await gateway.submit([_order()])
    assert result.outcome.event == Event.REJECTED
    assert result.outcome.failure is not None
    assert "insufficient funds" in result.outcome.failure.message


async def test_an_unknown_bank_or_no_creditor_is_refused_before_anything_is_sent() -> None:
    gateway, transport = _gateway(HttpResponse(202, b""))
    unknown = RequestToPay("pay_s0_X", 100, "68", "1", "99:1", "x", datetime.now(UTC))
    results = await gateway.submit([unknown, _order(creditor="")])
    assert [r.outcome.event for r in results] == [Event.REJECTED, Event.REJECTED]
    assert transport.sent == []
