"""The sending bank's statements of the PesaLink source account, from the simulator's own
transfers (only those that left the account: paid, or pending and debited), with the injected
breaks applied (``/__sim/breaks``: ``change_amount``/``duplicate``/``drop_record`` by our
end-to-end id, ``stranger`` a credit from someone else)::

    GET /__sim/statement.mt940     SWIFT MT940
    GET /__sim/statement.camt053   ISO 20022 camt.053.001.08

and of the switch's own collection account, where M-Pesa and Airtel settle their floats
(three-way matching; the credits are booked by ``POST /__sim/settlements {reference, amount}``,
the reference and amount as the provider's simulator computes them, e.g. M-Pesa's
``GET /__sim/settlement``)::

    GET /__sim/settlement-statement.mt940   GET /__sim/settlement-statement.camt053

The opening balance is the account's balance before the first line shown.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from aiohttp import web

from connectors.pesalink.records import camt053_statement, mt940_statement
from connectors.simkit.breaks import apply

if TYPE_CHECKING:
    from connectors.pesalink.simulator.app import Simulator

COLLECTION_ACCOUNT = "0100200300400"  # the switch's own account the providers settle into
Line = tuple[datetime, int, str, str]  # booked at, signed cents, bank reference, end-to-end id


class Statements:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.credits: list[Line] = []  # stranger payments into the account
        self.settled: list[Line] = []  # providers' settlements into the collection account

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/__sim/statement.mt940", self.mt940)
        router.add_get("/__sim/statement.camt053", self.camt053)
        router.add_post("/__sim/settlements", self.settle)
        router.add_get("/__sim/settlement-statement.mt940", self.settlement_mt940)
        router.add_get("/__sim/settlement-statement.camt053", self.settlement_camt053)

    def play_strangers(self) -> None:
        for brk in self.sim.breaks.strangers():
            ref = f"FT{secrets.token_hex(5).upper()}"
            self.credits.append((datetime.now(UTC), brk.amount_cents, ref, ""))

    def lines(self) -> tuple[int, list[Line]]:
        records = [r for r in self.sim.state.transfers.values() if r.debited]
        out: list[Line] = [
            (
                datetime.fromtimestamp(r.created_at, UTC),
                -r.amount_cents,
                r.transaction_id,
                r.reference,
            )
            for r in records
        ]
        out = sorted([*out, *self.credits])
        # The live balance already has every transfer taken off; credits are the statement's own.
        opening = self.sim.config.source_balance_cents - sum(c for _, c, _, _ in out if c < 0)
        shown = apply(
            self.sim.breaks,
            out,
            lambda line: (line[3], line[2]),
            lambda line, cents: replace_cents(line, cents),
        )
        return opening, shown

    async def mt940(self, _request: web.Request) -> web.Response:
        opening, lines = self.lines()
        body = mt940_statement(self.sim.config.source_account, _statement_id(), opening, lines)
        return web.Response(body=body, content_type="text/plain")

    async def camt053(self, _request: web.Request) -> web.Response:
        opening, lines = self.lines()
        body = camt053_statement(self.sim.config.source_account, _statement_id(), opening, lines)
        return web.Response(body=body, content_type="application/xml")

    async def settle(self, request: web.Request) -> web.Response:
        doc = await request.json()
        reference, amount = str(doc.get("reference", "")), str(doc.get("amount", ""))
        try:
            cents = int(Decimal(amount) * 100)
        except InvalidOperation:
            return web.json_response({"error": "amount must be a decimal"}, status=400)
        if not reference or len(reference) > 35:
            return web.json_response({"error": "reference: 1 to 35 characters"}, status=400)
        ref = f"FT{secrets.token_hex(5).upper()}"
        self.settled.append((datetime.now(UTC), cents, ref, reference))
        return web.json_response({"bank_reference": ref}, status=201)

    def _settlement_lines(self) -> list[Line]:
        return [line for line in self.settled if line[1] != 0]

    async def settlement_mt940(self, _request: web.Request) -> web.Response:
        body = mt940_statement(COLLECTION_ACCOUNT, _statement_id(), 0, self._settlement_lines())
        return web.Response(body=body, content_type="text/plain")

    async def settlement_camt053(self, _request: web.Request) -> web.Response:
        body = camt053_statement(COLLECTION_ACCOUNT, _statement_id(), 0, self._settlement_lines())
        return web.Response(body=body, content_type="application/xml")


def replace_cents(line: Line, cents: int) -> Line:
    at, old, ref, e2e = line
    return (at, cents if old > 0 else -cents, ref, e2e)


def _statement_id() -> str:
    return f"STMT{datetime.now(UTC):%Y%m%d%H%M%S}"
