"""Bulk payouts, the pure part: parsing JSON and CSV batches line by line, the dry-run report,
item transitions, counts, totals, views and the results CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.auth import CLAIMS
from api.batches import BATCHES, ROUTE_TABLE, payout_checker
from api.errors import Handler, error_middleware
from api.routes import register
from api.state import STATE
from connectors.sacco.registry import sandbox_registry
from switch.batch_items import (
    AUTO,
    WINDOWS,
    ItemRecord,
    answered,
    batch_view,
    erased_item,
    is_complete,
    item_view,
    new_record,
    observed,
    record_doc,
    record_from_doc,
    results_csv,
    retry_delay,
    status_counts,
    totals,
)
from switch.batches import (
    MAX_ITEMS,
    Checked,
    Parsed,
    batch_id_for,
    batch_request_hash,
    csv_row_body,
    is_batch_id,
    item_key,
    item_of_key,
    parse_csv,
    parse_json,
    report,
)
from switch.messages import CreatePayment, Reply
from switch.rails import rail
from switch.tokens import Claims

SACCOS = sandbox_registry("http://127.0.0.1:1/fineract-provider/api/v1")
CHECK = payout_checker("mch_1", SACCOS)


def payout(item_id: str, phone: str = "0712345678", amount: str = "500", **extra: Any) -> dict:
    return {
        "item_id": item_id,
        "method": "mpesa_b2c",
        "amount": amount,
        "currency": "KES",
        "phone": phone,
        "reference": "SAL-2026-11",
        **extra,
    }


def lenient(body: dict[str, Any]) -> Checked:
    """A stand-in validator: amounts are whole shillings, nothing else is checked."""
    try:
        minor = int(body["amount"]) * 100
    except (KeyError, ValueError):
        return Checked(errors=(("amount", "bad"),))
    cmd = CreatePayment("mch_1", "", "h", body.get("method", "x"), minor, "", "r", "d", {})
    return Checked(method=str(body.get("method")), amount_minor=minor, command=cmd)


def errors_by_line(parsed: Parsed) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for e in parsed.errors:
        out.setdefault(e.line, []).append((e.field, e.reason))
    return out


# --- JSON ----------------------------------------------------------------------------------------


def test_a_valid_json_batch_becomes_items_with_their_commands() -> None:
    parsed = parse_json({"items": [payout("a1"), payout("a-2", amount="1500")]}, CHECK)
    assert parsed.ok and parsed.errors == []
    first, second = parsed.items
    assert (first.line, first.item_id, first.method, first.amount_minor) == (
        1,
        "a1",
        "mpesa_b2c",
        50_000,
    )
    assert second.amount_minor == 150_000
    assert first.body == {k: v for k, v in payout("a1").items() if k != "item_id"}
    assert first.command.merchant_id == "mch_1"
    assert first.command.phone == "254712345678"
    assert first.command.idem_key == ""  # the batch fills it in


def test_json_lines_are_reported_one_by_one() -> None:
    items = [
        payout("ok1"),
        payout("bad amount", amount="12.5"),
        payout("ok1"),
        payout("p3", phone="0733123456"),  # Airtel number for mpesa_b2c
        "not an object",
        {k: v for k, v in payout("x").items() if k != "item_id"},
        payout("a" * 65),
    ]
    parsed = parse_json({"items": items}, CHECK)
    assert not parsed.ok
    assert [v.item is not None for v in parsed.lines] == [
        True,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    lines = errors_by_line(parsed)
    assert lines[2][0] == ("item_id", "must be 1 to 64 letters, digits, '_' or '-'")
    assert lines[2][1][0] == "amount"
    assert lines[3] == [("item_id", "duplicate item_id: first used on line 1")]
    assert lines[4] == [("phone", "must be a Safaricom number for mpesa_b2c")]
    assert lines[5] == [("item", "must be an object")]
    assert lines[6] == [("item_id", "required")]
    assert lines[7][0][0] == "item_id"


def test_a_bank_or_sacco_item_validates_with_the_payout_model() -> None:
    bank = {"bank_code": "68", "account_number": "0150123456789", "account_name": "Jane W"}
    good = [
        {
            "item_id": "b1",
            "method": "bank_transfer",
            "amount": "2000",
            "currency": "KES",
            "bank": bank,
            "reference": "SAL-1",
        },
        {
            "item_id": "s1",
            "method": "sacco",
            "amount": "3000",
            "currency": "KES",
            "sacco": {
                "sacco_code": "STIMA",
                "member_number": "10001",
                "purpose": "loan_disbursement",
            },
            "reference": "LOAN-1",
        },
    ]
    parsed = parse_json({"items": good}, CHECK)
    assert parsed.ok, parsed.errors
    assert [i.method for i in parsed.items] == ["bank_transfer", "sacco"]
    unknown = {**good[1], "sacco": {"sacco_code": "NOPE", "member_number": "10001"}}
    both = {**good[0], "phone": "0712345678"}
    bad = parse_json({"items": [unknown, both]}, CHECK)
    lines = errors_by_line(bad)
    assert lines[1] == [("sacco.sacco_code", "no SACCO NOPE is registered")]
    assert lines[2] == [
        ("body", "give exactly one destination: phone, bank, sacco, paybill, till or tax")
    ]


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        ([], "body", "the body must be a JSON object with an items list"),
        ({"items": [], "x": 1}, "body", "unknown field(s): x"),
        ({"items": []}, "items", "must be a non-empty list of payouts"),
        ({"items": {"a": 1}}, "items", "must be a non-empty list of payouts"),
    ],
)
def test_a_json_body_that_is_not_a_batch_is_one_problem(raw: Any, field: str, reason: str) -> None:
    parsed = parse_json(raw, lenient)
    assert not parsed.ok and parsed.lines == ()
    assert [(p.line, p.field, p.reason) for p in parsed.problems] == [(0, field, reason)]


def test_a_json_batch_holds_at_most_ten_thousand_items() -> None:
    items = [{"item_id": f"i{n}", "amount": "10"} for n in range(MAX_ITEMS)]
    assert parse_json({"items": items}, lenient).ok
    over = parse_json({"items": [*items, {"item_id": "one-more", "amount": "10"}]}, lenient)
    assert over.problems[0].reason == "10001 items; a batch holds at most 10000"


# --- CSV -----------------------------------------------------------------------------------------

HEADER = "item_id,method,amount,currency,phone,reference,remarks\r\n"


def test_a_csv_upload_with_bom_crlf_and_blank_lines() -> None:
    data = (
        "\ufeff Item_ID , method,amount,currency,phone,reference,remarks\r\n"
        "e1,mpesa_b2c,500,,0712345678,SAL-2026-11,\r\n"
        "\r\n"
        'e2,mpesa_b2c,700,KES,0712345679,SAL 2026 11,"November pay, bonus"\r\n'
    ).encode()
    parsed = parse_csv(data, CHECK)
    assert parsed.ok, parsed.errors
    e1, e2 = parsed.items
    assert (e1.line, e2.line) == (2, 4)  # the blank line is skipped, numbering is the file's
    assert e1.body == {
        "method": "mpesa_b2c",
        "amount": "500",
        "currency": "KES",  # default
        "phone": "0712345678",
        "reference": "SAL-2026-11",
    }
    assert e2.body["reference"] == "SAL 2026 11"
    assert e2.command.description == "November pay, bonus"


def test_csv_destination_columns_become_objects() -> None:
    row = {
        "item_id": "x",
        "method": "auto",
        "amount": "10",
        "bank_code": "01",
        "account_number": "123456",
        "account_name": "",
        "sacco_code": "",
        "reference": "R",
    }
    assert csv_row_body(row) == {
        "method": "auto",
        "amount": "10",
        "currency": "KES",
        "bank": {"bank_code": "01", "account_number": "123456"},
        "reference": "R",
    }
    data = (
        b"item_id,method,amount,sacco_code,member_number,purpose,reference\n"
        b"s1,sacco,2500,STIMA,10077,loan_disbursement,LOAN-9\n"
        b"b1,bank_transfer,2500,,,,LOAN-9\n"
    )
    parsed = parse_csv(data, CHECK)
    assert parsed.lines[0].item is not None
    assert parsed.lines[0].item.command.destination == {
        "sacco_code": "STIMA",
        "member_number": "10077",
        "purpose": "loan_disbursement",
    }
    assert errors_by_line(parsed)[3] == [
        ("body", "give exactly one destination: phone, bank, sacco, paybill, till or tax")
    ]


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        (b"item_id,method,amount,colour,reference\n", 1, "unknown column(s): 'colour'"),
        (b"item_id;method;amount;reference\n", 1, "columns must be separated by commas, not ';'"),
        (b"item_id,method,reference\nx,mpesa_b2c,R\n", 1, "missing column(s): amount"),
        (b"item_id,method,amount,amount,reference\n", 1, "column(s) given twice: amount"),
        (b"", 0, "the file is empty; it needs a header row and one row per payout"),
        (HEADER.encode(), 0, "no payout rows after the header"),
    ],
)
def test_csv_problems_with_the_file_itself(data: bytes, line: int, reason: str) -> None:
    parsed = parse_csv(data, lenient)
    assert not parsed.ok
    [problem] = parsed.problems
    assert problem.line == line
    assert problem.reason.startswith(reason)


def test_a_csv_that_is_not_utf8_names_the_line_and_byte() -> None:
    data = (
        HEADER + "a,mpesa_b2c,10,KES,0712345678,R,\n"
    ).encode() + "b,mpesa_b2c,10,KES,07,Ré,\n".encode("latin-1")
    [problem] = parse_csv(data, lenient).problems
    assert problem.line == 3
    assert problem.reason.startswith("not UTF-8 (byte 0xe9 at offset")
    assert "save the file as CSV UTF-8" in problem.reason


def test_a_csv_with_too_many_rows_is_refused() -> None:
    rows = "".join(f"r{n},m,10,,,R,\n" for n in range(MAX_ITEMS))
    assert parse_csv((HEADER + rows).encode(), lenient).ok
    over = parse_csv((HEADER + rows + "last,m,10,,,R,\n").encode(), lenient)
    assert over.problems[0].reason == "more than 10000 payout rows; split the file"


def test_csv_rows_are_checked_line_by_line() -> None:
    data = (
        HEADER
        + "a,m,10,,,R,\n"
        + "a,m,10,,,R,\n"  # duplicate
        + "b,m,ten,,,R,\n"  # the validator's error
        + "c,m,10,,,R,,extra\n"  # too many cells
        + ",m,10,,,R,\n"  # no item_id
        + 'd,m,10,,,"two\nlines",\n'  # a quoted cell spanning two lines
        + "e,m,10,,,R,\n"
    )
    parsed = parse_csv(data.encode(), lenient)
    lines = errors_by_line(parsed)
    assert lines == {
        3: [("item_id", "duplicate item_id: first used on line 2")],
        4: [("amount", "bad")],
        5: [("row", "8 cells but the header has 7 columns")],
        6: [("item_id", "required")],
    }
    assert [v.line for v in parsed.lines] == [2, 3, 4, 5, 6, 7, 9]
    assert (
        parsed.lines[5].item is not None and parsed.lines[5].item.body["reference"] == "two\nlines"
    )


def test_the_same_payouts_in_json_and_csv_hash_alike() -> None:
    as_json = parse_json({"items": [payout("a1")]}, CHECK)
    as_csv = parse_csv(
        b"reference,phone,amount,method,item_id,currency\n"
        b"SAL-2026-11, 0712345678 ,500,mpesa_b2c,a1,KES\n",
        CHECK,
    )
    assert batch_request_hash(as_json.items) == batch_request_hash(as_csv.items)
    other = parse_json({"items": [payout("a1", amount="501")]}, CHECK)
    assert batch_request_hash(other.items) != batch_request_hash(as_json.items)


# --- report --------------------------------------------------------------------------------------


def test_the_dry_run_report_counts_totals_and_every_line() -> None:
    bank = {"bank_code": "68", "account_number": "0150123456789"}
    items = [
        payout("a", amount="500"),
        payout("b", amount="250"),
        {
            "item_id": "c",
            "method": "bank_transfer",
            "amount": "1000",
            "currency": "KES",
            "bank": bank,
            "reference": "R",
        },
        payout("d", amount="5"),  # below the B2C minimum
    ]
    r = report(parse_json({"items": items}, CHECK))
    assert r["valid"] is False
    assert r["counts"] == {"lines": 4, "valid": 3, "invalid": 1}
    assert r["totals"] == {
        "count": 3,
        "amount": "1750",
        "by_method": {
            "bank_transfer": {"count": 1, "amount": "1000"},
            "mpesa_b2c": {"count": 2, "amount": "750"},
        },
    }
    assert r["lines"][0] == {
        "line": 1,
        "item_id": "a",
        "valid": True,
        "method": "mpesa_b2c",
        "amount": "500",
    }
    assert r["lines"][3]["valid"] is False
    assert r["lines"][3]["errors"][0]["field"] == "amount"
    assert r["problems"] == []


# --- ids -----------------------------------------------------------------------------------------


def test_batch_ids_are_derived_from_the_merchants_key() -> None:
    one = batch_id_for(b"k" * 32, "mch_1:key-1")
    assert one == batch_id_for(b"k" * 32, "mch_1:key-1")
    assert one != batch_id_for(b"k" * 32, "mch_2:key-1")
    assert one != batch_id_for(b"x" * 32, "mch_1:key-1")
    assert is_batch_id(one) and not is_batch_id("bat_123") and not is_batch_id("pay_s1_" + one[4:])
    assert item_key(one, "a1") == f"batch:{one}:a1"


# --- item transitions ----------------------------------------------------------------------------


def record(**changes: Any) -> ItemRecord:
    [item] = parse_json({"items": [payout("a1")]}, CHECK).items
    base = new_record(7, item, "bat_X")
    return replace(base, **changes)


def test_a_new_record_carries_the_items_key() -> None:
    r = record()
    assert (r.index, r.status, r.command.idem_key) == (7, "queued", "batch:bat_X:a1")


def test_an_accepted_create_records_the_payment_and_the_first_answer() -> None:
    body = {"id": "pay_s1_X", "object": "payout", "status": "processing", "method": "mpesa_b2c"}
    r, verdict = answered(record(), Reply(202, body))
    assert verdict == "accepted"
    assert (r.payment_id, r.status, r.rail, r.attempts) == (
        "pay_s1_X",
        "processing",
        "mpesa_b2c",
        1,
    )
    assert r.first_answer == {"status": 202, "payment_status": "processing", "replayed": False}
    again, _ = answered(r, Reply(202, {**body, "status": "succeeded"}, replayed=True))
    assert again.first_answer == r.first_answer  # the first answer is kept


def test_a_replay_answering_a_final_payment_leaves_the_item_to_read_it() -> None:
    """The answer has no receipt, recipient or failure: the stored payment is read for them."""
    body = {"id": "pay_s1_X", "object": "payout", "status": "succeeded", "method": "mpesa_b2c"}
    r, verdict = answered(record(), Reply(202, body, replayed=True))
    assert verdict == "accepted" and r.status == "pending" and r.awaiting and r.at_provider
    assert r.first_answer == {"status": 202, "payment_status": "succeeded", "replayed": True}
    doc = {"status": "succeeded", "provider": {"receipt": "UKR1", "receiver_name": "JANE W"}}
    done = observed(r, doc)
    assert (
        done is not None
        and done.final
        and (done.receipt, done.recipient_name)
        == (
            "UKR1",
            "JANE W",
        )
    )


def test_a_refusal_is_final_and_a_503_or_a_lost_answer_is_resent() -> None:
    refusal = {"error": {"code": "insufficient_balance", "message": "needs 515", "details": []}}
    r, verdict = answered(record(), Reply(422, refusal))
    assert verdict == "refused" and r.final
    assert (r.failure_code, r.failure_message, r.payment_id) == (
        "insufficient_balance",
        "needs 515",
        None,
    )
    busy = {"error": {"code": "overloaded", "message": "m", "details": []}}
    r, verdict = answered(record(), Reply(503, busy, retry_after=1.0))
    assert (verdict, r.status, r.last_error) == ("retry", "queued", "overloaded")
    r, verdict = answered(r, None)
    assert (verdict, r.attempts, r.last_error) == ("retry", 2, "shard_unavailable")


def test_retry_delay_backs_off_and_respects_retry_after() -> None:
    assert [retry_delay(n, 0.5, 30) for n in (1, 2, 3, 10)] == [0.5, 1.0, 2.0, 30.0]
    assert retry_delay(1, 0.5, 30, hint=5.0) == 5.0
    assert retry_delay(1, 0.5, 30, hint=500.0) == 30.0


def test_only_created_payouts_not_final_and_not_held_take_a_window_slot() -> None:
    sent = record(payment_id="p", status="processing")
    assert sent.at_provider and sent.awaiting
    held = replace(sent, status="held")
    assert held.awaiting and not held.at_provider and not held.final
    assert not record().at_provider  # queued
    assert not replace(sent, status="succeeded").at_provider
    assert not record(status="refused").awaiting
    assert status_counts(["held", "in_review"]) == {
        **status_counts([]),
        "total": 2,
        "held": 1,
        "in_review": 1,
    }


def test_reading_the_stored_payment_updates_the_item() -> None:
    sent = record(payment_id="pay_s1_X", status="processing", rail="mpesa_b2c")
    doc = {
        "status": "succeeded",
        "method": "mpesa_b2c",
        "fee_minor": 1500,
        "failure": None,
        "provider": {"receipt": "UKR123", "receiver_name": "JANE W"},
    }
    done = observed(sent, doc)
    assert done is not None and done.final
    assert (done.receipt, done.recipient_name, done.fee_minor) == ("UKR123", "JANE W", 1500)
    assert observed(done, doc) is None
    failed = observed(
        sent, {**doc, "status": "failed", "failure": {"code": "declined", "message": "no"}}
    )
    assert failed is not None and (failed.failure_code, failed.failure_message) == (
        "declined",
        "no",
    )


def test_records_survive_a_round_trip_through_their_document() -> None:
    r = record(
        payment_id="pay_s1_X",
        status="failed",
        failure_code="declined",
        first_answer={"status": 202},
    )
    assert record_from_doc(record_doc(r)) == r


# --- counts, totals, views, results ---------------------------------------------------------------


def test_counts_and_completion() -> None:
    counts = status_counts(["queued", "succeeded", "succeeded", "refused"])
    assert counts == {
        "total": 4,
        "queued": 1,
        "refused": 1,
        "held": 0,
        "pending": 0,
        "processing": 0,
        "succeeded": 2,
        "failed": 0,
        "expired": 0,
    }
    assert not is_complete(counts)
    assert is_complete(status_counts(["failed", "succeeded", "refused", "expired"]))


def test_totals_count_fees_only_for_payouts_that_succeeded() -> None:
    records = [
        record(index=0, status="succeeded", payment_id="p1", fee_minor=1500),
        record(index=1, status="failed", payment_id="p2", fee_minor=1500),
        record(index=2, status="refused"),
    ]
    t = totals(records)
    assert (t["count"], t["amount_minor"], t["succeeded_minor"], t["fee_minor"]) == (
        3,
        150_000,
        50_000,
        1500,
    )
    assert t["by_method"] == {
        "mpesa_b2c": {
            "count": 3,
            "amount_minor": 150_000,
            "succeeded_minor": 50_000,
            "fee_minor": 1500,
        }
    }


def test_the_batch_and_item_views() -> None:
    at = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    records = [record(status="succeeded", payment_id="p1", fee_minor=1500, receipt="R1")]
    header = {
        "_id": "bat_X",
        "state": "completed",
        "created_at": at,
        "updated_at": at,
        "completed_at": at,
        "counts": status_counts(["succeeded"]),
        "totals": totals(records),
    }
    view = batch_view(header)
    assert view["completed_at"] == "2026-11-27T10:00:00.000Z"
    assert view["totals"]["succeeded"] == "500" and view["totals"]["fees"] == "15"
    assert view["totals"]["by_method"]["mpesa_b2c"]["amount"] == "500"
    assert view["results_url"] == "/v1/payouts/batches/bat_X/results.csv"
    item = item_view(records[0])
    assert item["payment_id"] == "p1" and item["status"] == "succeeded" and item["failure"] is None
    queued = item_view(record(last_error="overloaded"))
    assert queued["last_error"] == "overloaded"


def test_the_results_csv_has_one_row_per_item_and_no_formulas() -> None:
    records = [
        record(
            index=0,
            status="succeeded",
            payment_id="p1",
            rail="mpesa_b2c",
            receipt="UKR1",
            recipient_name='=HYPERLINK("x")',
        ),
        record(
            index=1,
            status="refused",
            failure_code="insufficient_balance",
            failure_message="needs 515, 0 available",
        ),
    ]
    data = results_csv(records)
    rows = list(csv.reader(io.StringIO(data.decode())))
    assert rows[0] == [
        "item_id",
        "payment_id",
        "method",
        "amount",
        "status",
        "failure_code",
        "failure_message",
        "provider_receipt",
        "recipient_name",
    ]
    assert rows[1] == [
        "a1",
        "p1",
        "mpesa_b2c",
        "500",
        "succeeded",
        "",
        "",
        "UKR1",
        '\'=HYPERLINK("x")',
    ]
    assert rows[2] == [
        "a1",
        "",
        "mpesa_b2c",
        "500",
        "refused",
        "insufficient_balance",
        "needs 515, 0 available",
        "",
        "",
    ]


# --- the HTTP handlers (api/batches.py), with a fake port and no stack ----------------------------
# (they test api/ and would sit in tests/unit/api/; kept here with the rest of the batch tests)


class FakePort:
    def __init__(self) -> None:
        self.created: list[tuple[str, str, str, list[Any]]] = []

    async def create(
        self, merchant_id: str, key: str, request_hash: str, items: list[Any]
    ) -> Reply:
        self.created.append((merchant_id, key, request_hash, items))
        return Reply(202, {"id": "bat_" + "1" * 26, "object": "payout_batch"}, replayed=key == "r")

    async def get(self, merchant_id: str, batch_id: str, offset: int, limit: int) -> Reply:
        return Reply(200, {"id": batch_id, "offset": offset, "limit": limit})

    async def results_csv(self, merchant_id: str, batch_id: str) -> bytes | None:
        return b"item_id\r\na1\r\n" if batch_id.endswith("1") else None


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient[web.Request, web.Application], FakePort]]:
    @web.middleware
    async def claims(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[CLAIMS] = Claims("mch_1", "cli_1", "payouts:write", 0, "t", issuer="user:usr_1")
        return await handler(request)

    port = FakePort()
    app = web.Application(client_max_size=64 * 1024, middlewares=[error_middleware, claims])
    app[STATE] = SimpleNamespace(saccos=SACCOS)
    app[BATCHES] = port
    register(app, ROUTE_TABLE)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client, port


async def test_post_creates_a_valid_batch_with_its_key(client: Any) -> None:
    http, port = client
    body = {"items": [payout("a1"), payout("a2")]}
    resp = await http.post("/v1/payouts/batches", json=body, headers={"Idempotency-Key": "k1"})
    assert resp.status == 202
    assert resp.headers["Location"] == "/v1/payouts/batches/bat_" + "1" * 26
    [(merchant, key, digest, items)] = port.created
    assert (merchant, key, [i.item_id for i in items]) == ("mch_1", "k1", ["a1", "a2"])
    assert digest == batch_request_hash(items)
    # Each payout's maker is the person who issued the client's secret (four eyes on a hold).
    assert {i.command.maker for i in items} == {"user:usr_1"}
    replay = await http.post("/v1/payouts/batches", json=body, headers={"Idempotency-Key": "r"})
    assert replay.headers["Idempotent-Replayed"] == "true"


async def test_post_refuses_a_batch_with_a_bad_line_and_creates_nothing(client: Any) -> None:
    http, port = client
    body = {"items": [payout("a1"), payout("a2", amount="x")]}
    resp = await http.post("/v1/payouts/batches", json=body, headers={"Idempotency-Key": "k1"})
    answer = await resp.json()
    assert resp.status == 422 and answer["error"]["code"] == "batch_invalid"
    assert answer["error"]["message"] == "1 of 2 lines are invalid; nothing was created"
    assert [(d["line"], d["item_id"], d["field"]) for d in answer["error"]["details"]] == [
        (2, "a2", "amount")
    ]
    assert answer["report"]["counts"] == {"lines": 2, "valid": 1, "invalid": 1}
    assert port.created == []


async def test_a_dry_run_needs_no_key_and_creates_nothing(client: Any) -> None:
    http, port = client
    data = "item_id,method,amount,phone,reference\na1,mpesa_b2c,500,0712345678,R\n"
    headers = {"Content-Type": "text/csv"}
    resp = await http.post("/v1/payouts/batches?dry_run=true", data=data, headers=headers)
    assert resp.status == 200
    assert (await resp.json())["valid"] is True
    assert port.created == []
    resp = await http.post("/v1/payouts/batches", data=data, headers=headers)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "idempotency_key_missing"
    bad = await http.post("/v1/payouts/batches?dry_run=maybe", data=data, headers=headers)
    assert bad.status == 400


async def test_uploads_larger_than_the_apps_limit_are_read_up_to_the_batch_limit(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    http, _ = client
    rows = "".join(f"r{n},mpesa_b2c,500,0712345678,R\n" for n in range(3000))
    data = "item_id,method,amount,phone,reference\n" + rows
    assert len(data) > 64 * 1024  # the app's client_max_size
    headers = {"Content-Type": "text/csv"}
    resp = await http.post("/v1/payouts/batches?dry_run=true", data=data, headers=headers)
    assert resp.status == 200 and (await resp.json())["counts"]["valid"] == 3000
    monkeypatch.setattr("api.batches.MAX_BATCH_BODY", 100 * 1024)
    resp = await http.post("/v1/payouts/batches?dry_run=true", data=data * 2, headers=headers)
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "body_too_large"


async def test_other_bodies_are_refused_plainly(client: Any) -> None:
    http, _ = client
    key = {"Idempotency-Key": "k"}
    plain = await http.post(
        "/v1/payouts/batches", data="x", headers={**key, "Content-Type": "text/plain"}
    )
    assert plain.status == 415
    broken = await http.post(
        "/v1/payouts/batches", data="{", headers={**key, "Content-Type": "application/json"}
    )
    assert broken.status == 400 and (await broken.json())["error"]["code"] == "invalid_json"


async def test_reads_check_the_id_and_the_paging(client: Any) -> None:
    http, _ = client
    batch = "bat_" + "1" * 26
    assert (await http.get("/v1/payouts/batches/nope")).status == 404
    page = await http.get(f"/v1/payouts/batches/{batch}?offset=10&limit=5")
    assert (await page.json())["offset"] == 10
    bad = await http.get(f"/v1/payouts/batches/{batch}?limit=5000&offset=-1")
    assert bad.status == 422
    assert {d["field"] for d in (await bad.json())["error"]["details"]} == {"offset", "limit"}
    results = await http.get(f"/v1/payouts/batches/{batch}/results.csv")
    assert results.status == 200 and results.content_type == "text/csv"
    assert "attachment" in results.headers["Content-Disposition"]
    missing = await http.get("/v1/payouts/batches/bat_" + "2" * 26 + "/results.csv")
    assert missing.status == 404


# --- personal data (switch/pii.py) ---------------------------------------------------------------


def test_a_payment_names_its_batch_item_through_its_scoped_key() -> None:
    batch_id = batch_id_for(b"s" * 32, "mch_1:k1")
    assert item_of_key(f"mch_1:{item_key(batch_id, 'emp-7')}", "mch_1") == (batch_id, "emp-7")
    assert item_of_key(f"mch_2:{item_key(batch_id, 'emp-7')}", "mch_1") is None  # not its own
    assert item_of_key("mch_1:some-client-key", "mch_1") is None
    assert item_of_key("mch_1:batch:not-a-batch:emp-7", "mch_1") is None
    assert item_of_key(f"mch_1:batch:{batch_id}:a:b", "mch_1") is None


def test_erasing_an_item_overwrites_its_request_and_name_and_keeps_the_rest() -> None:
    """Issue 10, finding 7: a batch item's copy of the person is erased with their payment."""
    bank = {"bank_code": "68", "account_number": "0150123456789", "account_name": "Jane W"}
    sacco = {"sacco_code": "STIMA", "member_number": "10001", "purpose": "loan_disbursement"}
    items = [
        payout("p1"),
        {**payout("b1", phone=""), "method": "bank_transfer", "bank": bank},
        {**payout("s1", phone=""), "method": "sacco", "sacco": sacco},
    ]
    for entry in items:
        if not entry["phone"]:
            del entry["phone"]
    parsed = parse_json({"items": items}, CHECK)
    assert parsed.ok, parsed.errors
    personal = ("254712345678", "0150123456789", "Jane W", "10001", "JANE WANJIKU")
    for n, item in enumerate(parsed.items):
        done = replace(
            new_record(n, item, "bat_X"),
            status="succeeded",
            payment_id=f"pay_{n}",
            receipt="RCP1",
            recipient_name="JANE WANJIKU",
        )
        erased = erased_item(done, f"pay_{n}")
        text = str(record_doc(erased))
        assert not any(value in text for value in personal), text
        assert erased.recipient_name == "[erased]"
        kept = ("status", "payment_id", "receipt", "amount_minor", "item_id")
        assert all(getattr(erased, f) == getattr(done, f) for f in kept)
        assert erased.command.idem_key == done.command.idem_key
        assert erased.command.amount_minor == done.command.amount_minor
    assert erased.command.destination["sacco_code"] == "STIMA"  # not personal: kept


def test_an_item_erased_while_queued_learns_its_payment_and_is_not_sent_again() -> None:
    queued = replace(record(), attempts=1, last_error="shard_unavailable")
    erased = erased_item(queued, "pay_s0_X")
    assert (erased.status, erased.payment_id, erased.last_error) == ("pending", "pay_s0_X", None)
    assert erased.awaiting and erased.at_provider and erased.command.phone == "[erased]"


def test_each_payout_rails_window_comes_from_its_providers_description() -> None:
    assert WINDOWS == {
        "mpesa_b2c": 50,
        "airtel_payout": 20,
        "bank_transfer": 20,
        "sacco": 10,
        "mpesa_b2b_paybill": 50,
        "mpesa_b2b_till": 50,
        "mpesa_tax": 50,
        "auto": 50,
    }
    assert all(rail(m).batch_window == n for m, n in WINDOWS.items() if m != AUTO)
