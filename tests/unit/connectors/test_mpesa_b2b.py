"""M-Pesa B2B (BusinessPayBill, BusinessBuyGoods) and Tax Remittance: the order checks, the request
bodies as Daraja's samples show them, the Result's reading (the doc's quirks: string codes, a
reference array, a single-object parameter) and the simulator's bodies read back by the
connector. Pure: nothing running."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from connectors.mpesa import DarajaConnector
from connectors.mpesa.b2b import (
    B2B_PATH,
    KRA_SHORTCODE,
    TAX_PATH,
    B2bOrder,
    b2b_result,
    parse_b2b_result,
    prn_problem,
)
from connectors.mpesa.callbacks import b2b_result as b2b_callback
from connectors.mpesa.orders import B2bOrderMsg, order_for
from connectors.mpesa.outcomes import from_b2b_result
from connectors.mpesa.results import parse_result
from connectors.mpesa.simulator import b2b as sim
from connectors.mpesa.simulator.initiator_wire import SAFARICOM_QUEUE_URL
from connectors.mpesa.simulator.ledger import Delivery, Payout
from connectors.mpesa.simulator.wire import InvalidField
from switch.payments import new_payment
from switch.states import Event
from tests.unit.connectors.test_mpesa_initiator import ACCOUNT  # B2C shortcode 600992

PAYBILL = B2bOrder(
    originator_conversation_id="pay_s0_abc",
    command_id="BusinessPayBill",
    amount=239,
    party_b="888880",
    account_reference="353353",
    remarks="OK",
    result_url="https://example.co.ke/b2b/result",
    queue_timeout_url="https://example.co.ke/b2b/timeout",
)


def _body(order: B2bOrder) -> dict[str, Any]:
    request = DarajaConnector(ACCOUNT).b2b_request("tok", order)
    body: dict[str, Any] = orjson.loads(request.body or b"{}")
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.url == "https://sandbox.safaricom.co.ke" + order.path
    return body


def test_a_paybill_request_has_the_doc_sample_fields() -> None:
    body = _body(PAYBILL)
    assert PAYBILL.path == B2B_PATH
    assert {k: body[k] for k in body if k != "SecurityCredential"} == {
        "Initiator": "apiop1",
        "CommandID": "BusinessPayBill",
        "SenderIdentifierType": "4",
        "RecieverIdentifierType": "4",  # sic (doc §1)
        "Amount": 239,
        "PartyA": "600992",  # the paying (B2C) shortcode
        "PartyB": "888880",
        "AccountReference": "353353",
        "Remarks": "OK",
        "QueueTimeOutURL": "https://example.co.ke/b2b/timeout",
        "ResultURL": "https://example.co.ke/b2b/result",
        "OriginatorConversationID": "pay_s0_abc",
        "Occassion": "",  # sic (doc §1)
    }
    # The simulator reads the same body back.
    who, fields = sim.parse(body, tax=False)
    assert who.name == "apiop1"
    assert (fields["party_b"], fields["account_reference"]) == ("888880", "353353")


def test_a_tax_request_goes_to_remittax_for_kra_with_the_prn() -> None:
    tax = replace(
        PAYBILL, command_id="PayTaxToKRA", party_b=KRA_SHORTCODE, account_reference="PRN1234XN"
    )
    body = _body(tax)
    assert tax.path == TAX_PATH
    assert (body["CommandID"], body["PartyB"], body["AccountReference"]) == (
        "PayTaxToKRA",
        "572572",
        "PRN1234XN",
    )
    assert "Occassion" not in body  # not in the Tax Remittance sample
    _, fields = sim.parse(body, tax=True)
    assert fields["command_id"] == "PayTaxToKRA"
    with pytest.raises(InvalidField, match="PartyB"):
        sim.parse({**body, "PartyB": "888880"}, tax=True)
    with pytest.raises(InvalidField, match="CommandID"):
        sim.parse(body, tax=False)  # PayTaxToKRA is not a B2B command


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": 250_001}, "amount"),
        ({"party_b": "12"}, "party_b"),
        ({"account_reference": "X" * 14}, "account_reference"),
        ({"remarks": "x"}, "remarks"),
        ({"command_id": "BusinessBuyGoods"}, "no account_reference"),
        ({"command_id": "PayTaxToKRA"}, "KRA"),
        (
            {"command_id": "PayTaxToKRA", "party_b": KRA_SHORTCODE, "account_reference": "prn-1"},
            "PRN",
        ),
        ({"originator_conversation_id": " "}, "originator"),
    ],
)
def test_orders_daraja_would_refuse_are_refused_unsent(change: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        replace(PAYBILL, **change)


def test_prn_format_is_checked() -> None:
    assert prn_problem("PRN1234XN") is None
    assert prn_problem("2026110012345") is None
    assert prn_problem("prn1234xn") and prn_problem("PRN") and prn_problem("P" * 21)


_SUCCESS = {  # doc §9's success shape: string codes, a reference array
    "Result": {
        "ResultType": "0",
        "ResultCode": "0",
        "ResultDesc": "The service request is processed successfully",
        "OriginatorConversationID": "pay_s0_abc",
        "ConversationID": "AG_20200120_0000417fed8ed666e976",
        "TransactionID": "QKA81LK5CY",
        "ResultParameters": {
            "ResultParameter": [
                {
                    "Key": "DebitAccountBalance",
                    "Value": "{Amount={CurrencyCode=KES, MinimumAmount=618683, "
                    "BasicAmount=6186.83}}",
                },
                {"Key": "Amount", "Value": "190.00"},
                {"Key": "TransCompletedTime", "Value": "20221110110717"},
                {"Key": "ReceiverPartyPublicName", "Value": "000000 - Biller Company"},
                {"Key": "Currency", "Value": "KES"},
            ]
        },
        "ReferenceData": {
            "ReferenceItem": [
                {"Key": "BillReferenceNumber", "Value": "19008"},
                {"Key": "QueueTimeoutURL", "Value": SAFARICOM_QUEUE_URL},
            ]
        },
    }
}
_FAILURE = {  # doc §9's failure shape: numbers, a single-object parameter
    "Result": {
        "ResultType": 0,
        "ResultCode": 2001,
        "ResultDesc": "The initiator information is invalid.",
        "OriginatorConversationID": "pay_s0_abc",
        "ConversationID": "AG_20200120_0000417fed8ed666e976",
        "TransactionID": "QKA81LK5CY",
        "ResultParameters": {
            "ResultParameter": {"Key": "BOCompletedTime", "Value": 20200120164825}
        },
        "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": "https://x"}},
    }
}


def test_a_success_result_is_read_with_its_receipt_amount_and_reference() -> None:
    read = parse_b2b_result(orjson.dumps(_SUCCESS))
    assert (read.outcome, read.receipt, read.amount_cents) == ("succeeded", "QKA81LK5CY", 19_000)
    assert (read.receiver_name, read.bill_reference) == ("000000 - Biller Company", "19008")
    assert read.completed_at is not None
    outcome = from_b2b_result(read)
    assert outcome.event == Event.SUCCEED and outcome.amount_minor == 19_000


def test_a_failure_never_reports_the_placeholder_as_a_receipt() -> None:
    read = parse_b2b_result(orjson.dumps(_FAILURE))
    assert (read.outcome, read.receipt, read.result_code) == ("failed", None, "2001")
    outcome = from_b2b_result(read)
    assert outcome.event == Event.DECLINE
    assert outcome.failure is not None and outcome.failure.provider_code == "2001"


def test_an_unknown_code_or_a_queue_timeout_settles_nothing() -> None:
    odd = {"Result": {**_FAILURE["Result"], "ResultCode": 17}}
    assert from_b2b_result(parse_b2b_result(orjson.dumps(odd))).event is None
    timeout = {"Result": {**_FAILURE["Result"], "ResultCode": "SIM_QUEUE_TIMEOUT"}}
    assert b2b_callback("pay_s0_abc", orjson.dumps(timeout)).outcome.event is None


def _payout(**change: Any) -> Payout:
    base = Payout(
        originator_conversation_id="pay_s0_abc",
        conversation_id="AG_1",
        command_id="BusinessPayBill",
        amount=500,
        phone="888880",
        party_a="600992",
        remarks="OK",
        occasion="INV-1",
        result_code=0,
        result_desc="The service request is processed successfully.",
        transaction_id="SIM0000001",
        receiver_name="Business 888880",
        paid=True,
        timed_out=False,
        utility_after_cents=1_000_000,
        delivery=Delivery("https://x", 1),
        created_at=0.0,
        due_at=0.0,
    )
    return replace(base, **change)


def test_the_simulators_results_read_back_as_what_it_did() -> None:
    paid = b2b_result(parse_result(orjson.dumps(sim.result(_payout()))))
    assert (paid.outcome, paid.receipt, paid.amount_cents, paid.bill_reference) == (
        "succeeded",
        "SIM0000001",
        50_000,
        "INV-1",
    )
    assert paid.receiver_name == "888880 - Business 888880"
    failed = sim.result(_payout(paid=False, result_code=1, result_desc="low", transaction_id="X0"))
    assert parse_b2b_result(orjson.dumps(failed)).outcome == "failed"
    queued = sim.result(_payout(paid=False, timed_out=True))
    assert parse_b2b_result(orjson.dumps(queued)).outcome == "pending"


def test_a_paybill_payout_becomes_a_b2b_order_with_its_callback_urls() -> None:
    payment = new_payment(
        payment_id="pay_s0_abc",
        merchant_id="mch_1",
        method="mpesa_b2b_paybill",
        amount_minor=50_000,
        phone="",
        reference="SUP1",
        description="Supplier",
        metadata={},
        idem_key="k",
        request_hash="h",
        at=datetime(2026, 12, 6, tzinfo=UTC),
        destination={"business_number": "888880", "account_reference": "INV-1"},
    )
    order = order_for(payment, lambda kind, pid: f"https://switch/{kind}/{pid}")
    assert isinstance(order, B2bOrderMsg)
    assert (order.command, order.party_b, order.account_reference, order.amount) == (
        "BusinessPayBill",
        "888880",
        "INV-1",
        500,
    )
    assert order.result_url == f"https://switch/b2b/result/{payment.id}"
    tax = replace(payment, method="mpesa_tax", destination={"prn": "PRN1234XN"})
    taxed = order_for(tax, lambda kind, pid: kind)
    assert isinstance(taxed, B2bOrderMsg)
    assert (taxed.command, taxed.party_b, taxed.account_reference) == (
        "PayTaxToKRA",
        "572572",
        "PRN1234XN",
    )
