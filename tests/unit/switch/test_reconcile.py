from switch import ledger
from switch.reconcile import check


def _books():
    credit = ledger.collection("m1", "pay_1", 15000, 225, "mpesa", 0)
    reserve = ledger.payout_reserve("m1", "pay_2", 5000, 1500)
    settle = ledger.payout_settle("m1", "pay_2", 5000, 1500, "mpesa", 0)
    entries = [e.to_doc(None) for e in (credit, reserve, settle)]
    balances = ledger.Balances.replay([credit, reserve, settle]).accounts
    payments = [
        {"_id": "pay_1", "status": "succeeded", "method": "mpesa_stk"},
        {"_id": "pay_2", "status": "succeeded", "method": "mpesa_b2c"},
        {"_id": "pay_3", "status": "failed", "method": "mpesa_stk"},
    ]
    return entries, [{"_id": k, "balance": v} for k, v in balances.items()], payments


def test_consistent_books_pass() -> None:
    report = check(*_books())
    assert report.ok, report.problems
    assert (report.entries, report.payments) == (3, 3)


def test_a_tampered_entry_and_a_wrong_balance_are_found() -> None:
    entries, balances, payments = _books()
    entries[0]["lines"][1]["amount"] += 100
    report = check(entries, balances, payments)
    assert any("does not balance" in p for p in report.problems)
    assert any("merchant:m1:available" in p for p in report.problems)


def test_a_missing_credit_or_an_unsettled_payout_is_found() -> None:
    entries, balances, payments = _books()
    payments[2]["status"] = "succeeded"  # a success without its credit
    payments[1]["status"] = "failed"  # a failed payout that was settled, not released
    problems = check(entries, balances, payments).problems
    assert any(p.startswith("pay_3") for p in problems)
    assert any(p.startswith("pay_2") for p in problems)


def test_available_below_zero_is_found() -> None:
    reserve = ledger.payout_reserve("m9", "pay_9", 100, 0)
    balances = ledger.Balances.replay([reserve]).accounts
    report = check(
        [reserve.to_doc(None)],
        [{"_id": k, "balance": v} for k, v in balances.items()],
        [{"_id": "pay_9", "status": "pending", "method": "mpesa_b2c"}],
    )
    assert report.problems == ["merchant:m9:available is below zero"]
