"""Settlement's pure rules: cut-offs in Nairobi, run ids, reserve, T+1 hold-back, the amount
paid (amount + fee within the budget, whole shillings, rail limits), the rail chosen from the
provider registry, and who may confirm an account change."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

from switch import settlement as rules
from switch.fees import Fee
from switch.rails import RAILS
from switch.settlement_report import report, reports_csv
from switch.spreadsheet import cell

BANK = RAILS["bank_transfer"]


def test_cutoffs_are_nairobi_wall_clock() -> None:
    # 17:00 EAT is 14:00 UTC.
    before = datetime(2026, 12, 7, 13, 59, tzinfo=UTC)
    after = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)
    assert rules.latest_cutoff(before, time(17, 0)) == datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    assert rules.latest_cutoff(after, time(17, 0)) == after
    assert rules.next_cutoff(after, time(17, 0)) == datetime(2026, 12, 8, 14, 0, tzinfo=UTC)
    assert rules.settlement_date(after) == date(2026, 12, 7)


def test_a_cutoff_just_after_midnight_in_nairobi_is_the_previous_utc_day() -> None:
    # 00:30 EAT on the 8th is 21:30 UTC on the 7th: it closes Nairobi's 8th.
    now = datetime(2026, 12, 7, 22, 0, tzinfo=UTC)
    cut = rules.latest_cutoff(now, time(0, 30))
    assert cut == datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
    assert rules.settlement_date(cut) == date(2026, 12, 8)
    assert rules.nairobi_today(now) == date(2026, 12, 8)


def test_run_ids_are_one_per_merchant_and_date() -> None:
    a = rules.run_id("mch_A", date(2026, 12, 7))
    assert a == rules.run_id("mch_A", date(2026, 12, 7))
    assert a.startswith("stl_20261207_")
    assert a != rules.run_id("mch_B", date(2026, 12, 7))
    assert a != rules.run_id("mch_A", date(2026, 12, 8))
    assert rules.payout_key(a, 1) != rules.payout_key(a, 2)


def test_t_plus_one_holds_back_the_last_day() -> None:
    now = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 18:00 EAT, after a 17:00 cut-off
    assert rules.held_back_since(now, time(17, 0), 0) is None
    assert rules.held_back_since(now, time(17, 0), 1) == datetime(2026, 12, 6, 14, 0, tzinfo=UTC)


def test_reserve_is_the_larger_of_fixed_and_percentage() -> None:
    reserve = rules.Reserve(fixed_minor=50_000, percent_bps=1_000, days=7)
    assert rules.reserve_minor(reserve, 100_000) == 50_000  # 10 % of 1,000 < 500
    assert rules.reserve_minor(reserve, 1_000_000) == 100_000  # 10 % of 10,000
    floor = rules.Reserve(10_000, 500, 3)
    assert floor.stricter(rules.Reserve(0, 1_000, 1)) == rules.Reserve(10_000, 1_000, 3)


def test_the_plan_pays_whole_shillings_and_leaves_reserve_and_fee() -> None:
    fee = Fee(fixed=5_000)  # KES 50
    paid = rules.plan(1_994_775, 100_000, 0, BANK, fee)  # 19,947.75 available, 1,000 kept
    assert paid.amount_minor == 1_889_700  # 19,947.75 - 1,000 - 50 = 18,897.75 -> 18,897
    assert paid.fee_minor == 5_000
    assert paid.amount_minor + paid.fee_minor <= 1_994_775 - 100_000
    held = rules.plan(1_994_775, 100_000, 900_000, BANK, fee)
    assert held.amount_minor == 989_700


def test_the_plan_with_a_percentage_fee_is_the_largest_that_fits() -> None:
    fee = Fee(bps=150, min=1_000, max=20_000)
    for budget in (1_234_567, 99_999, 50_000_000, 2_001, 100_000_000):
        paid = rules.plan(budget, 0, 0, BANK, fee)
        if paid.amount_minor == 0:
            continue
        assert paid.amount_minor % 100 == 0
        assert paid.amount_minor + fee.of(paid.amount_minor) <= budget
        bigger = paid.amount_minor + 100
        assert bigger > BANK.max_minor or bigger + fee.of(bigger) > budget


def test_the_plan_stops_at_the_rails_maximum_and_minimum() -> None:
    assert rules.plan(10**12, 0, 0, BANK, None).amount_minor == BANK.max_minor
    below = rules.plan(BANK.min_minor - 100, 0, 0, BANK, None)
    assert (below.amount_minor, below.fee_minor) == (0, 0)
    assert "minimum" in below.reason
    nothing = rules.plan(50_000, 60_000, 0, BANK, None)
    assert nothing.amount_minor == 0 and "reserve" in nothing.reason


def test_the_rail_comes_from_the_provider_registry() -> None:
    rail = rules.settlement_rail("bank", RAILS)
    assert rail is not None and rail.method == "bank_transfer"
    # M-Pesa's provider description has a B2B rail to a paybill: settlement uses it.
    paybill = rules.settlement_rail("paybill", RAILS)
    assert paybill is not None and paybill.method == "mpesa_b2b_paybill"
    assert rules.settlement_rail("cheque", RAILS) is None


def test_a_second_person_with_two_factor_confirms() -> None:
    assert rules.confirmation_problem("user:a", "user:b", True, True) == ""
    assert "own change" in rules.confirmation_problem("user:a", "user:a", True, True)
    assert "two-factor" in rules.confirmation_problem("user:a", "user:b", True, False)
    assert "two-factor" in rules.confirmation_problem("user:a", "client:c", False, False)
    at = datetime(2026, 12, 7, tzinfo=UTC)
    assert rules.usable_from(at, 86_400) == at + timedelta(days=1)
    assert rules.mask_account("0150123456789") == "*********6789"


def _run(**changes: object) -> dict[str, object]:
    run: dict[str, object] = {
        "_id": "stl_20261207_x",
        "settlement_date": "2026-12-07",
        "trigger": "scheduled",
        "status": "failed",
        "attempt": 1,
        "available_minor": 1_994_775,
        "reserve_minor": 100_000,
        "reserve_basis": {
            "fixed_minor": 100_000,
            "percent_bps": 0,
            "days": 7,
            "collections_minor": 0,
        },
        "held_back_minor": 0,
        "amount_minor": 1_884_700,
        "fee_minor": 5_000,
        "method": "bank_transfer",
        "destination": {
            "kind": "bank",
            "bank_code": "68",
            "account_mask": "*********6789",
            "account_number": "0150123456789",
            "account_name": "=HYPERLINK(1)",
        },
        "payout_id": "pay_s1_x",
        "failure": {"code": "declined", "message": "-2+3"},
        "created_at": datetime(2026, 12, 7, 14, 0, tzinfo=UTC),
        "updated_at": None,
    }
    run.update(changes)
    return run


def test_the_report_masks_the_account_and_the_csv_defuses_formulas() -> None:
    shown = report(_run())
    assert shown["destination"]["account_number"] == "*********6789"
    assert (shown["amount"], shown["fee"], shown["reserve"]) == ("18847", "50", "1000")
    assert shown["created_at"] == "2026-12-07T14:00:00Z"
    rows = list(csv.reader(io.StringIO(reports_csv([_run()]).decode())))
    assert len(rows) == 2 and "0150123456789" not in reports_csv([_run()]).decode()
    header, row = rows
    line = dict(zip(header, row, strict=True))
    assert line["account_name"] == "'=HYPERLINK(1)"
    assert line["failure_message"] == "'-2+3"
    assert cell("@SUM(A1)") == "'@SUM(A1)" and cell(None) == "" and cell("ok") == "ok"
