"""Statements, summaries, CSV escaping, Nairobi days and download links (pure)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

from switch import downloads, ledger, reports, statements
from switch.csvsafe import cell, line

M = "mch_A"
T0 = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # 09:00 in Nairobi


def _rows() -> list[statements.Row]:
    entries = [
        ledger.collection(M, "pay_1", 15_000, 225, "mpesa", 0),
        ledger.payout_reserve(M, "pay_2", 10_000, 1_500),
        ledger.payout_settle(M, "pay_2", 10_000, 1_500, "mpesa", 0),
        ledger.reversal(M, "pay_1", 15_000, "mpesa", 0),
        ledger.collection(M, "pay_3", 20_000, 300, "mpesa", 0),
    ]
    return [statements.Row(T0 + timedelta(hours=i), e) for i, e in enumerate(entries)]


def test_a_statement_runs_from_opening_to_closing_and_closes_at_the_balance() -> None:
    rows = _rows()
    before = 50_000
    balance_now = before + sum(r.change(ledger.available(M)) for r in rows)
    since, until = T0, T0 + timedelta(hours=4)  # the last collection is after the statement
    st = statements.build(M, "available", since, until, balance_now, rows)
    assert st.opening == before
    kinds = [line["kind"] for line in st.lines]
    assert kinds == ["collection", "payout_reserve", "reversal"]  # settle is on reserved
    assert [line["balance"] for line in st.lines] == ["647.75", "532.75", "382.75"]
    assert st.lines[0]["fee"] == "2.25" and st.lines[0]["gross"] == "150"
    assert st.closing == before + 14_775 - 11_500 - 15_000
    whole = statements.build(M, "available", since, T0 + timedelta(days=1), balance_now, rows)
    assert whole.closing == balance_now  # up to now: the balance itself
    reserved = statements.build(M, "reserved", since, until, 0, rows)
    assert [line["amount"] for line in reserved.lines] == ["115", "-115"]
    out = list(statements.csv_rows(st))
    assert out[0][0] == "at" and out[1][2] == "opening_balance" and out[-1][-1] == "382.75"


def test_summaries_by_nairobi_day_and_month() -> None:
    late = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)  # 00:30 on the 8th in Nairobi
    docs = [
        {
            "created_at": T0,
            "method": "mpesa_stk",
            "status": "succeeded",
            "amount_minor": 15_000,
            "fee_minor": 225,
        },
        {
            "created_at": T0,
            "method": "mpesa_stk",
            "status": "failed",
            "amount_minor": 5_000,
            "fee_minor": 75,
        },
        {
            "created_at": T0,
            "method": "airtel_ussd",
            "status": "processing",
            "amount_minor": 100,
            "fee_minor": 0,
        },
        {
            "created_at": late,
            "method": "mpesa_b2c",
            "status": "succeeded",
            "amount_minor": 10_000,
            "fee_minor": 1_500,
        },
    ]
    days = reports.summarise(docs, "day")
    assert [d["period"] for d in days] == ["2026-12-07", "2026-12-08"]
    first = days[0]
    assert (first["count"], first["succeeded"], first["amount"], first["fees"]) == (
        3,
        1,
        "150",
        "2.25",
    )
    assert first["success_rate"] == 0.5  # in flight is not in the rate
    assert first["by_method"]["mpesa_stk"]["success_rate"] == 0.5
    assert first["by_provider"]["airtel"]["success_rate"] is None
    assert first["by_status"]["failed"]["count"] == 1
    assert first["business_day"] is True  # a Monday
    months = reports.summarise(docs, "month")
    assert len(months) == 1 and months[0]["count"] == 4 and months[0]["amount"] == "250"
    rows = list(reports.csv_rows(days))
    assert rows[1][:4] == ["2026-12-07", "all", "", "3"]


def test_business_days_in_nairobi() -> None:
    assert reports.nairobi_day(datetime(2026, 12, 7, 21, 0, tzinfo=UTC)) == date(2026, 12, 8)
    assert reports.day_start(date(2026, 12, 8)) == datetime(2026, 12, 7, 21, 0, tzinfo=UTC)
    assert reports.easter(2026) == date(2026, 4, 5)
    assert not reports.is_business_day(date(2026, 4, 3))  # Good Friday
    assert not reports.is_business_day(date(2026, 4, 6))  # Easter Monday
    assert not reports.is_business_day(date(2026, 12, 12))  # Jamhuri Day (a Saturday anyway)
    assert not reports.is_business_day(date(2026, 10, 20))  # Mashujaa Day, a Tuesday
    assert not reports.is_business_day(date(2027, 12, 13))  # Jamhuri Day fell on a Sunday
    assert reports.is_business_day(date(2026, 12, 9))


def test_report_parameters_are_checked_and_named() -> None:
    import pytest

    from switch.search import FilterError

    ok = reports.parse_report_query(
        {"since": "2026-12-01", "until": "2026-12-07"}, {"granularity": ("day", "month")}
    )
    assert ok["granularity"] == "day" and ok["format"] == "json"
    with pytest.raises(FilterError) as exc:
        reports.parse_report_query({"since": "12/01", "format": "xls", "x": "1"}, {})
    fields = {d["field"] for d in exc.value.details}
    assert fields == {"since", "until", "format", "x"}
    with pytest.raises(FilterError) as exc:
        reports.parse_report_query({"since": "2026-01-01", "until": "2026-12-07"}, {})
    assert "POST /v1/exports" in exc.value.details[0]["reason"]


def test_cells_a_spreadsheet_would_run_are_escaped() -> None:
    for bad in ('=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "-cmd|' /C calc'!A0"):
        assert cell(bad).startswith("'"), bad
    assert cell("-150.00") == "-150.00" and cell("150") == "150" and cell(None) == ""
    assert cell("INV1001") == "INV1001"
    parsed = next(csv.reader(io.StringIO(line(["a,b", '=1"2', "-10"]))))
    assert parsed == ["a,b", "'=1\"2", "-10"]


def test_download_links_expire_and_cannot_be_moved() -> None:
    key = b"k" * 32
    url = downloads.link(key, "exp_1", M, now=1_000)
    expires = url.split("expires=")[1].split("&")[0]
    sig = url.split("signature=")[1]
    assert downloads.refusal(key, "exp_1", M, expires, sig, now=1_000) is None
    assert downloads.refusal(key, "exp_1", M, expires, sig, now=1_000 + 901) == "link_expired"
    assert downloads.refusal(key, "exp_2", M, expires, sig, now=1_000) == "bad_signature"
    assert downloads.refusal(key, "exp_1", "mch_B", expires, sig, now=1_000) == "bad_signature"
    later = str(int(expires) + 3_600)
    assert downloads.refusal(key, "exp_1", M, later, sig, now=1_000) == "bad_signature"
    assert downloads.refusal(key, "exp_1", M, "soon", sig, now=1_000) == "bad_signature"
