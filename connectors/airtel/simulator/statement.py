"""The merchant's Airtel Money statement (``GET /__sim/statement``, CSV in the shape of
connectors/airtel/records.py), from the simulator's ledger of money movements, with the injected
breaks applied (``/__sim/breaks``; ``ref`` is our transaction id or Airtel's); and what Airtel
settles into the merchant's bank account for a Nairobi business day (``GET
/__sim/settlement?day=YYYY-MM-DD``): money in less money out of that statement's day, with the
credit's end-to-end id ``SETTLE-AIRTEL-<YYYYMMDD>`` (switch/recon/settlement.py; a bank simulator
books it: PesaLink's ``POST /__sim/settlements``), as M-Pesa's simulator answers a paybill's."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING

from aiohttp import web

from connectors.airtel.records import airtel_statement_csv
from connectors.common import EAT
from connectors.simkit.breaks import apply

if TYPE_CHECKING:
    from connectors.airtel.simulator.app import Simulator
    from connectors.airtel.simulator.state import Entry


def _entries(sim: Simulator) -> list[Entry]:
    """The ledger's movements as the statement shows them (breaks applied)."""
    return apply(
        sim.breaks,
        list(sim.state.ledger.entries),
        lambda e: (e.transaction_id, e.airtel_money_id),
        lambda e, cents: replace(e, amount_cents=cents if e.amount_cents > 0 else -cents),
    )


async def settlement(request: web.Request, sim: Simulator) -> web.Response:
    try:
        day = date.fromisoformat(request.query.get("day", ""))
    except ValueError:
        return web.json_response({"error": "day must be YYYY-MM-DD"}, status=400)
    net = sum(
        e.amount_cents for e in _entries(sim) if datetime.fromtimestamp(e.at, EAT).date() == day
    )
    amount = f"{'-' if net < 0 else ''}{_amount(abs(net))}"
    return web.json_response({"reference": f"SETTLE-AIRTEL-{day:%Y%m%d}", "amount": amount})


async def statement(request: web.Request, sim: Simulator) -> web.Response:
    entries = _entries(sim)
    rows = [
        {
            "Txn Date": datetime.fromtimestamp(e.at, EAT).strftime("%Y-%m-%d %H:%M:%S"),
            "Airtel Money ID": e.airtel_money_id,
            "Partner Txn ID": e.transaction_id,
            "Txn Type": {"collection": "MerchantPayment", "refund": "Refund"}.get(
                e.kind, "Disbursement"
            ),
            "MSISDN": e.msisdn,
            "Credit": _amount(e.amount_cents) if e.amount_cents > 0 else "",
            "Debit": _amount(-e.amount_cents) if e.amount_cents < 0 else "",
            "Status": "TS",
        }
        for e in entries
    ]
    return web.Response(body=airtel_statement_csv(rows), content_type="text/csv")


def _amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
