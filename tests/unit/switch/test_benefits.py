"""The pure rules of benefit payments: identity and names, cycles and claim keys, eligibility,
de-duplication, run planning, the name matcher and the exceptions report."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from connectors.mpesa.namecheck import parse_answer
from switch.benefits import (
    Candidate,
    Eligibility,
    Registration,
    as_of,
    beneficiary_of_item,
    change_problem,
    claim_key,
    cycle_days,
    cycle_of,
    cycle_problem,
    destination,
    duplicates,
    item_id,
    national_id,
    person_name,
    plan,
    status_on,
)
from switch.benefits_names import compare, words
from switch.benefits_report import (
    exceptions_csv,
    merchant_debit,
    outcomes,
    payment_exceptions,
    summary,
)

# --- identity ------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["23456789", " 2345 6789 ", "1234567", "123456789", "123456"])
def test_national_ids_are_6_to_9_digits(raw: str) -> None:
    assert national_id(raw) == raw.replace(" ", "")


@pytest.mark.parametrize("raw", ["", "12345", "1234567890", "02345678", "A2345678", "2345-678"])
def test_anything_else_is_not_a_national_id(raw: str) -> None:
    with pytest.raises(ValueError, match="national ID"):
        national_id(raw)


def test_names_are_tidied_and_formulas_refused() -> None:
    assert person_name("  Jane   Wanjiku ") == "Jane Wanjiku"
    for bad in ("=HYPERLINK(1)", "1234", "x", "@Jane Doe"):
        with pytest.raises(ValueError, match="must"):
            person_name(bad)


# --- cycles and keys -----------------------------------------------------------------------------


def test_a_cycle_is_the_calendar_month_in_nairobi() -> None:
    assert cycle_of(datetime(2026, 11, 30, 20, 59, tzinfo=UTC)) == "2026-11"
    assert cycle_of(datetime(2026, 11, 30, 21, 0, tzinfo=UTC)) == "2026-12"  # 00:00 EAT
    assert cycle_days("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert cycle_days("2026-12") == (date(2026, 12, 1), date(2026, 12, 31))


def test_a_run_is_for_a_cycle_that_has_started() -> None:
    now = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    assert cycle_problem("2026-12", now) is None and cycle_problem("2026-11", now) is None
    assert cycle_problem("2027-01", now) == "2027-01 has not started in Nairobi (it is 2026-12)"
    assert cycle_problem("2026-13", now) == "must be a calendar month, YYYY-MM"
    assert as_of("2026-12", now) == date(2026, 12, 6)
    assert as_of("2026-10", now) == date(2026, 10, 31)  # a past cycle: its last day


def test_claim_keys_and_item_ids() -> None:
    assert claim_key("bpg_1", "2026-12", "ben_9") == "bpg_1:2026-12:ben_9"
    assert item_id("ben_ab12", 2) == "ben_ab12-2"
    assert beneficiary_of_item("ben_ab12-2") == ("ben_ab12", 2)


# --- eligibility ---------------------------------------------------------------------------------

REGISTERED = Eligibility("eligible", date(2026, 1, 10), "registered")


def test_the_status_in_force_is_the_latest_effective_by_the_day() -> None:
    history = (REGISTERED, Eligibility("suspended", date(2026, 12, 5)))
    assert status_on(history, date(2026, 1, 9)) is None
    assert status_on(history, date(2026, 12, 4)) == REGISTERED
    assert status_on(history, date(2026, 12, 5)).status == "suspended"  # type: ignore[union-attr]
    again = (*history, Eligibility("eligible", date(2026, 12, 5), "appeal upheld"))
    assert status_on(again, date(2026, 12, 6)).status == "eligible"  # type: ignore[union-attr]


def test_the_deceased_are_never_made_eligible_again() -> None:
    history = (REGISTERED, Eligibility("deceased", date(2026, 3, 1)))
    assert change_problem(history, Eligibility("eligible", date(2026, 4, 1))) == (
        "recorded as deceased from 2026-03-01"
    )
    assert change_problem(history, Eligibility("eligible", date(2026, 2, 1))) is None
    assert change_problem((REGISTERED,), Eligibility("graduated", date(2026, 4, 1))) is None


# --- de-duplication ------------------------------------------------------------------------------


def test_duplicates_name_the_registered_beneficiary_or_the_earlier_line() -> None:
    rows = [
        Registration(2, "id-a", "ph-a"),
        Registration(3, "id-b", "ph-b"),  # national ID registered before
        Registration(4, "id-c", "ph-c"),  # phone registered before
        Registration(5, "id-a", "ph-x"),  # same national ID as line 2
        Registration(6, "id-y", "ph-a"),  # same phone as line 2
        Registration(7, "id-z", "ph-z"),
    ]
    found = duplicates(rows, {"id-b": "ben_1"}, {"ph-c": "ben_2"})
    assert {n: (d.field, d.existing) for n, d in found.items()} == {
        3: ("national_id", "ben_1"),
        4: ("phone", "ben_2"),
        5: ("national_id", "line 2"),
        6: ("phone", "line 2"),
    }
    assert found[3].reason == "already registered: ben_1"


def test_a_refused_line_does_not_make_later_lines_duplicates() -> None:
    rows = [Registration(2, "id-a", "ph-taken"), Registration(3, "id-a", "ph-b")]
    assert list(duplicates(rows, {}, {"ph-taken": "ben_1"})) == [2]


# --- planning ------------------------------------------------------------------------------------


def _candidate(bid: str, *history: Eligibility) -> Candidate:
    return Candidate(bid, 1, history or (REGISTERED,), 200_000, "mpesa_b2c")


def test_a_run_plans_the_eligible_less_those_another_run_holds() -> None:
    day = date(2026, 12, 6)
    candidates = [
        _candidate("ben_c"),
        _candidate("ben_a"),
        _candidate("ben_s", REGISTERED, Eligibility("suspended", date(2026, 12, 1))),
        _candidate("ben_d", REGISTERED, Eligibility("deceased", date(2026, 11, 2))),
        _candidate("ben_g", REGISTERED, Eligibility("graduated", date(2026, 12, 6))),
        _candidate("ben_f", Eligibility("eligible", date(2026, 12, 7))),  # not yet
        _candidate("ben_o"),  # claimed by another run
        _candidate("ben_m"),  # claimed by this run (an approval carried on)
    ]
    claimed = {"ben_o": "brn_other", "ben_m": "brn_me"}
    result = plan(candidates, day, claimed, "brn_me")
    assert [c.beneficiary_id for c in result.to_check] == ["ben_a", "ben_c", "ben_m"]
    assert [(s.beneficiary_id, s.kind, s.detail) for s in result.skipped] == [
        ("ben_d", "ineligible", "deceased from 2026-11-02"),
        ("ben_f", "ineligible", "not eligible on 2026-12-06"),
        ("ben_g", "ineligible", "graduated from 2026-12-06"),
        ("ben_o", "already_claimed", "paid in this cycle by run brn_other"),
        ("ben_s", "ineligible", "suspended from 2026-12-01"),
    ]


# --- the name matcher ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("registered", "expected"),
    [
        ("JANE WANJIKU DOE", "Jane Wanjiku Doe"),
        ("JANE WANJIKU DOE", "Doe, Jane Wanjiku"),  # order
        ("JANE WANJIKU DOE", "Jane W. Doe"),  # an initial
        ("JANE WANJIKU DOE", "Jane Wanjikũ Doe"),  # accents
        ("JANE WANJIKU DOE", "Jane Wanjiku Doe Achieng"),  # a name the wallet does not hold
        ("JANE WANJIKU DOE", "Jane Wanjku Doe"),  # a typing slip
        ("OCHIENG PETER", "Peter Ochieng'"),  # punctuation
    ],
)
def test_names_that_name_the_same_person_match(registered: str, expected: str) -> None:
    found = compare(registered, expected)
    assert found.matched, found


@pytest.mark.parametrize(
    ("registered", "expected"),
    [
        ("JANE WANJIKU DOE", "Peter Kamau Njoroge"),
        ("JANE WANJIKU DOE", "Jane Akinyi Otieno"),  # one shared first name
        ("JANE WANJIKU DOE", "J. W. Doe"),  # initials and one word
        ("JANE", "Jane Wanjiku"),  # one word names nobody
        ("", "Jane Doe"),
    ],
)
def test_names_of_other_people_do_not_match(registered: str, expected: str) -> None:
    assert not compare(registered, expected).matched


def test_the_threshold_is_the_programmes() -> None:
    slip = compare("JANE WANJIKU DOE", "Jane Wanjku Doe")
    assert 0.9 < slip.score < 1.0
    assert not compare("JANE WANJIKU DOE", "Jane Wanjku Doe", threshold=1.0).matched
    assert compare("JANE WANJIKU DOE", "doe jane wanjiku", threshold=1.0).score == 1.0
    assert words("Wanjikũ, Jane-N.") == ["wanjiku", "jane", "n"]


# --- the M-Pesa name query's answers (connectors/mpesa/namecheck.py) -----------------------------


def test_name_query_answers() -> None:
    ok = parse_answer(200, b'{"ResponseCode": "0", "CustomerName": " JANE  DOE "}')
    assert (ok.verdict, ok.name) == ("found", "JANE DOE")
    assert parse_answer(200, b'{"ResponseCode": "1"}').verdict == "not_customer"
    assert parse_answer(500, b'{"errorCode": "500.003.02"}').verdict == "failed"
    assert parse_answer(200, b"<html>").verdict == "failed"


# --- the report ----------------------------------------------------------------------------------


def _item(item: str, status: str, pid: str | None, code: str | None = None) -> dict[str, object]:
    failure = {"code": code, "message": "declined"} if code else None
    return {"item_id": item, "status": status, "amount": "2000", "payment_id": pid,
            "failure": failure}  # fmt: skip


def test_each_beneficiary_counts_by_its_latest_attempt() -> None:
    items = [
        _item("ben_a-1", "succeeded", "pay_1"),
        _item("ben_b-1", "failed", "pay_2", "1"),
        _item("ben_b-2", "succeeded", "pay_3"),
        _item("ben_c-1", "failed", "pay_4", "2040"),
        _item("ben_d-1", "failed", "pay_5", "2006"),
        _item("ben_e-1", "refused", None),
        _item("ben_f-1", "processing", "pay_6"),
    ]
    found = outcomes(items)
    assert found.counts() == {"paid": 2, "failed": 3, "in_flight": 1}
    assert found.paid_minor() == 400_000
    assert found.payment_ids == ["pay_1", "pay_2", "pay_3", "pay_4", "pay_5", "pay_6"]
    entries = payment_exceptions(found)
    assert [(e["beneficiary_id"], e["kind"]) for e in entries] == [
        ("ben_c", "unregistered_phone"),
        ("ben_d", "payment_failed"),
        ("ben_e", "payment_failed"),
    ]


def test_totals_tie_to_the_journal_only_to_the_cent() -> None:
    merchant = "mch_1"
    journal = [
        {"lines": [{"account": "merchant:mch_1:available", "amount": -201_500},
                   {"account": "merchant:mch_1:reserved", "amount": 201_500}]},
        {"lines": [{"account": "merchant:mch_1:reserved", "amount": -201_500},
                   {"account": "provider:mpesa:float:s0", "amount": 200_000},
                   {"account": "switch:fees:s0", "amount": 1_500}]},
    ]  # fmt: skip
    debit = merchant_debit(journal, merchant)
    assert debit == 201_500
    found = outcomes([_item("ben_a-1", "succeeded", "pay_1")])
    planned = [{"amount_minor": 200_000}, {"amount_minor": 200_000}]
    exceptions = [{"kind": "name_mismatch"}]
    totals = summary(planned, found, 1_500, exceptions, debit, 2)
    assert totals["journal"] == {"entries": 2, "debited": "2015", "ties": True}
    assert totals["planned"] == {"count": 2, "amount": "4000"}
    assert totals["exceptions"]["name_mismatch"] == 1 and totals["paid_amount"] == "2000"
    assert summary(planned, found, 1_400, exceptions, debit, 2)["journal"]["ties"] is False


def test_the_csv_is_safe_in_a_spreadsheet() -> None:
    text = exceptions_csv(
        [{"beneficiary_id": "ben_a", "name": "=cmd|' /C calc'!A0", "kind": "name_mismatch",
          "stage": "name check", "detail": "x", "score": 0.42, "payment_id": None}]
    ).decode()  # fmt: skip
    header, row = text.splitlines()
    assert header == "beneficiary_id,name,kind,stage,detail,score,payment_id"
    assert row == "ben_a,'=cmd|' /C calc'!A0,name_mismatch,name check,x,0.42,"


def test_an_account_paid_into_is_registered_once() -> None:
    bank = {"method": "bank_transfer", "bank_code": "68", "account_number": "0150000503"}
    member = {"method": "sacco", "sacco_code": "STIMA", "member_number": "10002"}
    assert destination(bank) == "bank_transfer:68:0150000503"
    assert destination(member) == "sacco:STIMA:10002"
    assert destination({"method": "airtel_payout"}) is None  # a wallet: the phone is the key
    rows = [
        Registration(2, "id-a", "ph-a", "acct-1"),
        Registration(3, "id-b", "ph-b", "acct-1"),  # same account as line 2
        Registration(4, "id-c", "ph-c", "acct-2"),  # an account registered before
        Registration(5, "id-d", "ph-d"),  # paid to the phone
        Registration(6, "id-e", "ph-e"),
    ]
    found = duplicates(rows, {}, {}, {"acct-2": "ben_9"})
    assert {n: (d.field, d.existing) for n, d in found.items()} == {
        3: ("payout", "line 2"),
        4: ("payout", "ben_9"),
    }
