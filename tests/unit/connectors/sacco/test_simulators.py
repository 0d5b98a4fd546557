"""The SACCO simulators: the books (triggers, never booked twice), the API simulator over HTTP
with the real connector and transport, and the file SACCO on a folder."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import ANY

import aiohttp
import pytest

from connectors.http import HttpRequest, OutcomeUnknown
from connectors.sacco import files
from connectors.sacco.api import (
    Account,
    ApiError,
    Member,
    MemberNotFound,
    Posted,
    SaccoApiConnector,
    Transaction,
    parse_error,
)
from connectors.sacco.simulator import FileSacco, FileSimConfig, SimConfig
from connectors.sacco.simulator.book import (
    NOT_ACTIVE,
    OPENING_SAVINGS_MINOR,
    OUTSTANDING_LOAN_MINOR,
    OVERPAYMENT_REFUSED,
    Book,
    Refused,
    member_name,
)
from connectors.transport import AiohttpTransport
from tests.unit.connectors.sacco.helpers import api_simulator, batch, line, registry_at

NOW = datetime.now(UTC)


# --- the books --------------------------------------------------------------------------------


def test_members_by_trigger() -> None:
    book = Book("STIMA")
    assert book.member("10404") is None
    ordinary = book.member("10001")
    assert ordinary is not None
    assert ordinary.name == member_name("10001") == book.member("10001").name  # type: ignore[union-attr]
    assert ordinary.savings_minor == 5_000_000
    dormant, broke, no_loan = book.member("10403"), book.member("10402"), book.member("10405")
    assert dormant is not None and dormant.dormant
    assert broke is not None and broke.savings_minor == 0
    assert no_loan is not None and no_loan.loan_id is None


def test_post_never_books_twice_and_refuses_cleanly() -> None:
    book = Book("STIMA")
    member = book.member("10001")
    assert member is not None
    first, fresh = book.post("deposit", member, 100, "p1", "api", 0.0)
    again, fresh_again = book.post("deposit", member, 100, "p1", "api", 0.0)
    assert fresh and not fresh_again and again is first
    assert member.savings_minor == 5_000_100
    with pytest.raises(Refused, match="Insufficient"):
        book.post("withdrawal", member, 6_000_000, "p2", "api", 0.0)
    assert member.savings_minor == 5_000_100  # nothing moved
    assert book.totals() == {"deposit": 100, "withdrawal": 0, "disbursement": 0, "repayment": 0}


def test_repayments_reduce_the_loan_and_overpay_into_credit() -> None:
    book = Book("STIMA")
    member = book.member("10001")
    assert member is not None and member.loan_active()
    assert member.outstanding_minor == OUTSTANDING_LOAN_MINOR
    txn, fresh = book.post("repayment", member, 1_000_000, "r1", "api", 0.0)
    assert fresh and txn.account_no == member.loan_no()
    assert member.outstanding_minor == OUTSTANDING_LOAN_MINOR - 1_000_000
    assert member.savings_minor == OPENING_SAVINGS_MINOR  # savings untouched
    again, fresh_again = book.post("repayment", member, 1_000_000, "r1", "api", 0.0)
    assert again is txn and not fresh_again
    assert member.outstanding_minor == OUTSTANDING_LOAN_MINOR - 1_000_000  # once only
    small = book.member("10407")
    assert small is not None and small.outstanding_minor == 100_000
    with pytest.raises(Refused) as refused:
        book.post("repayment", small, 150_000, "r2", "api", 0.0, refuse_overpayment=True)
    assert (refused.value.status, refused.value.code) == (403, OVERPAYMENT_REFUSED)
    assert (small.outstanding_minor, small.overpaid_minor, "r2" in book.ledger) == (
        100_000, 0, False,
    )  # fmt: skip
    book.post("repayment", small, 150_000, "r3", "api", 0.0)  # Fineract's default: booked
    assert (small.outstanding_minor, small.overpaid_minor) == (0, 50_000)
    assert not small.loan_active()
    with pytest.raises(Refused) as closed:
        book.post("repayment", small, 100, "r4", "api", 0.0)
    assert (closed.value.status, closed.value.code) == (400, NOT_ACTIVE)
    book.post("disbursement", small, 80_000, "d1", "api", 0.0)  # the credit is used up first
    assert (small.outstanding_minor, small.overpaid_minor) == (30_000, 0)
    assert book.totals()["repayment"] == 1_150_000


@pytest.mark.parametrize(
    ("member", "status", "code"),
    [("10405", 404, "error.msg.loan.id.invalid"), ("10406", 400, NOT_ACTIVE)],
)
def test_repayment_without_an_active_loan_is_refused(member: str, status: int, code: str) -> None:
    book = Book("STIMA")
    found = book.member(member)
    assert found is not None
    with pytest.raises(Refused) as refused:
        book.post("repayment", found, 100, "r1", "api", 0.0)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert book.ledger == {}


# --- the API simulator over HTTP --------------------------------------------------------------


async def test_api_simulator_end_to_end_with_the_connector() -> None:
    transport = AiohttpTransport()
    async with api_simulator() as (sim, base):
        conn = SaccoApiConnector(registry_at(base)["STIMA"])
        member = conn.parse_member(await transport.send(conn.member_request("10001")), "10001")
        assert isinstance(member, Member)
        accounts = conn.parse_accounts(
            await transport.send(conn.accounts_request(member.client_id))
        )
        assert not isinstance(accounts, ApiError)
        savings = accounts.savings_account()
        assert savings is not None
        req = conn.deposit_request(savings.account_id, 150_050, "pay_1", "INV", NOW)
        posted = conn.parse_posted(await transport.send(req), "pay_1")
        assert isinstance(posted, Posted)
        replay = conn.parse_posted(await transport.send(req), "pay_1")
        assert replay == posted  # the first result, not a second booking
        assert sim.book_of("STIMA").members["10001"].savings_minor == 5_150_050
        assert sim.stats.booked == 1
        assert sim.stats.replayed == 1
        found = conn.parse_lookup(await transport.send(conn.lookup_request("pay_1")), "pay_1")
        assert getattr(found, "transaction_id", None) == posted.transaction_id
        gone = conn.parse_member(await transport.send(conn.member_request("10404")), "10404")
        assert gone == MemberNotFound("10404")
    await transport.close()


async def test_api_simulator_refuses_a_reused_external_id_for_other_money() -> None:
    transport = AiohttpTransport()
    async with api_simulator() as (sim, base):
        conn = SaccoApiConnector(registry_at(base)["STIMA"])
        member = sim.book_of("STIMA").member("10001")
        assert member is not None
        first = conn.deposit_request(member.savings_id, 100, "pay_1", "", NOW)
        other = conn.deposit_request(member.savings_id, 200, "pay_1", "", NOW)
        assert isinstance(conn.parse_posted(await transport.send(first), "pay_1"), Posted)
        refused = conn.parse_posted(await transport.send(other), "pay_1")
        assert isinstance(refused, ApiError)
        assert refused.kind == "duplicate"
        assert member.savings_minor == 5_000_100
    await transport.close()


async def test_api_simulator_auth_tenant_and_faults() -> None:
    transport = AiohttpTransport()
    async with api_simulator(SimConfig(drop_answers=1)) as (sim, base):
        registry = registry_at(base)
        conn = SaccoApiConnector(registry["STIMA"])
        bad = SaccoApiConnector(
            type(registry["STIMA"])(**{**registry["STIMA"].to_json(), "password": "wrong"})
        )
        refused = bad.parse_member(await transport.send(bad.member_request("10001")), "10001")
        assert isinstance(refused, ApiError)
        assert refused.kind == "auth"
        member = sim.book_of("STIMA").member("10001")
        assert member is not None
        req = conn.deposit_request(member.savings_id, 100, "pay_d", "", NOW)
        with pytest.raises(OutcomeUnknown):
            await transport.send(req)  # booked, answer dropped
        assert "pay_d" in sim.book_of("STIMA").ledger
        async with aiohttp.ClientSession() as http:
            url = base.split("/fineract")[0] + "/__sim/config"
            async with http.patch(url, json={"error_burst": {"status": 503, "count": 1}}) as r:
                assert r.status == 200
            async with http.patch(url, json={"nonsense": 1}) as r:
                assert r.status == 400
        busy = conn.parse_member(await transport.send(conn.member_request("10001")), "10001")
        assert isinstance(busy, ApiError)
        assert busy.kind == "retriable"
        missing = await transport.send(HttpRequest("GET", base + "/nowhere", conn._headers))
        assert missing.status == 404
        assert "errors" in (missing.json() or {})
    await transport.close()


async def test_api_simulator_loan_repayments() -> None:
    transport = AiohttpTransport()
    async with api_simulator() as (sim, base):
        conn = SaccoApiConnector(registry_at(base)["STIMA"])

        async def loan_of(number: str) -> Account | None:
            member = conn.parse_member(await transport.send(conn.member_request(number)), number)
            assert isinstance(member, Member)
            resp = await transport.send(conn.accounts_request(member.client_id))
            accounts = conn.parse_accounts(resp)
            assert not isinstance(accounts, ApiError)
            return accounts.loan_to_repay()

        loan = await loan_of("10001")
        assert loan is not None and loan.outstanding_minor == OUTSTANDING_LOAN_MINOR
        req = conn.repayment_request(loan.account_id, 70_000, "pay_r1", "12345LN", NOW)
        posted = conn.parse_posted(await transport.send(req), "pay_r1")
        assert isinstance(posted, Posted)
        assert conn.parse_posted(await transport.send(req), "pay_r1") == posted  # replay
        other = conn.repayment_request(loan.account_id, 80_000, "pay_r1", "", NOW)
        duplicate = conn.parse_posted(await transport.send(other), "pay_r1")
        assert isinstance(duplicate, ApiError) and duplicate.kind == "duplicate"
        after = await loan_of("10001")
        assert after is not None and after.outstanding_minor == OUTSTANDING_LOAN_MINOR - 70_000
        found = conn.parse_lookup(await transport.send(conn.lookup_request("pay_r1")), "pay_r1")
        assert isinstance(found, Transaction)
        assert (found.kind, found.amount_minor, found.account_no) == (
            "repayment", 70_000, sim.book_of("STIMA").members["10001"].loan_no(),
        )  # fmt: skip
        assert await loan_of("10405") is None and await loan_of("10406") is None
        # A loan id the SACCO does not have, and a command it does not take.
        missing = await transport.send(conn.repayment_request(999_999, 100, "pay_r2", "", NOW))
        assert parse_error(missing).kind == "rejected"
        waive = HttpRequest.json(
            "POST", req.url.replace("repayment", "waiveinterest"), {}, conn._headers
        )
        assert (await transport.send(waive)).status == 400
        # A loan that is not active (406, approved, nothing owed), addressed directly.
        idle = sim.book_of("STIMA").member("10406")
        assert idle is not None and idle.loan_id is not None
        resp = await transport.send(conn.repayment_request(idle.loan_id, 100, "pay_r3", "", NOW))
        assert conn.parse_posted(resp, "pay_r3") == ApiError("declined", NOT_ACTIVE, ANY, 400)
        assert sim.stats.booked == 1
    await transport.close()


async def test_api_simulator_overpayment_knob_and_control_routes() -> None:
    transport = AiohttpTransport()
    async with api_simulator() as (sim, base):
        conn = SaccoApiConnector(registry_at(base)["STIMA"])
        small = sim.book_of("STIMA").member("10407")
        assert small is not None and small.loan_id is not None
        root = base.split("/fineract")[0] + "/__sim"
        async with aiohttp.ClientSession() as http:
            async with http.patch(root + "/config", json={"refuse_overpayment": True}) as r:
                assert (await r.json())["refuse_overpayment"] is True
            async with http.patch(root + "/config", json={"refuse_overpayment": 1}) as r:
                assert r.status == 400
            req = conn.repayment_request(small.loan_id, 150_000, "pay_o1", "", NOW)
            refused = conn.parse_posted(await transport.send(req), "pay_o1")
            assert isinstance(refused, ApiError)
            assert (refused.kind, refused.code) == ("declined", OVERPAYMENT_REFUSED)
            async with http.patch(root + "/config", json={"refuse_overpayment": False}) as r:
                assert r.status == 200
            assert isinstance(conn.parse_posted(await transport.send(req), "pay_o1"), Posted)
            async with http.get(root + "/members/stima/10407") as r:
                seen = await r.json()
                assert (seen["outstanding_minor"], seen["overpaid_minor"]) == (0, 50_000)
            async with http.get(root + "/ledger?tenant=stima") as r:
                (row,) = await r.json()
                assert (row["kind"], row["amount_minor"]) == ("repayment", 150_000)
        resp = await transport.send(conn.accounts_request(small.client_id))
        accounts = conn.parse_accounts(resp)
        assert not isinstance(accounts, ApiError)
        (overpaid,) = accounts.loans
        assert (overpaid.status, overpaid.repayable, overpaid.outstanding_minor) == (
            "Overpaid", False, 0,
        )  # fmt: skip
    await transport.close()


# --- the file SACCO ---------------------------------------------------------------------------


def publish(root: Path, b: files.Batch) -> None:
    out = root / b.sacco_code / "outgoing"
    out.mkdir(parents=True, exist_ok=True)
    (out / b.file_name).write_bytes(files.write_batch(b))


def results(root: Path, b: files.Batch) -> list[files.ParsedResult]:
    incoming = root / b.sacco_code / "incoming"
    return [
        files.parse_result(p.read_bytes(), b.sacco_code, {b.batch_id: b})
        for p in sorted(incoming.iterdir())
    ]


async def test_file_sacco_books_lines_and_answers(tmp_path: Path) -> None:
    sim = FileSacco(tmp_path)
    b = batch(
        line(1, "10001"),
        line(2, "10404"),
        line(3, "10403"),
        line(4, "10405", 500, "loan_disbursement"),
    )
    publish(tmp_path, b)
    written = await sim.process_once()
    assert len(written) == 1
    assert not list((tmp_path / "WAUMINI" / "outgoing").iterdir())  # taken
    (parsed,) = results(tmp_path, b)
    assert parsed.intact and not parsed.errors
    by_id = {x.payment_id: x for x in parsed.lines}
    assert by_id["pay_s0_1"].status == "PAID"
    assert by_id["pay_s0_2"].reason == "unknown member"
    assert "dormant" in (by_id["pay_s0_3"].reason or "")
    assert "disbursal" in (by_id["pay_s0_4"].reason or "")
    assert sim.book("WAUMINI").ledger["pay_s0_1"].amount_minor == 150_000
    # The same batch published again (a crash between publish and journal): ignored.
    publish(tmp_path, b)
    assert await sim.process_once() == []
    assert sim.stats.batches_repeated == 1
    # The same payment in another batch: answered with its first booking, never booked twice.
    publish(tmp_path, batch(line(1, "10001"), batch_id="WAUMINI-2"))
    await sim.process_once()
    assert len(sim.book("WAUMINI").ledger) == 1


async def test_file_sacco_refuses_a_tampered_batch(tmp_path: Path) -> None:
    sim = FileSacco(tmp_path)
    b = batch(line(1))
    out = tmp_path / "WAUMINI" / "outgoing"
    out.mkdir(parents=True)
    (out / b.file_name).write_bytes(files.write_batch(b).replace(b"1500.00", b"9500.00"))
    assert await sim.process_once() == []
    assert sim.stats.batches_refused == 1
    assert "checksum" in sim.refused[0][1]
    assert sim.book("WAUMINI").ledger == {}


async def test_file_sacco_partial_then_follow_up(tmp_path: Path) -> None:
    sim = FileSacco(tmp_path, config=FileSimConfig(partial_results=1, hold_for=0.0))
    b = batch(*(line(n, f"1000{n}") for n in range(1, 5)))
    publish(tmp_path, b)
    assert len(await sim.process_once()) == 2  # the partial file, then the follow-up (due now)
    first, second = results(tmp_path, b)
    assert [x.line_no for x in first.lines] == [1, 3]
    assert [x.line_no for x in second.lines] == [2, 4]


async def test_file_sacco_malformed_results(tmp_path: Path) -> None:
    sim = FileSacco(tmp_path, config=FileSimConfig(malformed_results=1, hold_for=-1))
    b = batch(*(line(n, f"1000{n}") for n in range(1, 6)))
    publish(tmp_path, b)
    assert len(await sim.process_once()) == 1  # held lines never come (hold_for < 0)
    (parsed,) = results(tmp_path, b)
    assert not parsed.intact
    fields = sorted({e.field for e in parsed.errors})
    assert fields == ["amount", "amount_sum", "checksum", "payment_id", "record"]
    assert [x.payment_id for x in parsed.lines] == ["pay_s0_4", "pay_s0_5"]


async def test_api_simulator_control_routes() -> None:
    transport = AiohttpTransport()
    async with api_simulator() as (sim, base):
        conn = SaccoApiConnector(registry_at(base)["STIMA"])
        member = sim.book_of("STIMA").member("10001")
        assert member is not None
        await transport.send(conn.deposit_request(member.savings_id, 100, "pay_c", "", NOW))
        root = base.split("/fineract")[0] + "/__sim"
        async with aiohttp.ClientSession() as http:
            async with http.get(root + "/ledger?tenant=stima") as r:
                (row,) = await r.json()
                assert (row["external_id"], row["amount_minor"], row["sacco_code"]) == (
                    "pay_c", 100, "STIMA",
                )  # fmt: skip
            async with http.get(root + "/members/stima/10001") as r:
                assert (await r.json())["savings_minor"] == 5_000_100
            async with http.get(root + "/stats") as r:
                assert (await r.json())["booked"] == 1
            async with http.patch(root + "/config", json={"latency": 0.01}) as r:
                assert (await r.json())["latency"] == 0.01
            async with http.post(root + "/reset") as r:
                assert r.status == 200
            async with http.get(root + "/config") as r:
                knobs = await r.json()
                assert knobs["latency"] == 0.0
                assert knobs["tenants"] == {"stima": "STIMA"}
        assert sim.book_of("STIMA").ledger == {}
    await transport.close()


def test_command_line_help(capsys: pytest.CaptureFixture[str]) -> None:
    from connectors.sacco.simulator.__main__ import parse_args

    ns = parse_args(["--port", "9401", "--outbox-dir", "var/x"])
    assert (ns.port, ns.outbox_dir, ns.file_codes) == (9401, "var/x", "WAUMINI")
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    assert "STIMA" in capsys.readouterr().out


async def test_file_sacco_loan_repayments(tmp_path: Path) -> None:
    sim = FileSacco(tmp_path)
    b = batch(
        line(1, "10001", 70_000, "loan_repayment"),
        line(2, "10405", 70_000, "loan_repayment"),
        line(3, "10406", 70_000, "loan_repayment"),
        line(4, "10407", 150_000, "loan_repayment"),
    )
    publish(tmp_path, b)
    await sim.process_once()
    (parsed,) = results(tmp_path, b)
    assert parsed.intact and not parsed.errors
    by_id = {x.payment_id: x for x in parsed.lines}
    assert {x.purpose for x in parsed.lines} == {"loan_repayment"}  # echoed in the result
    assert [by_id[f"pay_s0_{n}"].status for n in range(1, 5)] == [
        "PAID",
        "FAILED",
        "FAILED",
        "PAID",
    ]
    assert "no loan" in (by_id["pay_s0_2"].reason or "")
    assert "not active" in (by_id["pay_s0_3"].reason or "")
    book = sim.book("WAUMINI")
    assert book.members["10001"].outstanding_minor == OUTSTANDING_LOAN_MINOR - 70_000
    assert book.members["10001"].savings_minor == OPENING_SAVINGS_MINOR
    assert book.members["10407"].overpaid_minor == 50_000


async def test_file_sacco_refusing_overpayments(tmp_path: Path) -> None:
    sim = FileSacco(tmp_path, config=FileSimConfig(refuse_overpayment=True))
    b = batch(
        line(1, "10407", 150_000, "loan_repayment"), line(2, "10407", 100_000, "loan_repayment")
    )
    publish(tmp_path, b)
    await sim.process_once()
    (parsed,) = results(tmp_path, b)
    assert [(x.status, x.reason) for x in parsed.lines] == [
        ("FAILED", "Repayment exceeds the outstanding loan balance; overpayments are not allowed."),
        ("PAID", None),
    ]
    assert sim.book("WAUMINI").members["10407"].outstanding_minor == 0
