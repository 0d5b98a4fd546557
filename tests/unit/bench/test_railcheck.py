"""Per-rail money checks (bench/railcheck.py), the sink's view of transfers (bench/sink.py), the
per-operation figures (bench/perop.py) and the file SACCO's own record (bench/mixed.py)."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.checks import Stored, check, collect_accepted
from bench.config import RunConfig
from bench.mixed import funding_phone, transfer_stored
from bench.mixspec import Booking
from bench.perop import per_op, per_rail, table
from bench.railcheck import (
    callback_answers,
    in_flight_reason,
    money_summary,
    paid_twice,
    rail_reports,
    transfer_problems,
)
from bench.records import Record
from bench.sink import Arrival, transfer_outcome
from connectors.airtel.bench import airtel_bookings
from connectors.mpesa.bench import b2c_bookings
from connectors.mpesa.simulator.triggers import TRIGGERS
from connectors.pesalink.bench import pesalink_bookings
from connectors.sacco.bench import file_sacco_paid, sacco_api_bookings, sacco_file_bookings
from connectors.sacco.files import (
    Batch,
    BatchLine,
    ResultFile,
    ResultLine,
    write_batch,
    write_result,
)
from connectors.sacco.outbox import write_atomic

# --- nothing paid twice ----------------------------------------------------------------------


def test_clean_bookings_are_not_paid_twice() -> None:
    books = [
        Booking("airtel_payout", "pay_1", "733000001", "A1"),
        Booking("airtel_payout", "pay_2", "733000002", "A2"),
    ]
    found = paid_twice(books)
    assert found["airtel_payout"].total == 0
    assert found["airtel_payout"].bookings == 2


def test_one_id_booked_twice_and_one_destination_paid_twice_are_both_found() -> None:
    books = [
        Booking("bank_transfer", "pay_1", "68:0000017001", "T1"),
        Booking("bank_transfer", "pay_1", "68:0000017001", "T2"),  # our id, a second booking
        Booking("bank_transfer", "pay_3", "68:0000027002", "T3"),
        Booking("bank_transfer", "pay_4", "68:0000027002", "T4"),  # a fresh account paid twice
    ]
    found = paid_twice(books)["bank_transfer"]
    assert found.extra_per_ref == 1
    assert found.extra_per_destination == 2  # pay_1's second booking and pay_4
    assert "pay_1" in found.sample and "68:0000027002" in found.sample


def test_the_same_booking_reported_twice_is_one_booking() -> None:
    # The file SACCO answers a repeated payment with its first booking: one booking.
    books = sacco_file_bookings(
        "WAUMINI", [("pay_1", "1001101", "WAU01"), ("pay_1", "1001101", "WAU01")]
    )
    assert paid_twice(books)["sacco"].total == 0
    twice = sacco_file_bookings(
        "WAUMINI", [("pay_1", "1001101", "WAU01"), ("pay_1", "1001101", "WAU02")]
    )
    assert paid_twice(twice)["sacco"].extra_per_ref == 1


def test_simulator_records_become_bookings() -> None:
    b2c = b2c_bookings(
        [
            {"originator_conversation_id": "pay_1", "phone": "254710007001", "paid": True,
             "transaction_id": "R1"},
            {"originator_conversation_id": "pay_2", "phone": "254710007002", "paid": False,
             "transaction_id": "SG7"},
        ]
    )  # fmt: skip
    assert b2c == [Booking("mpesa_b2c", "pay_1", "710007001", "R1")]
    airtel = airtel_bookings(
        {
            "entries": [
                {"kind": "disbursement", "transaction_id": "pay_3", "msisdn": "733007001",
                 "airtel_money_id": "AM1"},
                {"kind": "collection", "transaction_id": "pay_4", "msisdn": "733007002",
                 "airtel_money_id": "AM2"},
                {"kind": "refund", "transaction_id": "pay_4", "msisdn": "733007002",
                 "airtel_money_id": "AM3"},
            ]
        }
    )  # fmt: skip
    assert [b.book for b in airtel] == ["airtel_payout", "airtel_ussd"]
    bank = pesalink_bookings(
        [
            {"reference": "pay_5", "bank_code": "68", "account_number": "1", "paid": True,
             "transaction_id": "9"},
            {"reference": "pay_6", "bank_code": "68", "account_number": "2", "paid": False},
        ]
    )  # fmt: skip
    assert [b.ref for b in bank] == ["pay_5"]
    sacco = sacco_api_bookings(
        [
            {"external_id": "pay_7", "sacco_code": "STIMA", "member_number": "1001101",
             "transaction_id": 3},
            {"external_id": "pay_8", "sacco_code": "STIMA", "member_number": "1001102",
             "transaction_id": 4, "reversed": True},
        ]
    )  # fmt: skip
    assert sacco == [Booking("sacco", "pay_7", "STIMA:1001101", "STIMA:3")]


def test_callback_answers_count_statuses_and_errors() -> None:
    answers = callback_answers(
        [
            {"callback_statuses": [200], "callback_error": None},
            {"callback_statuses": [None], "callback_error": "TimeoutError: "},
            {"callback_statuses": []},
        ],
        "callback_statuses",
        "callback_error",
    )
    assert answers == {"statuses": {"200": 1, "none": 1}, "errors": {"TimeoutError": 1}}


# --- per rail --------------------------------------------------------------------------------


def _world() -> tuple[dict, list[Stored], list[Arrival]]:  # type: ignore[type-arg]
    records = [
        Record(10.0, 0.1, "mpesa_b2c", 202, "pay_1", "k1", "0710007001", merchant=0),
        Record(10.0, 0.1, "sacco_file", 202, "pay_2", "k2", "1001101", merchant=0),
        Record(10.0, 0.1, "auto_collect", 202, "pay_3", "k3", "0730007001", merchant=0),
        Record(10.0, 0.1, "transfer", 202, "trf_s0_1", "k4", "a>b", merchant=0),
        Record(10.0, 0.1, "airtel_payout", 202, "pay_5", "k5", "0730007002", merchant=0),
    ]
    accepted, _ = collect_accepted(records)
    stored = [
        Stored("pay_1", "k1", "succeeded", 0, "mpesa_b2c"),
        Stored("pay_2", "k2", "processing", 0, "sacco"),
        Stored("pay_3", "k3", "succeeded", 0, "airtel_ussd"),
        Stored("trf_s0_1", "k4", "refunded", 0, "transfer"),
        Stored("leg_1", "trf_s0_1:debit", "succeeded", 0, "mpesa_stk", "trf_s0_1"),
    ]
    arrivals = [
        Arrival("pay_1", "payout.succeeded", 11.0, "e1", 0),
        Arrival("pay_3", "payment.succeeded", 11.5, "e3", 0),
        Arrival("trf_s0_1", "transfer.refunded", 13.0, "", 0),
    ]
    return accepted, stored, arrivals


def test_rail_reports_split_final_in_flight_and_lost_by_rail() -> None:
    accepted, stored, arrivals = _world()
    report = check(accepted, {}, arrivals, stored, None)
    first = {a.payment_id: a.at for a in arrivals}
    rails = rail_reports(accepted, stored, report, first)
    assert set(rails) == {"mpesa_b2c", "sacco", "auto", "transfer", "airtel_payout"}
    assert (rails["mpesa_b2c"].final, rails["mpesa_b2c"].completed) == (1, 1)
    assert rails["sacco"].final == 0 and rails["sacco"].lost == []
    assert (
        rails["sacco"].in_flight[0]["reason"].endswith("waiting for the file SACCO's result file")
    )
    assert rails["auto"].methods == {"airtel_ussd": 1}
    assert rails["transfer"].statuses == {"refunded": 1}
    assert rails["airtel_payout"].lost == ["pay_5"]  # accepted, never stored
    assert report.unknown_in_db == 0  # the transfer's leg is not an unknown payment


def test_in_flight_reasons_name_the_wait() -> None:
    assert "review" in in_flight_reason("mpesa_b2c", "held")
    assert "provider" in in_flight_reason("mpesa_stk", "processing")
    assert "leg" in in_flight_reason("transfer", "refunding")


def test_transfers_that_neither_succeeded_nor_refunded_are_listed() -> None:
    views = {
        "trf_1": {"status": "succeeded", "legs": {"debit": {"status": "succeeded"},
                                                  "credit": {"status": "succeeded"}}},
        "trf_2": {"status": "refunded", "legs": {"debit": {"status": "succeeded"},
                                                 "credit": {"status": "failed"},
                                                 "refund": {"status": "succeeded"}}},
        "trf_3": {"status": "failed", "legs": {"debit": {"status": "failed"}}},
        "trf_4": {"status": "refund_failed", "legs": {}},
        "trf_5": {"status": "processing", "legs": {}},
        "trf_6": None,
        "trf_7": {"status": "succeeded", "legs": {"debit": {"status": "succeeded"},
                                                  "credit": {"status": "processing"}}},
    }  # fmt: skip
    found = transfer_problems(views)
    assert found["not_settled"] == 3
    assert found["legs_disagree"] == 1
    assert found["legs_disagree_sample"] == ["trf_7"]
    assert found["statuses"]["missing"] == 1


def test_the_verdict_needs_no_double_payment_settled_transfers_and_balanced_books() -> None:
    twice = paid_twice([Booking("sacco", "p", "S:1", "S:1"), Booking("sacco", "p", "S:1", "S:2")])
    ok_ledger = {"balanced": True}
    assert money_summary({}, {}, None, ok_ledger)["ok"]
    assert not money_summary({}, twice, None, ok_ledger)["ok"]
    assert not money_summary({}, {}, {"not_settled": 1}, ok_ledger)["ok"]
    assert not money_summary({}, {}, None, {"balanced": False})["ok"]


def test_transfer_views_become_stored_rows() -> None:
    accepted, _, _ = _world()
    rows = transfer_stored({"trf_s0_1": {"status": "succeeded"}, "trf_x": None}, accepted)
    assert rows == [Stored("trf_s0_1", "k4", "succeeded", 0, "transfer")]


# --- the sink's view of a transfer -------------------------------------------------------------


@pytest.mark.parametrize(
    ("webhooks", "outcome"),
    [
        (["payment.succeeded", "payout.succeeded"], "succeeded"),
        (["payment.failed"], "failed"),
        (["payment.expired"], "failed"),
        (["payment.succeeded", "payout.failed", "payout.succeeded"], "refunded"),
        (["payment.succeeded", "payout.failed", "payout.failed"], "refund_failed"),
        (["payment.processing", "payment.succeeded", "payout.processing"], None),
        (["payment.succeeded", "payout.failed"], None),  # the refund is still to come
    ],
)
def test_a_transfer_ends_with_the_leg_that_ends_it(
    webhooks: list[str], outcome: str | None
) -> None:
    failed: set[str] = set()
    last = None
    for n, kind in enumerate(webhooks):
        last = transfer_outcome(kind, failed, f"leg_{n}")
    assert last == outcome


def test_a_redelivered_failed_credit_is_not_a_failed_refund() -> None:
    failed: set[str] = set()
    assert transfer_outcome("payout.failed", failed, "credit") is None
    assert transfer_outcome("payout.failed", failed, "credit") is None  # the same leg again


# --- per operation -------------------------------------------------------------------------------


def test_per_operation_and_per_rail_figures() -> None:
    records = [
        Record(100.0, 0.1, "bank_account", 202, "pay_1", "k1", "1", merchant=0),
        Record(100.5, 0.3, "bank_phone", 202, "pay_2", "k2", "2", merchant=0),
        Record(101.0, 0.2, "bank_phone", 422, "", "k3", "3", "http_422:insufficient_balance", 0),
        Record(102.0, 0.05, "get", 200, "pay_1", merchant=0),
    ]
    accepted, _ = collect_accepted(records)
    first = {"pay_1": 101.1}
    ops = per_op(records, accepted, first)
    assert set(ops) == {"bank_account", "bank_phone", "get"}
    assert ops["bank_phone"]["accepted"] == 1 and ops["bank_phone"]["requests"] == 2
    assert ops["bank_phone"]["errors"] == {"http_422:insufficient_balance": 1}
    assert ops["bank_account"]["completed"] == 1
    assert ops["bank_account"]["completion_ms"]["p50"] == pytest.approx(1100.0)
    assert ops["get"]["accepted"] == 0
    rails = per_rail(records, accepted, first)
    assert rails["bank_transfer"]["accepted"] == 2
    assert rails["bank_transfer"]["accepted_per_s"] == pytest.approx(2 / 2.05, abs=0.01)
    assert any("insufficient_balance" in line for line in table(rails, "rail"))


# --- funding and the file SACCO's record ---------------------------------------------------------


def test_funding_phones_are_no_trigger_and_not_the_load_generators() -> None:
    phones = {funding_phone(i) for i in range(1000)}
    assert len(phones) == 1000
    assert not {p[-4:] for p in phones} & set(TRIGGERS)
    assert all(p.startswith("0729") for p in phones)


def test_the_mixed_scenario_is_funded_by_default_and_the_others_not() -> None:
    assert RunConfig(scenario="mixed").fund_shillings == 200_000
    assert RunConfig(scenario="stk").fund_shillings == 0
    assert RunConfig(scenario="mixed", fund=0).fund_shillings == 0
    with pytest.raises(ValueError, match="fund"):
        RunConfig(scenario="mixed", fund=300_000)


def test_the_file_saccos_paid_lines_are_read_from_its_result_files(tmp_path: Path) -> None:
    at = datetime(2026, 11, 27, tzinfo=UTC)
    lines = (
        BatchLine(1, "pay_1", "1001101", 10_000, "deposit", "B1"),
        BatchLine(2, "pay_2", "1001102", 10_000, "deposit", "B2"),
    )
    batch = Batch("BATCH1", "WAUMINI", at, lines)
    root = tmp_path / "WAUMINI"
    write_atomic(root / "sacco" / "taken", "BATCH1.csv", write_batch(batch))
    result = ResultFile(
        "R-BATCH1-1",
        "WAUMINI",
        "BATCH1",
        at,
        (
            ResultLine(1, "pay_1", "1001101", 10_000, "PAID", "WAU0000000001", None, "deposit"),
            ResultLine(2, "pay_2", "1001102", 10_000, "FAILED", None, "dormant", "deposit"),
        ),
    )
    write_atomic(root / "archive", "R-BATCH1-1.csv", write_result(result))
    write_atomic(root / "incoming", "R-BATCH1-2.csv", write_result(result))  # answered again
    paid, problems = file_sacco_paid(root)
    assert problems == []
    assert paid == [("pay_1", "1001101", "WAU0000000001")] * 2
    assert paid_twice(sacco_file_bookings("WAUMINI", paid))["sacco"].total == 0


def test_an_unreadable_result_file_is_named(tmp_path: Path) -> None:
    root = tmp_path / "WAUMINI"
    write_atomic(root / "incoming", "R-X-1.csv", b"HDR,nonsense\n")
    paid, problems = file_sacco_paid(root)
    assert paid == []
    assert problems and problems[0].startswith("R-X-1.csv")
