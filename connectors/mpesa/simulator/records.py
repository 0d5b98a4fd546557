"""The simulated M-Pesa's own records, for reconciliation: Pull Transactions and the
organisation portal's statement, both read from the simulator's books (the STK records and the
C2B, B2C and reversal ledger), with the injected breaks applied (``/__sim/breaks``,
connectors/simkit/breaks.py).

Daraja routes (wire facts in connectors/mpesa/records.py)::

    POST /pulltransactions/v1/register   POST /pulltransactions/v1/query

Control routes::

    GET /__sim/org-statement[?shortcode=]   the portal's CSV export (every shortcode of the
                                            organisation unless one is named: the simulator's
                                            choice, so one file covers STK, C2B and B2C)
    GET /__sim/settlement?day=&shortcode=   what M-Pesa settles to the shortcode's bank account
                                            for a Nairobi business day: money in less money
                                            out, as the books (breaks applied) show it, with
                                            the credit's end-to-end id (a bank simulator books
                                            it: PesaLink's ``POST /__sim/settlements``)

A stranger payment (``{"kind": "stranger"}``) is played at once as a C2B payment into the C2B
shortcode that notifies nobody; ``drop_callback`` drops the next C2B confirmations (the money
still moves).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from connectors.common import EAT
from connectors.mpesa.records import PULL_FORMAT, PULL_WINDOW_HOURS, org_statement_csv
from connectors.mpesa.simulator import c2b_wire as cw
from connectors.mpesa.simulator.answers import Refusal, json_response, refusal_response
from connectors.mpesa.simulator.state import request_id
from connectors.mpesa.simulator.wire import InvalidField
from connectors.simkit.breaks import apply

if TYPE_CHECKING:
    from connectors.mpesa.simulator.app import Simulator

ORGANISATION = "Daraja Pull API Test"  # the docs' sample organisation name
STRANGER_PHONE = "254708000999"  # a customer the switch never sent a prompt to


@dataclass(frozen=True, slots=True)
class Line:
    """One movement of the organisation's money, as the simulator's books have it."""

    receipt: str
    wall: float
    shortcode: str
    amount_cents: int
    direction: str  # in | out
    reason: str
    party: str
    account: str
    kind: str  # c2b | stk | b2c | reversal
    command_id: str = ""


class RecordsSim:
    def __init__(self, core: Simulator) -> None:
        self.core = core
        self.registered: dict[str, str] = {}  # shortcode -> nominated number

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/pulltransactions/v1/register", self.register)
        router.add_post("/pulltransactions/v1/query", self.query)
        router.add_get("/__sim/org-statement", self.org_statement)
        router.add_get("/__sim/settlement", self.settlement)

    # --- the organisation's books ----------------------------------------------------------------

    def lines(self) -> list[Line]:
        core, ledger = self.core, self.core.state.ledger
        out = [
            Line(
                p.trans_id,
                p.created_at,
                p.shortcode,
                p.amount * 100,
                "in",
                "Pay Bill" if p.command_id == "CustomerPayBillOnline" else "Buy Goods",
                f"{p.msisdn} - {p.first_name} {p.last_name}".strip(),
                p.bill_ref,
                "c2b",
                p.command_id,
            )
            for p in ledger.c2b.values()
            if p.state == "completed"
        ]
        now = core._now()
        out += [
            Line(
                r.receipt,
                r.created_at + core.config.callback_delay,
                core.config.shortcode,
                r.amount * 100,
                "in",
                "Pay Bill Online",
                r.phone,
                r.account_reference,
                "stk",
            )
            for r in core.state.records.values()
            if r.receipt and r.result_code == 0 and r.due_at <= now
        ]
        out += [
            Line(
                p.transaction_id,
                p.created_at,
                p.party_a,
                p.amount * 100,
                "out",
                "Business Payment to Customer",
                f"{p.phone} - {p.receiver_name}",
                "",
                "b2c",
            )
            for p in ledger.payouts.values()
            if p.paid and p.state(now) == "completed"
        ]
        out += [
            Line(
                r.receipt,
                time.time(),
                r.shortcode,
                r.amount * 100,
                "out",
                "Reversal",
                "",
                "",
                "reversal",
            )
            for r in ledger.reversals.values()
        ]
        out.sort(key=lambda line: line.wall)
        return apply(
            self.core.breaks,
            out,
            lambda line: (line.receipt,),
            lambda line, cents: replace(line, amount_cents=cents),
        )

    async def play_strangers(self) -> None:
        """Stranger payments into the C2B shortcode (or the STK one): nobody is notified."""
        c2b = self.core.c2b
        for brk in self.core.breaks.strangers():
            registered = next(
                iter(self.core.state.ledger.registrations), self.core.config.shortcode
            )
            shortcode = brk.shortcode or registered
            order = cw.SimulateRequest(
                shortcode,
                "CustomerPayBillOnline",
                brk.amount_cents // 100,
                STRANGER_PHONE,
                brk.account,
            )
            payment = c2b._new(order)
            payment.validation = "not asked (a stranger's payment, injected)"
            self.core.state.ledger.credit(payment.shortcode, payment.amount * 100)
            payment.state = "completed"

    # --- Pull Transactions (Daraja) --------------------------------------------------------------

    async def register(self, request: web.Request) -> web.Response:
        try:
            body = await self.core._authorised_body(request, "ShortCode", "c2b")
            shortcode = _field(body, "ShortCode")
            nominated = _field(body, "NominatedNumber")
            _field(body, "CallBackURL")
            if body.get("RequestType") != "Pull":
                raise InvalidField("RequestType")
        except (Refusal, InvalidField) as exc:
            return refusal_response(exc)
        already = shortcode in self.registered
        self.registered[shortcode] = nominated
        # The sandbox's spaced keys (see connectors/mpesa/records.py).
        return json_response(
            {
                "ResponseRefID": request_id(),
                "Response Status": "1001" if already else "1000",
                "ShortCode": shortcode,
                "Response Description": "ShortCode already Registered"
                if already
                else "Shortcode Registered Successfully",
            }
        )

    async def query(self, request: web.Request) -> web.Response:
        try:
            body = await self.core._authorised_body(request, "ShortCode", "c2b")
            shortcode = _field(body, "ShortCode")
            start, end = _when(body, "StartDate"), _when(body, "EndDate")
            offset = _offset(body)
        except (Refusal, InvalidField) as exc:
            return refusal_response(exc)
        if shortcode not in self.registered:
            return json_response(
                {"ResponseCode": "400.001", "ResponseMessage": "Invalid ShortCode"}, 400
            )
        oldest = datetime.now(UTC) - timedelta(hours=PULL_WINDOW_HOURS)
        rows = [
            line
            for line in self.lines()
            if line.kind == "c2b"
            and line.shortcode == shortcode
            and max(start, oldest) <= _utc(int(line.wall)) <= end  # whole seconds, as sent
        ]
        page = rows[offset : offset + self.core.config.pull_page_size]
        if not page:
            return json_response(
                {
                    "RequestID": request_id(),
                    "ResponseCode": "1001",
                    "ResponseMessage": "No records found or Organization Name not available",
                }
            )
        return json_response(
            {
                "ResponseRefID": request_id(),
                "ResponseCode": "1000",
                "ResponseMessage": "Success",
                "Response": [[_pull_row(line) for line in page]],
            }
        )

    # --- the portal's statement (control route) ---------------------------------------------------

    async def org_statement(self, request: web.Request) -> web.Response:
        shortcode = request.query.get("shortcode")
        lines = [ln for ln in self.lines() if shortcode in (None, ln.shortcode)]
        balance, rows = 0, []
        for line in lines:
            balance += line.amount_cents if line.direction == "in" else -line.amount_cents
            rows.append(_statement_row(line, balance))
        rows.reverse()  # latest first, as exports show
        first = _eat(lines[0].wall) if lines else "-"
        last = _eat(lines[-1].wall) if lines else "-"
        body = org_statement_csv(rows, ORGANISATION, f"{first} - {last}")
        return web.Response(body=body, content_type="text/csv")

    async def settlement(self, request: web.Request) -> web.Response:
        shortcode = request.query.get("shortcode", "")
        try:
            day = date.fromisoformat(request.query.get("day", ""))
        except ValueError:
            return web.json_response({"error": "day must be YYYY-MM-DD"}, status=400)
        if not shortcode.isdigit():
            return web.json_response({"error": "shortcode must be digits"}, status=400)
        net = sum(
            ln.amount_cents if ln.direction == "in" else -ln.amount_cents
            for ln in self.lines()
            if ln.shortcode == shortcode and _utc(ln.wall).astimezone(EAT).date() == day
        )
        reference = f"SETTLE-MPESA-{day:%Y%m%d}-{shortcode}"
        amount = f"{'-' if net < 0 else ''}{abs(net) // 100}.{abs(net) % 100:02d}"
        return web.json_response({"reference": reference, "amount": amount})


def _pull_row(line: Line) -> dict[str, Any]:
    msisdn = line.party.split(" - ")[0]
    return {
        "transactionId": line.receipt,
        "trxDate": _utc(line.wall).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "msisdn": int(msisdn[3:]) if msisdn[3:].isdigit() else 0,  # a number, no country code
        "sender": line.party.split(" - ")[-1],
        "transactiontype": "c2b-pay-bill-debit"
        if line.command_id == "CustomerPayBillOnline"
        else "c2b-buy-goods-debit",
        "billreference": line.account,
        "amount": f"{line.amount_cents // 100}.{line.amount_cents % 100:02d}",
        "organizationname": ORGANISATION,
    }


def _statement_row(line: Line, balance: int) -> dict[str, str]:
    amount = f"{line.amount_cents / 100:,.2f}"
    party = line.party.split(" - ")
    masked = party[0][:4] + "****" + party[0][-4:] if len(party[0]) >= 8 else party[0]
    return {
        "Receipt No.": line.receipt,
        "Completion Time": _eat(line.wall),
        "Initiation Time": _eat(line.wall),
        "Details": f"{line.reason} - {line.account}" if line.account else line.reason,
        "Transaction Status": "Completed",
        "Paid In": amount if line.direction == "in" else "",
        "Withdrawn": amount if line.direction == "out" else "",
        "Balance": f"{balance / 100:,.2f}",
        "Balance Confirmed": "true",
        "Reason Type": line.reason,
        "Other Party Info": " - ".join([masked, *party[1:]]),
        "Linked Transaction ID": "",
        "A/C No.": line.account,
    }


def _field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise InvalidField(name)
    return str(value).strip()


def _when(body: dict[str, Any], name: str) -> datetime:
    raw = _field(body, name)
    for fmt in (PULL_FORMAT, "%Y-%m-%d %H:%M"):  # the docs show both
        try:
            return datetime.strptime(raw, fmt).replace(tzinfo=EAT).astimezone(UTC)
        except ValueError:
            continue
    raise InvalidField(name)


def _offset(body: dict[str, Any]) -> int:
    raw = str(body.get("OffSetValue", "0"))
    if not raw.isdigit():
        raise InvalidField("OffSetValue")
    return int(raw)


def _utc(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)


def _eat(wall: float) -> str:
    return datetime.fromtimestamp(wall, EAT).strftime("%d-%m-%Y %H:%M:%S")
