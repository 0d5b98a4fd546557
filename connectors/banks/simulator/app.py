"""Participant banks speaking ISO 20022 over HTTP, several in one aiohttp app (one per bank
code), for the hub's tests, bench and sandbox.

Bank routes (every request and answer signed, :mod:`switch.iso20022.signing`)::

    POST /banks/{code}/pacs.008                      a credit transfer from the hub
         -> 200 pacs.002: ACCP (held) or RJCT with a reason per transfer; PDNG when late
       (the same URL takes the hub's final pacs.002: ACSC books a held credit, RJCT releases
        it -> 204)
         -> 400 pacs.002 with group status RJCT/FF01 naming the element, for a bad document
         -> 401 {"error"} for a missing or wrong signature (nothing is read or booked)
    GET  /banks/{code}/status/{uetr or end-to-end id}   the bank's pacs.002 for one transfer
    GET  /banks/{code}/accounts/{account}/camt.053      the account's statement
    POST /banks/{code}/notices                       the hub's signed JSON notices: a request
         to pay (:mod:`.rtp`) is answered 202 or 422, others 204. The pacs.008 route takes
         them too (a JSON body), being an ISO 20022 participant's one endpoint

A GET is signed like a message, over an empty body. Control routes (not a bank's)::

    GET /__sim/config   PATCH /__sim/config   GET /__sim/stats   POST /__sim/reset
    GET /__sim/banks    GET /__sim/banks/{code}   (accounts, balances, bookings)

Accounts and outcomes: :mod:`.book`; fault knobs: :mod:`.config`. A transfer is decided and
booked (held until the hub settles it) before any answer is written, so a lost or late answer
never loses the credit, and a repeated UETR is answered as the first time, never booked twice.
The status route tells the bank's decision at once, even while a late pacs.002 is still waiting
to be posted.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import aiohttp
import orjson
from aiohttp import web

from connectors.banks.simulator import book, rtp
from connectors.banks.simulator.book import Bank, Decision
from connectors.banks.simulator.config import SimConfig
from connectors.common import EAT
from connectors.simkit.admin import (
    Answer,
    SimBase,
    drop,
    early_answers,
    json_response,
    sim_app,
    wire_errors,
)
from switch.iso20022 import camt, pacs002, pacs008
from switch.iso20022.document import MessageError
from switch.iso20022.pacs002 import GroupStatus, Pacs002, TxStatus
from switch.iso20022.signing import HUB, BadSignature, sign, verify
from switch.signing import verify_webhook

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Stats:
    messages: int = 0
    transfers: int = 0
    accepted: int = 0
    rejected: int = 0
    repeats: int = 0  # a UETR received again with the same details: answered again
    duplicates_refused: int = 0  # a UETR received again with other details: AM05
    bad_signatures: int = 0
    schema_refusals: int = 0
    never_answered: int = 0
    late: int = 0
    duplicated: int = 0
    callbacks_sent: int = 0
    callbacks_failed: int = 0
    status_queries: int = 0
    statements: int = 0
    bursts: int = 0
    settled: int = 0  # held credits booked on the hub's ACSC
    released: int = 0  # held credits taken back on the hub's RJCT
    requests_to_pay: int = 0
    requests_paid: int = 0
    requests_declined: int = 0


@dataclass(frozen=True, slots=True)
class Faults:
    """The faults one message meets (each counter knob is taken once per message)."""

    never: bool = False
    reject: bool = False
    late: bool = False
    duplicate: bool = False


class _Signed(Protocol):
    @property
    def msg_id(self) -> str: ...


_Doc = TypeVar("_Doc", bound=_Signed)


def _error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


class Simulator(SimBase[SimConfig]):
    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.banks = book.default_banks(config.keys)
        self.stats = Stats()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- credit transfers ------------------------------------------------------------------

    async def credit_transfer(self, request: web.Request) -> web.StreamResponse:
        if request.content_type == "application/json":  # a notice, not a pacs.008
            return await self.notice(request)
        bank = self._bank(request, "pacs008")
        body = await request.read()
        signed_id = self._authenticate(request, bank, body)
        self.stats.messages += 1
        if pacs002.NAMESPACE_MARK in body[:1024]:  # one endpoint: the hub's final word comes here
            return self._final_status(bank, body, signed_id)
        msg = self._read(bank, pacs008.parse, body, signed_id)
        faults = self._faults(bank)
        now = datetime.now(EAT).replace(microsecond=0)
        statuses = tuple(self._decide(bank, tx, msg.msg_id, now, faults) for tx in msg.transfers)
        final = Pacs002(_msg_id(bank), now, msg.msg_id, pacs008.MESSAGE, statuses)
        await self._lag()
        if faults.never:
            self.stats.never_answered += 1
            await asyncio.sleep(self.config.hang_seconds)
            return drop(request)
        if faults.late:
            self.stats.late += 1
            copies = 2 if faults.duplicate else 1
            self._spawn(self._deliver(bank, final, copies, self.config.late_delay))
            pending = tuple(_pending(s) for s in statuses)
            return self._signed(
                bank, Pacs002(_msg_id(bank), now, msg.msg_id, pacs008.MESSAGE, pending)
            )
        if faults.duplicate:
            self._spawn(self._deliver(bank, final, 1, 0.0))
        return self._signed(bank, final)

    def _final_status(self, bank: Bank, body: bytes, signed_id: str | None) -> web.Response:
        """The hub's pacs.002 at the end of a transfer: ``ACSC`` (committed) books the credit
        held for the customer, ``RJCT`` (aborted) takes it back; any other status, or a
        transfer the bank holds nothing for (it was the payer), changes nothing."""
        report = self._read(bank, pacs002.parse, body, signed_id)
        for st in report.statuses:
            if st.status in ("ACSC", "RJCT") and st.original_uetr:
                done = book.settle(bank, st.original_uetr, st.status == "ACSC")
                self.stats.settled += done == "booked"
                self.stats.released += done == "released"
        return web.Response(status=204)

    def _read(
        self, bank: Bank, parse: Callable[[bytes], _Doc], body: bytes, signed_id: str | None
    ) -> _Doc:
        """The document, parsed and checked to be the one signed; else the answer refusing it
        (raised: a 400 naming the element, or a 401)."""
        try:
            doc = parse(body)
        except MessageError as exc:
            self.stats.schema_refusals += 1
            raise Answer(self._refuse_document(bank, exc)) from None
        if signed_id is not None and signed_id != doc.msg_id:
            self.stats.bad_signatures += 1
            message = f"webhook-id names {signed_id}, the document is {doc.msg_id}"
            raise Answer(_error(401, message))
        return doc

    def _decide(
        self, bank: Bank, tx: pacs008.CreditTransfer, msg_id: str, now: datetime, faults: Faults
    ) -> TxStatus:
        self.stats.transfers += 1
        known = bank.decisions.get(tx.uetr)
        if known is not None:
            if known.digest == book.digest(tx):
                self.stats.repeats += 1
                return known.status
            self.stats.duplicates_refused += 1
            return book.status(tx, "RJCT", "AM05", now, None)
        reason = (
            self.config.reject_reason
            if faults.reject
            else book.refusal(bank, tx, self.config.check_names)
        )
        if reason is None:
            status = book.status(tx, "ACCP", None, now, book.credit(bank, tx, now))
            self.stats.accepted += 1
        else:
            status = book.status(tx, "RJCT", reason, now, None)
            self.stats.rejected += 1
        bank.decisions[tx.uetr] = Decision(book.digest(tx), status, msg_id)
        bank.by_end_to_end.setdefault(tx.end_to_end_id, tx.uetr)
        return status

    def _faults(self, bank: Bank) -> Faults:
        c = self.config
        if c.fault_bank not in (None, bank.code):
            return Faults()

        def take(name: str) -> bool:
            left = int(getattr(c, name))
            if left > 0:
                setattr(c, name, left - 1)
            return left > 0

        return Faults(take("never_answer"), take("reject_next"), take("late_next"),
                      take("duplicate_next"))  # fmt: skip

    def _refuse_document(self, bank: Bank, exc: MessageError) -> web.Response:
        """The whole message refused: group status RJCT, FF01, the element and reason."""
        now = datetime.now(EAT).replace(microsecond=0)
        why = GroupStatus("RJCT", "FF01", f"{exc.element}: {exc.reason}"[:105])
        report = Pacs002(_msg_id(bank), now, "NOTPROVIDED", pacs008.MESSAGE, group=why)
        return self._signed(bank, report, status=400)

    # --- requests to pay (.rtp) --------------------------------------------------------------

    async def notice(self, request: web.Request) -> web.Response:
        bank = self._bank(request, "pacs008")
        body = await request.read()
        if self.config.check_signatures and not verify_webhook(bank.key, request.headers, body):
            self.stats.bad_signatures += 1
            return _error(401, "not signed with this bank's key")
        event = orjson.loads(body)
        if event.get("type") != rtp.NOTICE:
            return web.Response(status=204)
        self.stats.requests_to_pay += 1
        status, answer, pays = rtp.answer(bank, event["data"])
        if status >= 400:
            self.stats.requests_declined += 1
        if pays:
            self._spawn(self._pay(bank, event["data"]))
        await self._lag()
        return json_response(answer or {"status": "accepted"}, status)

    async def _pay(self, bank: Bank, data: dict[str, Any]) -> None:
        client = self.config.hub_clients.get(bank.code)
        if self.config.hub_url is None or client is None or self._session is None:
            log.warning("bank %s: no hub_url or hub client: request %s unpaid", bank.code,
                        data.get("id"))  # fmt: skip
            return
        try:
            paid = await rtp.pay(self._session, self.config.hub_url, client, bank, data,
                                 self.config.callback_timeout)  # fmt: skip
        except Exception as exc:  # a simulated bank that fails to pay: the leg expires
            log.warning("bank %s: paying request %s failed: %s", bank.code, data.get("id"), exc)
            return
        if paid is not None:
            self.stats.requests_paid += 1

    # --- late and duplicate deliveries -----------------------------------------------------

    async def _deliver(self, bank: Bank, report: Pacs002, copies: int, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        if copies > 1:
            self.stats.duplicated += 1
        for _ in range(copies):
            await self._post(bank, report)

    async def _post(self, bank: Bank, report: Pacs002) -> None:
        url = self.config.callback_url
        if url is None or self._session is None:
            self.stats.callbacks_failed += 1
            log.warning("bank %s: no callback_url for pacs.002 %s", bank.code, report.msg_id)
            return
        body = pacs002.build(report)
        timeout = aiohttp.ClientTimeout(total=self.config.callback_timeout)
        try:
            headers = sign(bank.key, bank.code, report.msg_id, body)
            async with self._session.post(url, data=body, headers=headers, timeout=timeout) as r:
                await r.read()
                ok = r.status < 300
        except (aiohttp.ClientError, TimeoutError):
            ok = False
        if ok:
            self.stats.callbacks_sent += 1
        else:
            self.stats.callbacks_failed += 1

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)  # keep a reference: the loop only holds weak ones
        task.add_done_callback(self._tasks.discard)

    # --- reads: status and statements ------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        bank = self._bank(request, "read")
        self._authenticate(request, bank, b"")
        self.stats.status_queries += 1
        known = bank.decision(request.match_info["ref"])
        await self._lag()
        if known is None:
            return _error(404, "no transfer with this UETR or end-to-end id was received")
        now = datetime.now(EAT).replace(microsecond=0)
        report = Pacs002(
            _msg_id(bank), now, known.original_msg_id, pacs008.MESSAGE, (known.status,)
        )
        return self._signed(bank, report)

    async def statement(self, request: web.Request) -> web.Response:
        bank = self._bank(request, "read")
        self._authenticate(request, bank, b"")
        account = bank.accounts.get(request.match_info["account"])
        if account is None:
            return _error(404, "no such account at this bank")
        self.stats.statements += 1
        now = datetime.now(EAT).replace(microsecond=0)
        msg_id = f"{bank.code}STMT{self.stats.statements:08d}"
        report = camt.Report(
            msg_id, account.number, tuple(_entry(b) for b in account.bookings if not b.held),
            _balances(account, now), "KES", now, self.stats.statements,
        )  # fmt: skip
        body = camt.build_statement(camt.Statement(msg_id, now, (report,)))
        await self._lag()
        return web.Response(body=body, headers=sign(bank.key, bank.code, msg_id, body))

    # --- gate ------------------------------------------------------------------------------

    def _bank(self, request: web.Request, api: str) -> Bank:
        burst = self.config.error_burst
        if burst.hits(api):
            burst.count -= 1
            self.stats.bursts += 1
            raise Answer(_error(burst.status, "the bank cannot take requests now"))
        bank = self.banks.get(request.match_info["code"])
        if bank is None:
            raise Answer(_error(404, "no bank with this code here"))
        return bank

    def _authenticate(self, request: web.Request, bank: Bank, body: bytes) -> str | None:
        """The signed MsgId, or None when signatures are not checked; 401 when they fail."""
        if not self.config.check_signatures:
            return None
        try:
            return verify(bank.key, HUB, request.headers, body)
        except BadSignature as exc:
            self.stats.bad_signatures += 1
            raise Answer(_error(401, str(exc))) from None

    def _signed(self, bank: Bank, report: Pacs002, status: int = 200) -> web.Response:
        body = pacs002.build(report)
        headers = sign(bank.key, bank.code, report.msg_id, body)
        return web.Response(body=body, status=status, headers=headers)

    # --- control ---------------------------------------------------------------------------

    def public_config(self) -> dict[str, Any]:
        return {"banks": {code: b.name for code, b in self.banks.items()}}

    def stats_json(self) -> dict[str, Any]:
        return asdict(self.stats)

    async def forget(self) -> None:
        await self._cancel_tasks()
        self.banks = book.default_banks(self.config.keys)
        self.stats = Stats()

    async def start(self, _app: web.Application) -> None:
        self._session = aiohttp.ClientSession()

    async def stop(self, _app: web.Application) -> None:
        await self._cancel_tasks()
        if self._session is not None:
            await self._session.close()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def list_banks(self, _request: web.Request) -> web.Response:
        return json_response([b.to_json() for b in self.banks.values()])

    async def show_bank(self, request: web.Request) -> web.Response:
        bank = self.banks.get(request.match_info["code"])
        if bank is None:
            return _error(404, "no bank with this code here")
        return json_response(bank.to_json())


def _msg_id(bank: Bank) -> str:
    return f"{bank.code}ST{secrets.token_hex(8).upper()}"


def _pending(status: TxStatus) -> TxStatus:
    return TxStatus(
        "PDNG", status.original_end_to_end_id, status.original_uetr,
        status.original_instruction_id, status.original_transaction_id,
    )  # fmt: skip


def _entry(b: book.Booking) -> camt.Entry:
    at = b.at.astimezone(EAT)
    return camt.Entry(
        amount=Decimal(abs(b.cents)) / 100, currency="KES", credit=b.cents > 0,
        booked_at=at, value_on=at.date(), bank_reference=b.bank_reference,
        end_to_end_id=b.end_to_end_id, uetr=b.uetr, counterparty=b.counterparty[:140],
    )  # fmt: skip


def _balances(account: book.Account, now: datetime) -> tuple[camt.Balance, ...]:
    return tuple(
        camt.Balance(code, Decimal(cents) / 100, "KES", now.date())
        for code, cents in (("OPBD", account.opening_cents), ("CLBD", account.balance_cents))
    )


SIMULATOR = web.AppKey("banks_simulator", Simulator)

bank_errors = wire_errors(
    SIMULATOR,
    outage=lambda _sim: _error(503, "the bank is unavailable"),
    not_found=lambda: _error(404, "no such route"),
    not_allowed=lambda: _error(405, "method not allowed"),
)


def create_app(config: SimConfig | None = None) -> web.Application:
    sim = Simulator(config or SimConfig())
    app = sim_app(sim, SIMULATOR, [bank_errors, early_answers])
    r = app.router
    r.add_post("/banks/{code}/pacs.008", sim.credit_transfer)
    r.add_post("/banks/{code}/notices", sim.notice)
    r.add_get("/banks/{code}/status/{ref}", sim.status)
    r.add_get("/banks/{code}/accounts/{account}/camt.053", sim.statement)
    r.add_get("/__sim/banks", sim.list_banks)
    r.add_get("/__sim/banks/{code}", sim.show_bank)
    return app
