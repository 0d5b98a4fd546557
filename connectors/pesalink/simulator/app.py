"""A local "PesaLink hub + banks" on aiohttp, behind the bank-style API of ``connectors.pesalink``.

Bank routes (the wire is described in ``connectors.pesalink.transformers``)::

    POST /authentication/api/v3/authenticate/merchant
    POST /v3-apis/transaction-api/v3.0/pesalink/accountLookup
    POST /v3-apis/transaction-api/v3.0/pesalink/inquire
    POST /v3-apis/transaction-api/v3.0/remittance/pesalinkacc
    POST /v3-apis/transaction-api/v3.0/remittance/pesalinkMobile
    GET  /v3-apis/transaction-api/v3.0/transactions/details/{reference}

Control routes (not the bank's; for tests, bench and demo)::

    GET /__sim/config   PATCH /__sim/config   GET /__sim/stats   POST /__sim/reset
    GET /__sim/transfers[?reference=&state=&account=&limit=]   GET /__sim/transfers/{reference}
    POST /__sim/expire_tokens   GET /__sim/directory

A transfer is checked at the gateway (token, fields, signature, source account, bank code,
currency, limits, unique reference), then decided at once from :mod:`.triggers` and booked in the
ledger before any answer is written; its callback is a timer and one POST through a shared
ClientSession.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from connectors.pesalink import connector as paths
from connectors.pesalink import signature
from connectors.pesalink.banks import BANKS, MAX_PER_TRANSACTION_CENTS, check_limits
from connectors.pesalink.simulator import directory, triggers, wire
from connectors.pesalink.simulator.config import SimConfig
from connectors.pesalink.simulator.state import SimState, TransferRecord
from connectors.pesalink.simulator.statements import Statements
from connectors.pesalink.simulator.wire import InvalidField, Refusal, json_response
from connectors.pesalink.transformers import (
    CODE_BAD_CREDENTIALS,
    CODE_CURRENCY,
    CODE_DAILY_LIMIT,
    CODE_DUPLICATE,
    CODE_INTERNAL,
    CODE_INVALID_FIELD,
    CODE_INVALID_SIGNATURE,
    CODE_INVALID_TOKEN,
    CODE_LIMIT,
    CODE_NOT_FOUND,
    CODE_PHONE_NOT_LINKED,
    CODE_SOURCE_NOT_ALLOWED,
    CODE_THROTTLED,
    CODE_UNAVAILABLE,
    CODE_UNKNOWN_BANK,
    CODE_UPSTREAM_TIMEOUT,
    CURRENCY,
    TransferMode,
)
from connectors.simkit.admin import (
    CallbackSim,
    drop,
    record_response,
    records_response,
    sim_app,
    tail,
    wire_errors,
)

_BURSTS = {
    500: (CODE_INTERNAL, "Internal server error"),
    503: (CODE_UNAVAILABLE, "Service temporarily unavailable, try again later"),
    429: (CODE_THROTTLED, "Too many requests"),
}
Action = Callable[[TransferRecord], None]
_OUTAGE = Refusal(503, CODE_UNAVAILABLE, "Service temporarily unavailable, try again later")


class Simulator(CallbackSim[SimConfig, SimState]):
    def __init__(self, config: SimConfig) -> None:
        super().__init__(config, SimState())
        self._public_key = signature.load_public_key(config.public_key_pem)
        self.statements = Statements(self)

    async def injected(self, kind: str) -> None:
        if kind == "stranger":
            self.statements.play_strangers()

    async def forget(self) -> None:
        await super().forget()
        self.statements.credits.clear()
        self.statements.settled.clear()

    # --- token ---------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        await self._lag()
        try:
            body = await _json_body(request)
        except Refusal as exc:
            return exc.response()
        given = (
            request.headers.get("Api-Key", ""),
            str(body.get("merchantCode", "")),
            str(body.get("consumerSecret", "")),
        )
        expected = (self.config.api_key, self.config.merchant_code, self.config.consumer_secret)
        if not all(
            secrets.compare_digest(g.encode(), e.encode())
            for g, e in zip(given, expected, strict=True)
        ):
            self.state.stats.token_refusals += 1
            message = "Invalid API key or merchant credentials"
            return Refusal(401, CODE_BAD_CREDENTIALS, message).response()
        ttl, wall = self.config.token_ttl, time.time()
        token = self.state.issue_token(self._now(), ttl)
        refresh = secrets.token_urlsafe(32)  # issued for the look of it; never accepted here
        return json_response(wire.token_body(token, refresh, wall, wall + ttl))

    # --- lookups -------------------------------------------------------------------------------

    async def account_lookup(self, request: web.Request) -> web.Response:
        self.state.stats.account_lookups += 1
        try:
            self._take_burst("lookup")
            lookup = wire.parse_account_lookup(await self._authorised_body(request))
            self._check_signature(request, lookup.signed)
            self._check_bank(lookup.bank_code)
        except (Refusal, InvalidField) as exc:
            return await self._refused(exc, lookup=True)
        await self._lag()
        reason = triggers.lookup_reason(lookup.account_number)
        if reason is not None:
            return json_response(wire.account_invalid(reason))
        holder = directory.holder_name(lookup.bank_code, lookup.account_number)
        return json_response(wire.account_found(lookup.bank_code, lookup.account_number, holder))

    async def phone_lookup(self, request: web.Request) -> web.Response:
        self.state.stats.phone_lookups += 1
        try:
            self._take_burst("lookup")
            lookup = wire.parse_phone_lookup(await self._authorised_body(request))
            self._check_signature(request, lookup.signed)
        except (Refusal, InvalidField) as exc:
            return await self._refused(exc, lookup=True)
        await self._lag()
        links = directory.links_of(lookup.phone)
        if not links:
            return json_response(wire.phone_not_linked())
        names = [directory.holder_name(link.bank_code, link.account_number) for link in links]
        return json_response(wire.directory_entry(lookup.phone, links, names))

    # --- transfers -----------------------------------------------------------------------------

    async def transfer(self, request: web.Request, mode: TransferMode) -> web.Response:
        self.state.stats.transfer_requests += 1
        try:
            self._take_burst("transfer")
            order = wire.parse_transfer(await self._authorised_body(request), mode)
            self._check_signature(request, order.signed)
            self._check_order(order)
            bank, account = self._resolve(order)
        except (Refusal, InvalidField) as exc:
            return await self._refused(exc)
        # From the duplicate check to here nothing awaited: one reference, one ledger entry.
        record = self._accept(order, bank, account)
        # Latency delays the answer, not the work: the money has moved when a slow answer times
        # out, which is what makes a client timeout ambiguous.
        await self._lag()
        if record.answer == "upstream_timeout":
            message = "Gateway timeout: PesaLink did not answer in time"
            return Refusal(504, CODE_UPSTREAM_TIMEOUT, message).response()
        if self.config.drop_sync_answer > 0:
            self.config.drop_sync_answer -= 1
            record.answer = "dropped"
            self.state.stats.sync_answers_dropped += 1
            return drop(request)
        return json_response(wire.transfer_answer(record))

    def _check_order(self, order: wire.TransferIn) -> None:
        config = self.config
        if order.source_account != config.source_account:
            raise Refusal(403, CODE_SOURCE_NOT_ALLOWED, "Source account not allowed for merchant")
        if order.bank_code is not None:
            self._check_bank(order.bank_code)
        if order.currency != CURRENCY:  # domestic only (doc §5)
            raise Refusal(400, CODE_CURRENCY, f"Currency {order.currency} is not supported")
        refused = check_limits(order.amount_cents, minimum_cents=config.minimum_cents)
        if refused is not None:
            reason = (
                {"reasonCode": "AM13"} if order.amount_cents > MAX_PER_TRANSACTION_CENTS else None
            )
            raise Refusal(400, CODE_LIMIT, refused, reason)
        if config.daily_limit_cents:
            sent = self.state.sent_today(order.source_account, time.time())
            refused = check_limits(
                order.amount_cents,
                minimum_cents=config.minimum_cents,
                sent_today_cents=sent,
                daily_limit_cents=config.daily_limit_cents,
            )
            if refused is not None:
                raise Refusal(400, CODE_DAILY_LIMIT, refused)
        if order.reference in self.state.transfers:
            self.state.stats.duplicates_refused += 1
            raise Refusal(409, CODE_DUPLICATE, "Duplicate transaction reference")

    def _resolve(self, order: wire.TransferIn) -> tuple[str, str]:
        """(bank code, account number) the money goes to; a phone through the directory."""
        if order.phone is None:
            return order.bank_code or "", order.account_number or ""
        links = directory.links_of(order.phone)
        if order.bank_code is not None:
            links = tuple(link for link in links if link.bank_code == order.bank_code)
        if not links:
            raise Refusal(400, CODE_PHONE_NOT_LINKED, "Mobile number is not registered on PesaLink")
        chosen = next((link for link in links if link.is_default), links[0])
        return chosen.bank_code, chosen.account_number

    def _accept(self, order: wire.TransferIn, bank: str, account: str) -> TransferRecord:
        config, stats, wall = self.config, self.state.stats, time.time()
        holder = directory.holder_name(bank, account)
        plan = triggers.plan_transfer(
            account, order.given_name, holder, order.amount_cents, config.source_balance_cents
        )
        debited = plan.final_status == "SUCCESS" or plan.pending
        if debited:
            config.source_balance_cents -= order.amount_cents
            self.state.count_sent(order.source_account, wall, order.amount_cents)
        record = TransferRecord(
            reference=order.reference,
            transaction_id=self.state.transaction_id(),
            mode=order.mode,
            amount_cents=order.amount_cents,
            source_account=order.source_account,
            bank_code=bank,
            account_number=account,
            phone=order.phone,
            given_name=order.given_name,
            holder_name=holder,
            description=order.description,
            callback_url=order.callback_url,
            status="PENDING" if plan.pending else plan.final_status,
            reason_code=None if plan.pending else plan.reason_code,
            final_status=plan.final_status,
            final_reason=plan.reason_code,
            debited=debited,
            balance_after_cents=config.source_balance_cents,
            created_at=wall,
            answer="upstream_timeout" if plan.upstream_timeout else "answered",
        )
        self.state.add(record, config.max_records)
        stats.transfers_accepted += 1
        if plan.upstream_timeout:
            stats.upstream_timeouts += 1
        if plan.pending:
            self._later(config.pending_for, "settle:" + record.reference, self._settle, record)
        else:
            self._finish(record, wall)
        return record

    def _settle(self, record: TransferRecord) -> None:
        """A pending transfer reaches its final state; a failure gives the money back."""
        wall = time.time()
        record.status, record.reason_code = record.final_status, record.final_reason
        if record.status != "SUCCESS" and record.debited:
            record.debited = False
            self.config.source_balance_cents += record.amount_cents
            self.state.count_sent(record.source_account, record.created_at, -record.amount_cents)
        self._finish(record, wall)

    def _finish(self, record: TransferRecord, wall: float) -> None:
        record.completed_at = wall
        stats = self.state.stats
        if record.paid:
            stats.transfers_paid += 1
        else:
            stats.transfers_failed += 1
        if record.callback_url is None:
            return
        if self.config.lose_callbacks > 0:
            self.config.lose_callbacks -= 1
            record.callback_lost = True
            stats.callbacks_lost += 1
            return
        key = "callback:" + record.reference
        self._later(self.config.callback_delay, key, self._send_callback, record)

    def _later(self, delay: float, key: str, action: Action, record: TransferRecord) -> None:
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.pop(key, None)
            if self.state.transfers.get(record.reference) is record:  # not reset or evicted
                action(record)

        self._timers[key] = loop.call_later(delay, fire)

    def _send_callback(self, record: TransferRecord) -> None:
        copies = 1 + self.config.duplicate_callbacks
        self._spawn(self._deliver(record, orjson.dumps(wire.callback(record)), copies))

    async def _deliver(self, record: TransferRecord, body: bytes, copies: int) -> None:
        assert self._session is not None, "the app has not started"
        assert record.callback_url is not None
        timeout = aiohttp.ClientTimeout(total=self.config.callback_timeout)
        headers = {"Content-Type": "application/json"}
        stats = self.state.stats
        for _ in range(copies):  # no retries: the bank's retry policy is not published
            status: int | None = None
            try:
                async with self._session.post(
                    record.callback_url, data=body, headers=headers, timeout=timeout
                ) as resp:
                    status = resp.status
                    await resp.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                record.callback_error = f"{type(exc).__name__}: {exc}"
            record.callback_statuses.append(status)
            stats.callbacks_sent += 1
            if status is None or not 200 <= status < 300:
                stats.callbacks_failed += 1

    # --- status enquiry ------------------------------------------------------------------------

    async def status(self, request: web.Request) -> web.Response:
        self.state.stats.enquiries += 1
        reference = request.match_info["reference"]
        try:
            self._take_burst("status")
            self._check_bearer(request)
            self._check_signature(request, reference)
        except Refusal as exc:
            await self._lag()
            return exc.response()
        await self._lag()
        record = self.state.transfers.get(reference)
        if record is None:
            return Refusal(404, CODE_NOT_FOUND, "Transaction not found").response()
        return json_response(wire.envelope(wire.transfer_data(record)))

    # --- checks shared by the handlers ---------------------------------------------------------

    async def _authorised_body(self, request: web.Request) -> dict[str, Any]:
        self._check_bearer(request)
        return await _json_body(request)

    def _check_bearer(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if not self.state.token_valid(token, self._now()):
            raise Refusal(401, CODE_INVALID_TOKEN, "Invalid or expired access token")

    def _check_signature(self, request: web.Request, signed: str) -> None:
        if not self.config.check_signatures:
            return
        given = request.headers.get("signature", "")
        if not given or not signature.verify(self._public_key, signed, given):
            raise Refusal(400, CODE_INVALID_SIGNATURE, "Invalid signature")

    @staticmethod
    def _check_bank(code: str) -> None:
        if code not in BANKS:
            data = {"reasonCode": "RC01"}
            raise Refusal(400, CODE_UNKNOWN_BANK, f"Bank code {code} is not on PesaLink", data)

    def _take_burst(self, api: str) -> None:
        """A burst answers before anything is processed: no lookup, no transfer, no callback."""
        burst = self.config.error_burst
        if burst.hits(api):
            burst.count -= 1
            raise Refusal(burst.status, *_BURSTS[burst.status])

    async def _refused(self, exc: Refusal | InvalidField, *, lookup: bool = False) -> web.Response:
        stats = self.state.stats
        if lookup:
            stats.lookup_refusals += 1
        else:
            stats.transfers_refused += 1
        await self._lag()
        return wire.refusal_response(exc)

    # --- control endpoints (not the bank's) ----------------------------------------------------

    def public_config(self) -> dict[str, Any]:
        return {
            "merchant_code": self.config.merchant_code,
            "source_account": self.config.source_account,
        }

    def live_stats(self) -> dict[str, Any]:
        return {
            "pending_timers": len(self._timers),
            "callbacks_in_flight": len(self._tasks),
            "source_balance_cents": self.config.source_balance_cents,
        }

    async def list_transfers(self, request: web.Request) -> web.Response:
        q = request.query
        records = [
            r
            for r in self.state.transfers.values()
            if q.get("reference", r.reference) == r.reference
            and q.get("state", r.state) == r.state
            and q.get("account", r.account_number) == r.account_number
        ]
        return records_response(tail(records, q.get("limit", "")))

    async def get_transfer(self, request: web.Request) -> web.Response:
        record = self.state.transfers.get(request.match_info["reference"])
        return record_response(record, "unknown reference")

    async def get_directory(self, _request: web.Request) -> web.Response:
        accounts = [
            {"bank_code": b, "account_number": a, "holder_name": n}
            for (b, a), n in directory.ACCOUNTS.items()
        ]
        phones = {
            phone: [asdict(link) for link in links] for phone, links in directory.PHONES.items()
        }
        return json_response({"accounts": accounts, "phones": phones})


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise Refusal(400, CODE_INVALID_FIELD, "Invalid request: the body must be a JSON object")
    return body


SIMULATOR = web.AppKey("pesalink_simulator", Simulator)

# Unknown paths and methods answer with the bank's envelope, not aiohttp's text; during an
# ``outage`` every bank path (not ``/__sim``) answers 503 before anything else.
bank_errors = wire_errors(
    SIMULATOR,
    outage=lambda _sim: _OUTAGE.response(),
    not_found=lambda: Refusal(404, 404101, "Resource not found").response(),
    not_allowed=lambda: Refusal(405, 405100, "Method not allowed").response(),  # our codes
)


def create_app(config: SimConfig | None = None) -> web.Application:
    sim = Simulator(config or SimConfig())
    app = sim_app(sim, SIMULATOR, [bank_errors])
    r = app.router
    r.add_post(paths.TOKEN_PATH, sim.token)
    r.add_post(paths.ACCOUNT_LOOKUP_PATH, sim.account_lookup)
    r.add_post(paths.PHONE_LOOKUP_PATH, sim.phone_lookup)
    r.add_post(paths.TO_ACCOUNT_PATH, partial(sim.transfer, mode="account"))
    r.add_post(paths.TO_PHONE_PATH, partial(sim.transfer, mode="phone"))
    r.add_get(paths.STATUS_PATH + "{reference}", sim.status)
    r.add_get("/__sim/transfers", sim.list_transfers)
    r.add_get("/__sim/transfers/{reference}", sim.get_transfer)
    r.add_get("/__sim/directory", sim.get_directory)
    sim.statements.add_routes(r)
    return app
