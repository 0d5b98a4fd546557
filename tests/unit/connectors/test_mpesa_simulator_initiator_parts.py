"""The simulator's pure parts for the initiator APIs and C2B: B2C triggers, new knobs, the sandbox
key, request checks, outbound bodies (read back with the connector's parsers) and the books."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
import pytest

from connectors.mpesa import (
    parse_account_balance,
    parse_b2c_result,
    parse_c2b_payment,
    parse_result,
    parse_transaction_status,
    security_credential,
)
from connectors.mpesa.simulator import c2b_wire, initiator_wire
from connectors.mpesa.simulator.config import ErrorBurst, SimConfig, take_actions
from connectors.mpesa.simulator.ledger import (
    Delivery,
    Ledger,
    Payout,
    conversation_id,
    placeholder,
)
from connectors.mpesa.simulator.sandbox import KEY_PATH, certificate_pem, decrypt_credential
from connectors.mpesa.simulator.triggers import (
    B2C_TRIGGERS,
    TRIGGERS,
    b2c_outcome_for,
    registered_name,
)
from connectors.mpesa.simulator.wire import InvalidField
from tests.unit.connectors.samples import MPESA_B2C_REQUEST as B2C_SAMPLE

WALL = 1_700_000_000.123  # 2023-11-15 01:13:20 in Nairobi
FLOAT = 1_000_000_000


# --- B2C triggers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("last_four", "code"),
    [
        ("0001", 1),
        ("0002", 2),
        ("0003", 3),
        ("0004", 4),
        ("0008", 8),
        ("0011", 11),
        ("0021", 21),
        ("2001", 2001),
        ("2006", 2006),
        ("2028", 2028),
        ("2040", 2040),
        ("8006", 8006),
        ("9003", "SFC_IC0003"),
    ],
)
def test_every_doc_b2c_code_has_a_trigger(last_four: str, code: int | str) -> None:
    outcome = b2c_outcome_for("25471234" + last_four, 100, FLOAT)
    assert (outcome.result_code, outcome.paid, outcome.sends_result) == (code, False, True)


def test_b2c_table_is_its_own() -> None:
    assert B2C_TRIGGERS["0001"].result_code == 1
    assert TRIGGERS["2001"].result_desc == "The initiator information is invalid."  # STK: PIN
    assert set(B2C_TRIGGERS) != set(TRIGGERS)


def test_special_b2c_triggers() -> None:
    no_result = b2c_outcome_for("254712340404", 100, FLOAT)
    assert (no_result.paid, no_result.sends_result) == (True, False)
    queued = b2c_outcome_for("254712340408", 100, FLOAT)
    assert (queued.paid, queued.queue_timeout) == (False, True)
    assert b2c_outcome_for("254712345678", 100, FLOAT).paid


@pytest.mark.parametrize(
    ("amount", "float_cents", "code"),
    [
        (9, FLOAT, 2),
        (10, FLOAT, 0),
        (250_000, FLOAT, 0),
        (250_001, FLOAT, 3),
        (100, 10_000, 0),
        (101, 10_000, 1),
    ],
)
def test_amount_and_float_rules(amount: int, float_cents: int, code: int) -> None:
    assert b2c_outcome_for("254712345678", amount, float_cents).result_code == code


def test_a_trigger_refusal_wins_over_amount_rules() -> None:
    assert b2c_outcome_for("254712342028", 5, 0).result_code == 2028


def test_registered_names_are_stable_and_varied() -> None:
    assert registered_name("254712345678") == "JANE WANJIKU DOE"  # the doc §8 sample
    assert registered_name("254708374149") == registered_name("254708374149")
    names = {registered_name(f"2547083741{i:02d}") for i in range(40)}
    assert len(names) > 10
    assert all(re.fullmatch(r"[A-Z]+ [A-Z]+ [A-Z]+", n) for n in names)


# --- knobs -------------------------------------------------------------------------------------


def test_new_knobs_patch_and_restore() -> None:
    config = SimConfig()
    initial = config.copy()
    config.apply(
        {
            "b2c_float_cents": 500,
            "drop_sync_answer": 2,
            "lose_result_callbacks": 1,
            "duplicate_result_callbacks": 1,
            "queue_timeouts": 3,
            "outage": 1.5,
            "c2b_validation_timeout": 2,
            "error_burst": {"status": 429, "count": 2, "api": "b2c"},
        }
    )
    knobs = config.knobs()
    assert (knobs["b2c_float_cents"], knobs["queue_timeouts"], knobs["outage"]) == (500, 3, 1.5)
    assert knobs["error_burst"] == {"status": 429, "count": 2, "api": "b2c"}
    config.restore(initial)
    assert config.knobs() == SimConfig().knobs()
    assert SimConfig().knobs()["error_burst"] == {"status": 500, "count": 0}  # shape unchanged


def test_initiator_password_stays_out_of_knobs_and_repr() -> None:
    config = SimConfig()
    assert config.initiator_password.encode() not in orjson.dumps(config.knobs())
    assert config.initiator_password not in repr(config)


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ({"b2c_float_cents": -1}, "b2c_float_cents"),
        ({"b2c_float_cents": 1.5}, "b2c_float_cents"),
        ({"drop_sync_answer": True}, "drop_sync_answer"),
        ({"lose_result_callbacks": -2}, "lose_result_callbacks"),
        ({"outage": -1}, "outage"),
        ({"c2b_validation_timeout": 0}, "c2b_validation_timeout"),
        ({"error_burst": {"status": 429, "api": "c2b"}}, "api"),
        ({"expire_tokens": True}, "unknown knobs"),  # an action, not a knob
    ],
)
def test_bad_new_knobs(patch: dict[str, Any], reason: str) -> None:
    config = SimConfig()
    with pytest.raises(ValueError, match=reason):
        config.apply(patch)
    assert config.knobs() == SimConfig().knobs()


def test_actions_are_split_out_of_a_patch() -> None:
    assert take_actions({"latency": 1, "expire_tokens": True}) == (
        {"latency": 1},
        frozenset({"expire_tokens"}),
    )
    assert take_actions({"latency": 1}) == ({"latency": 1}, frozenset())
    assert take_actions([]) == ([], frozenset())
    with pytest.raises(ValueError, match="expire_tokens"):
        take_actions({"expire_tokens": "yes"})


def test_error_burst_default_api_is_any() -> None:
    assert ErrorBurst() == ErrorBurst(500, 0, "any")


# --- sandbox key -------------------------------------------------------------------------------


def test_sandbox_pair_round_trips_with_the_connector() -> None:
    credential = security_credential("s3cret & más", certificate_pem())
    assert decrypt_credential(credential) == "s3cret & más"


@pytest.mark.parametrize("credential", ["", "%%%", "bm90IGEgY2lwaGVydGV4dA=="])
def test_garbage_credentials_decrypt_to_nothing_useful(credential: str) -> None:
    assert decrypt_credential(credential) in (None, "")


def test_sandbox_files_say_what_they_are() -> None:
    assert b"SANDBOX TEST CERTIFICATE" in certificate_pem()
    key = KEY_PATH.read_bytes()
    assert b"SANDBOX TEST KEY" in key
    assert b"NOT a secret" in key


# --- inbound requests --------------------------------------------------------------------------


def test_b2c_doc_sample_parses() -> None:
    order = initiator_wire.parse_b2c(B2C_SAMPLE)
    assert (order.amount, order.party_a, order.party_b, order.occasion) == (
        10,
        "600992",
        "254712345678",
        "April",
    )
    assert order.initiator == initiator_wire.Initiator("apiop1", "c2VjcmV0")


def test_b2c_numbers_as_strings_and_the_legacy_occasion() -> None:
    sample = {**B2C_SAMPLE, "Amount": "10", "PartyA": 600992, "PartyB": 254712345678}
    del sample["Occassion"]
    order = initiator_wire.parse_b2c({**sample, "Occasion": "legacy"})
    assert (order.amount, order.party_a, order.occasion) == (10, "600992", "legacy")
    assert initiator_wire.parse_b2c(sample).occasion == ""


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"OriginatorConversationID": None}, "OriginatorConversationID"),
        ({"InitiatorName": ""}, "InitiatorName"),
        ({"SecurityCredential": None}, "SecurityCredential"),
        ({"CommandID": "Salary"}, "CommandID"),
        ({"Amount": 10.5}, "Amount"),
        ({"PartyA": "6009"}, "PartyA"),
        ({"PartyB": "254812345678"}, "PartyB"),
        ({"Remarks": "x" * 101}, "Remarks"),
        ({"QueueTimeOutURL": "ftp://x"}, "QueueTimeOutURL"),
        ({"Occassion": "o" * 101}, "Occassion"),
    ],
)
def test_b2c_bad_fields(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        initiator_wire.parse_b2c({**B2C_SAMPLE, **change})
    assert caught.value.name == field


STATUS_SAMPLE: dict[str, Any] = {
    "Initiator": "apiop1",
    "SecurityCredential": "c2VjcmV0",
    "CommandID": "TransactionStatusQuery",
    "TransactionID": "NEF61H8J60",
    "OriginalConversationID": "payout-2024-000123",
    "PartyA": "600782",
    "IdentifierType": "4",
    "ResultURL": "https://example.co.ke/status/result",
    "QueueTimeOutURL": "https://example.co.ke/status/timeout",
    "Remarks": "OK",
    "Occasion": "OK",
}


def test_status_doc_sample_and_its_spaced_typos() -> None:
    order = initiator_wire.parse_status(STATUS_SAMPLE)
    assert (order.transaction_id, order.original_conversation_id) == (
        "NEF61H8J60",
        "payout-2024-000123",
    )
    assert (
        initiator_wire.parse_status({**STATUS_SAMPLE, "IdentifierType": 4}).identifier_type == "4"
    )
    typo = {k: v for k, v in STATUS_SAMPLE.items() if k != "CommandID"}
    with pytest.raises(InvalidField, match="CommandID"):
        initiator_wire.parse_status({**typo, "Command ID": "TransactionStatusQuery"})
    neither = {**STATUS_SAMPLE, "TransactionID": "", "OriginalConversationID": ""}
    with pytest.raises(InvalidField, match="TransactionID"):
        initiator_wire.parse_status(neither)


def test_reversal_and_balance_samples() -> None:
    reversal = initiator_wire.parse_reversal(
        {
            "Initiator": "apiop1",
            "SecurityCredential": "c2VjcmV0",
            "CommandID": "TransactionReversal",
            "TransactionID": "PDU91HIVIT",
            "Amount": "200",
            "ReceiverParty": "603021",
            "RecieverIdentifierType": "11",
            "ResultURL": "https://example.co.ke/reversal/result",
            "QueueTimeOutURL": "https://example.co.ke/reversal/timeout",
            "Remarks": "Payment reversal",
            "Occasion": "",
        }
    )
    assert (reversal.transaction_id, reversal.amount, reversal.receiver_party) == (
        "PDU91HIVIT",
        200,
        "603021",
    )
    balance = initiator_wire.parse_balance(
        {
            "Initiator": "apiop1",
            "SecurityCredential": "c2VjcmV0",
            "CommandID": "AccountBalance",
            "PartyA": 600000,
            "IdentifierType": "4",
            "Remarks": "ok",
            "QueueTimeOutURL": "https://example.co.ke/t",
            "ResultURL": "https://example.co.ke/r",
        }
    )
    assert balance.party_a == "600000"


# --- outbound bodies, read back with the connector ---------------------------------------------


def test_b2c_result_body_round_trips() -> None:
    params = initiator_wire.b2c_parameters(
        amount=150,
        receipt="RKF1234567",
        phone="254712345678",
        name="JANE WANJIKU DOE",
        completed=WALL,
        utility_cents=895_926_960,
        working_cents=0,
        charges_cents=-198_000,
    )
    body = initiator_wire.result(
        0,
        initiator_wire.SUCCESS,
        "oc-1",
        "AG_1",
        "RKF1234567",
        params,
        initiator_wire.queue_reference(),
    )
    result = parse_b2c_result(orjson.dumps(body))
    assert (result.receipt, result.amount_cents, result.receiver_name) == (
        "RKF1234567",
        15_000,
        "JANE WANJIKU DOE",
    )
    assert (result.utility_balance_cents, result.charges_paid_balance_cents) == (
        895_926_960,
        -198_000,
    )
    assert params[3] == ("TransactionCompletedDateTime", "15.11.2023 01:13:20")


def test_one_parameter_collapses_to_an_object_and_strings_mode() -> None:
    body = initiator_wire.result(
        "2001", "x", "oc", "AG", "", [("BOCompletedTime", 20200120164825)], None, strings=True
    )
    result = body["Result"]
    assert result["ResultParameters"]["ResultParameter"] == {
        "Key": "BOCompletedTime",
        "Value": 20200120164825,
    }
    assert (result["ResultType"], result["ResultCode"]) == ("0", "2001")
    assert "ReferenceData" not in result
    assert initiator_wire.occasion_reference("") == [("Occasion", None)]
    with_occasion = initiator_wire.result(0, "x", "o", "c", "", None, [("Occasion", None)])
    assert with_occasion["Result"]["ReferenceData"]["ReferenceItem"] == {"Key": "Occasion"}


def test_status_body_round_trips_with_its_quirks() -> None:
    facts = initiator_wire.StatusFacts(
        status="Completed",
        receipt="MBN31H462N",
        amount=300,
        debit_party="600310 - Safaricom333",
        credit_party="254708374149 - John Doe",
        originator_conversation_id="3211-416020-3",
        conversation_id="AG_20180223_000041b09c22e613d6c9",
        initiated=WALL,
        finalised=WALL,
        debit_account_type="Utility Account",
        reason_type="Business Payment to Customer via API",
        charges="Fee For B2C Payment|KES|22.40",
    )
    body = initiator_wire.result(
        0, "ok", "o", "c", "", initiator_wire.status_parameters(facts), None
    )
    params = body["Result"]["ResultParameters"]["ResultParameter"]
    assert {"Key": "TransactionReason"} in params
    assert {"Key": "Amount", "Value": "300"} in params
    status = parse_transaction_status(orjson.dumps(body))
    assert (status.outcome, status.credit_party, status.amount_cents) == (
        "succeeded",
        "254708374149 - John Doe",
        30_000,
    )


def test_balance_body_round_trips() -> None:
    accounts = [("Working Account", 0), ("Utility Account", 22_803_700), ("Charges Paid", -154_000)]
    assert initiator_wire.accounts_text(accounts) == (
        "Working Account|KES|0.00|0.00|0.00|0.00&Utility Account|KES|228037.00|228037.00|0.00|"
        "0.00&Charges Paid|KES|-1540.00|-1540.00|0.00|0.00"
    )
    body = initiator_wire.result(
        0, "ok", "o", "c", "", initiator_wire.balance_parameters(accounts, WALL), None, strings=True
    )
    balance = parse_account_balance(orjson.dumps(body))
    assert [a.available_cents for a in balance.accounts] == [0, 22_803_700, -154_000]
    assert parse_result(orjson.dumps(body)).parameters["BOCompletedTime"] == 20231115011320


@pytest.mark.parametrize(
    ("cents", "text"), [(0, "0.00"), (5, "0.05"), (-1540_00, "-1540.00"), (123456, "1234.56")]
)
def test_kes_is_exact(cents: int, text: str) -> None:
    assert initiator_wire.kes(cents) == text


# --- C2B wire ----------------------------------------------------------------------------------


def test_register_parse_and_its_refusals() -> None:
    good = {
        "ShortCode": 600984,
        "ResponseType": "Cancelled",
        "ConfirmationURL": "https://example.co.ke/c2b/confirm",
    }
    order = c2b_wire.parse_register(good)
    assert (order.shortcode, order.response_type, order.validation_url) == (
        "600984",
        "Cancelled",
        "",
    )
    for change, field in (
        ({"ResponseType": "Complete"}, "ResponseType"),
        ({"ConfirmationURL": "https://x.co.ke/SQL"}, "ConfirmationURL"),
        ({"ValidationURL": "https://mockbin.org/x"}, "ValidationURL"),
    ):
        with pytest.raises(InvalidField, match=field):
            c2b_wire.parse_register({**good, **change})


def test_simulate_doc_sample() -> None:
    sample = {
        "ShortCode": 600984,
        "CommandID": "CustomerPayBillOnline",
        "Amount": 1,
        "Msisdn": 254708374149,
        "BillRefNumber": "ACC001",
    }
    order = c2b_wire.parse_simulate(sample)
    assert (order.shortcode, order.amount, order.msisdn, order.bill_ref) == (
        "600984",
        1,
        "254708374149",
        "ACC001",
    )
    till = {**sample, "CommandID": "CustomerBuyGoodsOnline", "BillRefNumber": None}
    assert c2b_wire.parse_simulate(till).bill_ref == ""
    with pytest.raises(InvalidField, match="Amount"):
        c2b_wire.parse_simulate({**sample, "Amount": 250_001})


def test_msisdn_disguises() -> None:
    assert c2b_wire.disguise("254708374149", 2) == "2547 ***** 149"
    assert c2b_wire.disguise("254708374149", 1) == hashlib.sha256(b"254708374149").hexdigest()


def test_payload_is_all_strings_and_parses() -> None:
    payload = c2b_wire.payload(
        command_id="CustomerBuyGoodsOnline",
        trans_id="RKL51ZDR4F",
        trans_time=c2b_wire.trans_time(WALL),
        amount=5,
        shortcode="600966",
        bill_ref="",
        balance_cents=2_500,
        third_party_trans_id="",
        msisdn="2547 ***** 126",
        names=("JOHN", "", ""),
    )
    assert all(isinstance(v, str) for v in payload.values())
    assert (payload["TransactionType"], payload["TransAmount"], payload["TransTime"]) == (
        "Buy Goods",
        "5.00",
        "20231115011320",
    )
    payment = parse_c2b_payment(orjson.dumps(payload))
    assert (payment.amount_cents, payment.org_account_balance_cents) == (500, 2_500)


@pytest.mark.parametrize(
    ("status", "body", "answered", "accepted", "code"),
    [
        (200, b'{"ResultCode": "0", "ResultDesc": "Accepted"}', True, True, "0"),
        (
            200,
            b'{"ResultCode": 0, "ResultDesc": "Accepted", "ThirdPartyTransID": "t1"}',
            True,
            True,
            "0",
        ),
        (200, b'{"ResultCode": "C2B00012", "ResultDesc": "Rejected"}', True, False, "C2B00012"),
        (200, b'{"ResultDesc": "Accepted"}', False, False, None),
        (200, b"ok", False, False, None),
        (500, b'{"ResultCode": "0"}', False, False, None),
        (None, b"", False, False, None),
    ],
)
def test_reading_validation_answers(
    status: int | None, body: bytes, answered: bool, accepted: bool, code: str | None
) -> None:
    verdict = c2b_wire.read_validation(status, body)
    assert (verdict.answered, verdict.accepted, verdict.result_code) == (answered, accepted, code)


# --- the books ---------------------------------------------------------------------------------


def payout(
    ocid: str, *, paid: bool = True, timed_out: bool = False, due_at: float = 10.0
) -> Payout:
    return Payout(
        originator_conversation_id=ocid,
        conversation_id=f"AG_{ocid}",
        command_id="BusinessPayment",
        amount=10,
        phone="254712345678",
        party_a="600000",
        remarks="ok",
        occasion="",
        result_code=0 if paid else 2001,
        result_desc="x",
        transaction_id=f"R{ocid}" if paid else "RKF0000000",
        receiver_name="JANE WANJIKU DOE",
        paid=paid,
        timed_out=timed_out,
        utility_after_cents=0,
        delivery=Delivery("https://x/r", 1),
        created_at=WALL,
        due_at=due_at,
    )


def test_payout_states() -> None:
    assert payout("a").state(now=5.0) == "processing"
    assert payout("a").state(now=10.0) == "completed"
    assert payout("a", paid=False).state(now=10.0) == "failed"
    assert payout("a", paid=False, timed_out=True).state(now=0.0) == "timed_out"
    shown = payout("a").to_json(now=11.0)
    assert (shown["state"], shown["receipt"], shown["result_statuses"]) == ("completed", "Ra", [])
    assert "due_at" not in shown
    assert payout("b", paid=False).to_json(now=11.0)["receipt"] is None


def test_ledger_lookups_and_eviction() -> None:
    ledger = Ledger()
    for ocid in ("a", "b", "c"):
        ledger.add_payout(payout(ocid), max_records=2)
    assert list(ledger.payouts) == ["b", "c"]
    assert ledger.payout("a") is None
    assert ledger.payout_by_receipt("Ra") is None
    assert ledger.payout("AG_c") is ledger.payouts["c"]
    assert ledger.payout_by_receipt("Rc") is ledger.payouts["c"]
    ledger.add_payout(payout("d", paid=False), max_records=5)
    assert "RKF0000000" not in ledger.payouts_by_receipt  # a placeholder is not a receipt


def test_ledger_money_and_names() -> None:
    ledger = Ledger()
    assert ledger.credit("600984", 500) == 500
    assert ledger.credit("600984", -200) == 300
    ledger.names["254712345678"] = "WANJIRU KAMAU"
    assert ledger.name_of("254712345678") == "WANJIRU KAMAU"
    assert ledger.name_of("254708374149") == registered_name("254708374149")


def test_identifiers() -> None:
    assert re.fullmatch(r"AG_20231115_[0-9a-f]{20}", conversation_id(WALL))
    assert placeholder("SG722NMVXQ") == "SG70000000"
