"""Three-way matching through the public API on the real stack: M-Pesa's own record of a
paybill's day (Pull Transactions) against the switch's payments, and M-Pesa's settlement of that
day into the switch's bank account (the PesaLink bank simulator's statement of the collection
account) against the matched records."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import pytest

from app.stack import Stack
from connectors.common import EAT

from .conftest import Receiver
from .helpers import Api, for_up_to
from .test_compliance import Caller, _operator
from .test_recon import _auth, _ledger_ok, _sim, airtel_collections

pytestmark = pytest.mark.integration


async def test_a_settlement_short_of_its_matched_day_is_a_break_and_an_exact_one_is_not(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api, receiver: Receiver
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=1)
    mpesa, bank = stack.sim_url, stack.sim_urls["pesalink"]
    await _sim(http, "DELETE", f"{mpesa}/__sim/breaks")
    start = Decimal((await merchant.balance())["available"])
    shortcodes = [f"7{uuid.uuid4().int % 10**6:06d}" for _ in range(2)]
    for n, shortcode in enumerate(shortcodes):
        body = {"shortcode": shortcode, "accounts": {"type": "prefix", "prefix": "ACME"}}
        async with http.put(
            f"{merchant.base}/v1/c2b/registration", json=body, headers=merchant.auth
        ) as r:
            assert r.status == 200, await r.text()
        for amount in ("250", "300"):
            order = {
                "shortcode": shortcode,
                "amount": f"{int(amount) + n}",
                "msisdn": "254712345678",
                "bill_ref": f"ACME-{n}",
                "command_id": "CustomerPayBillOnline",
            }
            await _sim(http, "POST", f"{mpesa}/__sim/c2b/pay", json=order)
    # 1,101 less the fees: every confirmation reached the switch.
    for _ in for_up_to():
        if Decimal((await merchant.balance())["available"]) - start > 1080:
            break
        await asyncio.sleep(0.1)
    assert Decimal((await merchant.balance())["available"]) - start > 1080

    # M-Pesa settles each paybill's day to the switch's bank account: the first in full, the
    # second KES 10 short.
    day = datetime.now(EAT).date().isoformat()
    credits = []
    for n, shortcode in enumerate(shortcodes):
        settled = await _sim(
            http, "GET", f"{mpesa}/__sim/settlement?day={day}&shortcode={shortcode}"
        )
        assert settled["amount"] == f"{550 + 2 * n}.00"
        if n:
            settled["amount"] = f"{540 + 2 * n}.00"
        await _sim(http, "POST", f"{bank}/__sim/settlements", json=settled)
        credits.append(settled["reference"])

    alice, bob = await _operator(stack, http), await _operator(stack, http)
    status, _ = await alice.call("POST", "/v1/operator/recon/pulls")
    assert status == 200
    await _upload(stack, http, alice, "camt053", "application/xml")
    until = datetime.now(UTC) + timedelta(seconds=1)
    window = {"since": since.isoformat(), "until": until.isoformat()}
    status, run = await alice.call(
        "POST",
        "/v1/operator/recon/runs",
        json={"sources": ["mpesa_pull", "bank_settlement"], **window},
    )
    assert status == 201, run
    mine = [b for b in run["breaks"] if b["key"] in credits or b["kind"] != "settlement_mismatch"]
    assert [(b["kind"], b["key"]) for b in mine] == [("settlement_mismatch", credits[1])]
    assert run["counts"]["matched"] >= 4 + 1  # four payments, the first settlement
    status, brk = await alice.call("GET", f"/v1/operator/recon/breaks/{mine[0]['id']}")
    assert (brk["switch_amount"], brk["provider_amount"], brk["sources"]) == (
        "552",
        "542",
        ["bank_settlement"],
    )
    assert brk["suspense"] is None  # the bank's money is not on the switch's books
    # The same statement in MT940: the same break, found again, not a new one.
    await _upload(stack, http, alice, "mt940", "text/plain")
    status, again = await bob.call(
        "POST",
        "/v1/operator/recon/runs",
        json={"sources": ["mpesa_pull", "bank_settlement"], **window},
    )
    assert mine[0]["id"] in {b["id"] for b in again["breaks"]}
    # Nothing on the switch's books to write off: the provider corrects its settlement.
    status, refused = await alice.call(
        "POST",
        f"/v1/operator/recon/breaks/{mine[0]['id']}/resolve",
        json={"action": "write_off", "reason": "short settlement"},
    )
    assert status == 409 and refused["error"]["code"] == "not_applicable", refused
    await _ledger_ok(stack)


async def test_airtels_daily_settlement_is_matched_against_the_airtel_statement(
    stack: Stack, http: aiohttp.ClientSession, merchant: Api
) -> None:
    """The second wallet: Airtel settles its whole Nairobi day as one credit, checked against
    the day's matched Airtel statement records; KES 10 short of Airtel's own books is a break."""
    airtel, bank = stack.sim_urls["airtel"], stack.sim_urls["pesalink"]
    await _sim(http, "DELETE", f"{airtel}/__sim/breaks")
    today = datetime.now(EAT)
    day = today.date().isoformat()
    # The day's net so far: other tests' Airtel payouts may have made it negative, and a
    # settlement credit is positive, so a collection makes up the difference first.
    before = Decimal((await _sim(http, "GET", f"{airtel}/__sim/settlement?day={day}"))["amount"])
    amounts = ("120", "130") + ((f"{1 - before:.0f}",) if before < 0 else ())
    await airtel_collections(merchant, amounts, "AIRSET")
    settled = await _sim(http, "GET", f"{airtel}/__sim/settlement?day={day}")
    assert settled["reference"] == f"SETTLE-AIRTEL-{today:%Y%m%d}"
    assert Decimal(settled["amount"]) - before == sum(Decimal(a) for a in amounts)
    alice = await _operator(stack, http)
    statement = await _sim(http, "GET", f"{airtel}/__sim/statement")
    url = f"{stack.api_url}/v1/operator/recon/statements?source=airtel_statement"
    async with http.post(
        url, data=statement, headers={**_auth(alice), "Content-Type": "text/csv"}
    ) as r:
        assert r.status == 200, await r.text()
    # The whole business day, so the credit nets every record it covers.
    midnight = today.replace(hour=0, minute=0, second=0, microsecond=0)
    window = {
        "since": midnight.isoformat(),
        "until": (datetime.now(UTC) + timedelta(seconds=1)).isoformat(),
    }
    run_body = {"sources": ["airtel_statement", "bank_settlement"], **window}
    reference = settled["reference"]

    async def settlement_breaks() -> list[dict[str, object]]:
        await _upload(stack, http, alice, "camt053", "application/xml")
        status, run = await alice.call("POST", "/v1/operator/recon/runs", json=run_body)
        assert status == 201, run
        return [b for b in run["breaks"] if b["key"] == reference]

    # KES 10 short of what Airtel's books say. (Whether the exact amount matches depends on
    # every Airtel record of the day matching, which other tests of the session may spoil; the
    # rule itself is tested in tests/unit/switch/test_recon_settlement.py.)
    short = f"{Decimal(settled['amount']) - 10:.2f}"
    await _sim(http, "POST", f"{bank}/__sim/settlements", json={**settled, "amount": short})
    [brk] = await settlement_breaks()
    assert brk["kind"] == "settlement_mismatch" and brk["provider"] == "airtel"
    _, found = await alice.call("GET", f"/v1/operator/recon/breaks/{brk['id']}")
    assert Decimal(found["provider_amount"]) == Decimal(short)
    assert Decimal(found["switch_amount"]) != Decimal(short)  # the day's matched records
    await _ledger_ok(stack)


async def _upload(
    stack: Stack, http: aiohttp.ClientSession, caller: Caller, fmt: str, content_type: str
) -> None:
    """The bank simulator's statement of the collection account, in ``fmt``, ingested."""
    bank = stack.sim_urls["pesalink"]
    statement = await _sim(http, "GET", f"{bank}/__sim/settlement-statement.{fmt}")
    async with http.post(
        f"{stack.api_url}/v1/operator/recon/statements?source=bank_settlement",
        data=statement,
        headers={**_auth(caller), "Content-Type": content_type},
    ) as r:
        assert r.status == 200, await r.text()
