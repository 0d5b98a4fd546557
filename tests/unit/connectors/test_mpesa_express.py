"""B2B Express Checkout's wire (connectors/mpesa/express.py), its callback reader, the settle
check against M-Pesa's record and the simulator's body parsing, with the products doc's samples."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from connectors.mpesa import express
from connectors.mpesa.callbacks import b2b_express
from connectors.mpesa.outcomes import express_record_mismatch
from connectors.mpesa.simulator import express as sim
from connectors.mpesa.simulator.wire import InvalidField
from switch.messages import CallbackIn, ProviderOutcome
from switch.payments import Payment, ProviderRefs, new_payment
from switch.states import Event

# The docs' samples (products doc §2).
CANCELLED = {"resultCode": "4001", "resultDesc": "User cancelled transaction",
             "requestId": "c2a9ba32-9e11-4b90-892c-7bc54944609a", "amount": "71.0",
             "paymentReference": "MAndbubry3hi"}  # fmt: skip
SUCCESS = {"resultCode": "0", "resultDesc": "The service request is processed successfully.",
           "amount": "71.0", "requestId": "404e1aec-19e0-4ce3-973d-bd92e94c8021",
           "resultType": "0", "conversationID": "AG_20230426_2010434680d9f5a73766",
           "transactionId": "RDQ01NFT1Q", "status": "SUCCESS"}  # fmt: skip


def test_the_request_is_camel_case_with_our_id() -> None:
    order = express.ExpressOrder(
        "pay_1", "000001", "000002", 100, "INV-77", "Vendor", "https://x/cb"
    )
    assert order.body() == {
        "primaryShortCode": "000001",
        "receiverShortCode": "000002",
        "amount": "100",
        "paymentRef": "INV-77",
        "callbackUrl": "https://x/cb",
        "partnerName": "Vendor",
        "RequestRefID": "pay_1",
    }
    with pytest.raises(ValueError, match="till"):
        express.ExpressOrder("pay_1", "1", "000002", 100, "R", "V", "https://x/cb")


def test_the_acknowledgement_has_no_response_code() -> None:
    ok = express.parse_ack(200, b'{"code": "0", "status": "USSD Initiated Successfully"}')
    assert (ok.ok, ok.code) == (True, "0")
    refused = express.parse_ack(
        401, b'{"requestId": "r", "errorCode": "401", "errorMessage": "Unauthorized"}'
    )
    assert (refused.ok, refused.code) == (False, "401")
    assert not express.parse_ack(200, b"<html>").ok


def test_results_read_as_the_samples_say() -> None:
    cancelled = express.parse_result(orjson.dumps(CANCELLED))
    assert (cancelled.outcome, cancelled.amount_cents) == ("failed", 7100)
    paid = express.parse_result(orjson.dumps(SUCCESS))
    assert (paid.outcome, paid.transaction_id) == ("succeeded", "RDQ01NFT1Q")
    odd = express.parse_result(orjson.dumps({**CANCELLED, "resultCode": "9999"}))
    assert odd.outcome == "pending"  # anything not listed is still pending
    with pytest.raises(express.MalformedExpress):
        express.parse_result(b'{"resultCode": "0"}')


def test_the_callback_declines_a_failure_and_only_claims_a_success() -> None:
    failed = b2b_express("pay_1", orjson.dumps(CANCELLED))
    assert failed.outcome.event == Event.DECLINE and failed.outcome.failure is not None
    assert failed.outcome.failure.provider_code == "4001" and not failed.verify
    claimed = b2b_express("pay_1", orjson.dumps(SUCCESS))
    assert (claimed.outcome.event, claimed.verify) == (None, True)
    assert claimed.originator_conversation_id == SUCCESS["requestId"]


def _payment() -> Payment:
    return new_payment(
        payment_id="pay_1", merchant_id="m", method="mpesa_b2b_express", amount_minor=7100,
        phone="", reference="R", description="V", metadata={}, idem_key="k",
        request_hash="h", at=datetime(2026, 12, 6, tzinfo=UTC),
        destination={"till_number": "500100"},
    )  # fmt: skip


def test_only_a_record_debiting_the_till_settles() -> None:
    payment = _payment()
    refs = ProviderRefs(receipt="RDQ01NFT1Q")
    record = CallbackIn(
        "pay_1", ProviderOutcome(Event.SUCCEED, refs, None, 7100), None, debit_party="500100 - T"
    )
    assert express_record_mismatch(payment, record) is None
    other = CallbackIn(
        "pay_1", ProviderOutcome(Event.SUCCEED, refs, None, 7100), None, debit_party="500999 - T"
    )
    assert "500999" in (express_record_mismatch(payment, other) or "")
    claim = CallbackIn("pay_1", ProviderOutcome(Event.SUCCEED, refs, None, 7100), None)
    assert express_record_mismatch(payment, claim)


def test_the_simulator_takes_the_page_fields() -> None:
    body = {"primaryShortCode": "000001", "receiverShortCode": 174379, "amount": "100",
            "paymentRef": "INV-77", "callbackUrl": "https://v.example/cb",
            "partnerName": "Vendor", "RequestRefId": "r-1"}  # fmt: skip
    fields = sim.parse(body)
    assert (fields["request_ref_id"], fields["paybill"], fields["amount"]) == ("r-1", "174379", 100)
    with pytest.raises(InvalidField, match="amount"):
        sim.parse({**body, "amount": "10.5"})
    with pytest.raises(InvalidField, match="RequestRefID"):
        sim.parse({k: v for k, v in body.items() if k != "RequestRefId"})
