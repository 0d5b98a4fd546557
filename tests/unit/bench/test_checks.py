from typing import Any

from bench.checks import (
    Accepted,
    Push,
    Stored,
    callback_summary,
    check,
    collect_accepted,
    push_ref,
)
from bench.records import CREATE, GET, STORM, Record
from bench.sink import Arrival


def _rec(pid: str, key: str, op: str = CREATE, phone: str = "0710000002") -> Record:
    return Record(10.0, 0.01, op, 202, pid, key, phone)


def test_collect_accepted_keeps_first_answer_and_ids_per_key() -> None:
    records = [
        _rec("pay_1", "k1", STORM),
        _rec("pay_1", "k1", STORM),
        _rec("pay_2", "k1", STORM),  # the same key answered with another id
        Record(11.0, 0.01, CREATE, 503, "", "k3", "", "http_503"),
        Record(11.0, 0.01, GET, 200),
    ]
    accepted, per_key = collect_accepted(records)
    assert set(accepted) == {"pay_1", "pay_2"}
    assert per_key == {"k1": {"pay_1", "pay_2"}}


World = tuple[dict[str, Accepted], dict[str, set[str]], list[Arrival], list[Stored], list[Push]]


def _clean_world() -> World:
    accepted, per_key = collect_accepted(
        [_rec("pay_1", "k1", phone="0710000002"), _rec("pay_2", "k2", phone="0710000003")]
    )
    arrivals = [
        Arrival("pay_1", "payment.processing", 11.0, "evt_1_2"),
        Arrival("pay_1", "payment.succeeded", 12.0, "evt_1_3"),
        Arrival("pay_2", "payment.succeeded", 12.5, "evt_2_3"),
    ]
    stored = [Stored("pay_1", "m:k1", "succeeded"), Stored("pay_2", "m:k2", "succeeded")]
    pushes = [Push("pay_1", "254710000002"), Push("pay_2", "254710000003")]
    return accepted, per_key, arrivals, stored, pushes


def test_a_clean_run_has_nothing_lost_or_duplicated() -> None:
    accepted, per_key, arrivals, stored, pushes = _clean_world()
    report = check(accepted, per_key, arrivals, stored, pushes)
    assert (report.accepted, report.completed, report.lost, report.duplicated) == (2, 2, 0, 0)
    assert report.statuses == {"payment.succeeded": 2}
    assert report.as_json()["lost"] == 0


def test_losses_are_counted_once_per_payment() -> None:
    accepted, per_key, arrivals, stored, pushes = _clean_world()
    arrivals = [a for a in arrivals if a.payment_id != "pay_2"]  # no final webhook for pay_2
    stored = [Stored("pay_1", "m:k1", "processing")]  # pay_1 not final, pay_2 missing
    report = check(accepted, per_key, arrivals, stored, pushes)
    assert report.missing_in_db == ["pay_2"]
    assert report.not_final_in_db == ["pay_1"]
    assert report.no_final_arrival == ["pay_2"]
    # pay_1 is still in flight (listed, not lost); pay_2 is lost once, not once per finding.
    assert report.lost == 1
    assert report.as_json()["in_flight"] == 1


def test_a_final_payment_without_its_final_webhook_is_lost() -> None:
    accepted, per_key, arrivals, stored, pushes = _clean_world()
    arrivals = [a for a in arrivals if a.payment_id != "pay_2"]
    report = check(accepted, per_key, arrivals, stored, pushes)
    assert report.lost_ids == {"pay_2"}
    assert report.not_final_in_db == []


def test_without_a_database_a_push_without_its_callback_is_lost() -> None:
    accepted, per_key, arrivals, _stored, pushes = _clean_world()
    arrivals = [a for a in arrivals if a.payment_id != "pay_1"]
    report = check(accepted, per_key, arrivals, None, pushes)
    assert report.lost_ids == {"pay_1"}


def test_every_kind_of_duplicate_is_counted() -> None:
    accepted, per_key, arrivals, stored, pushes = _clean_world()
    arrivals.append(Arrival("pay_1", "payment.succeeded", 13.0, "evt_1_3"))  # redelivered
    stored.append(Stored("pay_3", "m:k1", "succeeded"))  # second payment for key k1
    pushes.append(Push("pay_2", "254710000003"))  # pushed twice
    report = check(accepted, per_key, arrivals, stored, pushes)
    assert report.final_deliveries == 1
    assert report.final_events == 0  # the same event id: a redelivery, not a second event
    assert report.db_payments_per_key == 1
    assert report.pushes_per_payment == 1
    assert report.pushes_per_phone == 1
    assert report.unknown_in_db == 1
    assert report.duplicated == 4


def test_daraja_checks_without_a_database() -> None:
    accepted, per_key = collect_accepted([Record(1.0, 0.01, "daraja", 200, "ws_CO_1", "", "x")])
    report = check(accepted, per_key, [Arrival("ws_CO_1", "daraja.0", 2.0)], None, [])
    assert not report.db_checked
    assert (report.completed, report.lost, report.duplicated) == (1, 0, 0)


def test_push_ref_reads_the_payment_id_from_the_callback_url() -> None:
    push = {"callback_url": "http://127.0.0.1:1/callbacks/stk/pay_s1_ABC/tok", "phone": "x"}
    assert push_ref(push, by_checkout=False) == "pay_s1_ABC"
    assert push_ref({"callback_url": "http://x/other"}, by_checkout=False) == ""
    assert push_ref({"checkout_request_id": "ws_CO_9"}, by_checkout=True) == "ws_CO_9"


def test_callback_summary() -> None:
    pushes: list[dict[str, Any]] = [
        {"callback_statuses": [200], "callback_error": None},
        {"callback_statuses": [None], "callback_error": "TimeoutError: "},
        {"callback_statuses": [], "sends_callback": True},
        {"callback_statuses": [], "sends_callback": False},
    ]
    assert callback_summary(pushes) == {
        "statuses": {"200": 1, "none": 1},
        "errors": {"TimeoutError": 1},
        "not_sent_yet": 1,
    }
