"""Providers' records for reconciliation: Pull Transactions, the M-Pesa org statement, the
Airtel statement, MT940 and camt.053 (connectors/*/records.py), and injected breaks
(connectors/simkit/breaks.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from connectors.airtel.records import BadAirtelStatement, parse_airtel_statement
from connectors.http import HttpResponse
from connectors.mpesa.records import (
    BadRecords,
    org_statement_csv,
    parse_org_statement,
    parse_pull_query,
    parse_pull_register,
    pull_query_request,
)
from connectors.pesalink.records import (
    BadStatement,
    camt053_statement,
    mt940_statement,
    parse_camt053,
    parse_mt940,
)
from connectors.simkit.breaks import Breaks, apply


def answer(body: object, status: int = 200) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(body))


def test_pull_register_reads_the_spaced_and_the_plain_keys() -> None:
    assert parse_pull_register(answer({"Response Status": "1001"})) == "1001"
    assert parse_pull_register(answer({"ResponseStatus": "1000"})) == "1000"
    with pytest.raises(BadRecords):
        parse_pull_register(answer({"errorCode": "400.001", "errorMessage": "Invalid"}, 400))


def test_pull_query_flattens_the_nested_list_and_reads_the_docs_sample() -> None:
    sample = {  # the docs' sample answer: numeric msisdn, string amount, [[...]]
        "ResponseRefID": "26178-42530161-2",
        "ResponseCode": "1000",
        "ResponseMessage": "Success",
        "Response": [
            [
                {
                    "transactionId": "yzlyrEsRG1",
                    "trxDate": "2020-08-05T10:13:00Z",
                    "msisdn": 722000000,
                    "sender": "UAT2",
                    "transactiontype": "c2b-pay-bill-debit",
                    "billreference": "37207636392",
                    "amount": "168.00",
                    "organizationname": "Daraja Pull API Test",
                }
            ]
        ],
    }
    (record,) = parse_pull_query(answer(sample), "600000").records
    assert (record.receipt, record.amount, record.account, record.shortcode) == (
        "yzlyrEsRG1",
        16800,
        "37207636392",
        "600000",
    )
    assert record.at == datetime(2020, 8, 5, 10, 13, tzinfo=UTC)
    assert record.direction == "in" and "722000000" not in record.party
    none = {"RequestID": "f9e9", "ResponseCode": "1001", "ResponseMessage": "No records found"}
    assert parse_pull_query(answer(none), "600000").records == []
    broken = {**sample, "Response": [[{"transactionId": "X", "amount": "1.234"}]]}
    with pytest.raises(BadRecords, match="row 0"):
        parse_pull_query(answer(broken), "600000")


def test_pull_query_dates_are_sent_in_kenya_time() -> None:
    start = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
    body = orjson.loads(
        pull_query_request("http://x", "t", "600000", start, start, 100).body or b""
    )
    assert body == {
        "ShortCode": "600000",
        "StartDate": "2026-12-06 08:00:00",
        "EndDate": "2026-12-06 08:00:00",
        "OffSetValue": "100",
    }


STATEMENT_ROW = {
    "Receipt No.": "UKR1234567",
    "Completion Time": "06-12-2026 11:00:00",
    "Initiation Time": "",
    "Details": "Pay Bill from 2547****5678 - ACME7",
    "Transaction Status": "Completed",
    "Paid In": "1,500.00",
    "Withdrawn": "",
    "Balance": "1,500.00",
    "Balance Confirmed": "true",
    "Reason Type": "Pay Bill",
    "Other Party Info": "2547****5678 - JANE",
    "Linked Transaction ID": "",
    "A/C No.": "ACME7",
}


def test_the_org_statement_skips_its_preamble_and_unfinished_rows() -> None:
    declined = {**STATEMENT_ROW, "Receipt No.": "UKR0000000", "Transaction Status": "Declined"}
    payout = {
        **STATEMENT_ROW,
        "Receipt No.": "UKR7654321",
        "Paid In": "",
        "Withdrawn": "-60.00",
        "Completion Time": "2026-12-06 12:00:00",
    }
    data = org_statement_csv([STATEMENT_ROW, declined, payout], "Duka", "today")
    first, second = parse_org_statement(data, "600984")
    assert (first.receipt, first.amount, first.direction, first.account) == (
        "UKR1234567",
        150000,
        "in",
        "ACME7",
    )
    assert first.at == datetime(2026, 12, 6, 8, 0, tzinfo=UTC)  # 11:00 in Nairobi
    assert (second.amount, second.direction) == (6000, "out")


def test_a_bad_statement_line_is_named() -> None:
    bad = {**STATEMENT_ROW, "Completion Time": "yesterday"}
    with pytest.raises(BadRecords, match="line 5, Completion Time"):
        parse_org_statement(org_statement_csv([bad], "Duka", "today"), "600984")
    with pytest.raises(BadRecords, match=r"Receipt No\."):
        parse_org_statement(b"just,some,csv\n1,2,3\n", "600984")


def test_airtel_statement() -> None:
    data = (
        b"Txn Date,Airtel Money ID,Partner Txn ID,Txn Type,MSISDN,Credit,Debit,Status\n"
        b"2026-12-06 11:00:00,MP261206.1100.A1,pay_s0_X,MerchantPayment,733123456,200.00,,TS\n"
        b"2026-12-06 11:05:00,MP261206.1105.A2,pay_s0_Y,Disbursement,733123456,,50.00,TF\n"
    )
    (record,) = parse_airtel_statement(data)
    assert (record.key, record.receipt, record.amount) == ("pay_s0_X", "MP261206.1100.A1", 20000)
    with pytest.raises(BadAirtelStatement, match="line 2, Credit"):
        parse_airtel_statement(data.replace(b"200.00", b"2x"))


LINES = [
    (datetime(2026, 12, 6, 9, 30, tzinfo=UTC), -1500000, "BK0001", "pay_s1_01M8FAB1BAFSNTMGPC5G8E"),
    (datetime(2026, 12, 6, 9, 45, tzinfo=UTC), 20000, "FT0002", ""),
]


def test_mt940_round_trip() -> None:
    out, into = parse_mt940(mt940_statement("0020100014605", "STMT1", 10**9, LINES))
    assert (out.reference, out.receipt, out.amount, out.direction) == (
        "pay_s1_01M8FAB1BAFSNTMGPC5G8E",
        "BK0001",
        1500000,
        "out",
    )
    assert out.day_only and out.at == datetime(2026, 12, 5, 21, 0, tzinfo=UTC)
    assert (into.reference, into.direction, into.amount) == ("", "in", 20000)
    with pytest.raises(BadStatement):
        parse_mt940(b"hello")


def test_camt053_is_checked_against_the_iso_schema() -> None:
    data = camt053_statement("0020100014605", "STMT1", 10**9, LINES)
    out, into = parse_camt053(data)
    assert (out.reference, out.amount, out.direction, out.at) == (
        "pay_s1_01M8FAB1BAFSNTMGPC5G8E",
        1500000,
        "out",
        LINES[0][0],
    )
    assert into.direction == "in" and not into.day_only
    broken = data.replace(b"<CdtDbtInd>DBIT</CdtDbtInd>", b"<CdtDbtInd>SIDEWAYS</CdtDbtInd>", 1)
    with pytest.raises(BadStatement, match="CdtDbtInd"):
        parse_camt053(broken)
    with pytest.raises(BadStatement, match=r"not a camt\.053"):
        parse_camt053(b"<Document xmlns='urn:example'/>")


def test_injected_breaks_change_what_the_records_say() -> None:
    breaks = Breaks()
    breaks.add({"kind": "change_amount", "ref": "B", "amount": "9.50"})
    breaks.add({"kind": "duplicate", "ref": "C"})
    breaks.add({"kind": "drop_record", "ref": "D"})
    rows = [("A", 100), ("B", 200), ("C", 300), ("D", 400)]
    shown = apply(breaks, rows, lambda r: (r[0],), lambda r, cents: (r[0], cents))
    assert shown == [("A", 100), ("B", 950), ("C", 300), ("C", 300)]
    breaks.add({"kind": "drop_callback", "count": 2})
    assert [breaks.take_dropped_callback() for _ in range(3)] == [True, True, False]
    breaks.add({"kind": "stranger", "amount": "700", "account": "NOBODY"})
    assert [(b.amount_cents, b.account) for b in breaks.strangers()] == [(70000, "NOBODY")]
    assert breaks.strangers() == []  # played once
    for bad, field in [
        ({"kind": "x"}, "kind"),
        ({"kind": "duplicate"}, "ref"),
        ({"kind": "stranger", "amount": 5}, "amount"),
        ({"kind": "duplicate", "ref": "A", "extra": 1}, "extra"),
    ]:
        with pytest.raises(ValueError, match=field):
            Breaks().add(bad)
