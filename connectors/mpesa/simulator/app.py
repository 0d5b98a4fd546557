"""A faithful Daraja (M-Pesa) simulator on aiohttp: a third-party client works unchanged.

Daraja routes (doc §2, §4-§12)::

    GET  /oauth/v1/generate?grant_type=client_credentials
    POST /mpesa/stkpush/v1/processrequest
    POST /mpesa/stkpushquery/v1/query
    POST /mpesa/b2c/v3/paymentrequest            (initiator APIs: simulator.initiator)
    POST /mpesa/transactionstatus/v1/query
    POST /mpesa/reversal/v1/request
    POST /mpesa/accountbalance/v1/query
    POST /mpesa/c2b/v1/registerurl   /mpesa/c2b/v2/registerurl   (C2B: simulator.c2b)
    POST /mpesa/c2b/v1/simulate      /mpesa/c2b/v2/simulate
    POST /pulltransactions/v1/register   /pulltransactions/v1/query   (simulator.records)
    POST /v1/billmanager-invoice/...     (Bill Manager: simulator.billmanager)
    POST /standingorder/v1/createStandingOrderExternal   (Ratiba: simulator.ratiba)
    POST /mpesa/customername/v1/query   (name query, unverified: simulator.namecheck)

Control routes (not Daraja; for tests, bench and demo)::

    GET /__sim/config   PATCH /__sim/config   GET /__sim/stk[?phone=&limit=]
    GET /__sim/stk/{checkout_request_id}   GET /__sim/stats   POST /__sim/reset
    POST /__sim/expire_tokens   GET /__sim/certificate   PUT /__sim/customers/{phone}
    GET /__sim/b2c[?phone=&state=&limit=]   GET /__sim/b2c/{originator_conversation_id}
    GET /__sim/initiator[?kind=]   GET /__sim/c2b[?shortcode=]   GET /__sim/c2b/registrations
    POST /__sim/c2b/pay   GET /__sim/org-statement   GET|POST|DELETE /__sim/breaks
    GET /__sim/billmanager   POST /__sim/billmanager/pay   GET /__sim/ratiba
    GET /__sim/clock   POST /__sim/clock/advance   POST /__sim/ratiba/{request_ref}/stop

Callbacks are scheduled with ``loop.call_later`` and posted through one shared ClientSession, so
a push costs a dict insert and a timer: enough for about a thousand pushes a second on one core.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import time
from datetime import datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from connectors.mpesa import transformers
from connectors.mpesa.simulator import sandbox, wire
from connectors.mpesa.simulator.answers import (
    Refusal,
    TokenStyle,
    error_response,
    invalid_token,
    json_response,
    refusal_response,
)
from connectors.mpesa.simulator.b2b import B2bSim
from connectors.mpesa.simulator.billmanager import BillManagerSim
from connectors.mpesa.simulator.c2b import C2bSim
from connectors.mpesa.simulator.config import SimConfig
from connectors.mpesa.simulator.express import ExpressSim
from connectors.mpesa.simulator.initiator import InitiatorSim
from connectors.mpesa.simulator.namecheck import NameCheckSim
from connectors.mpesa.simulator.qr import QrSim
from connectors.mpesa.simulator.ratiba import Calendar, RatibaSim
from connectors.mpesa.simulator.records import RecordsSim
from connectors.mpesa.simulator.state import SimState, StkRecord
from connectors.mpesa.simulator.triggers import outcome_for
from connectors.simkit.admin import CallbackSim, record_response, sim_app, tail, wire_errors

# What a burst answers with, by HTTP status (doc §3).
_BURSTS = {
    500: ("500.003.1001", "Internal Server Error"),
    503: ("500.003.02", "System is busy. Please try again in few minutes."),
    429: ("500.003.02", "Error Occurred: Spike Arrest Violation"),
}


_json = json_response
_error = error_response
_refusal = refusal_response
_OUTAGE = (503, "500.003.02", "System is busy. Please try again in few minutes.")


class Simulator(CallbackSim[SimConfig, SimState]):
    def __init__(self, config: SimConfig) -> None:
        super().__init__(config, SimState())
        self.initiator = InitiatorSim(self)
        self.b2b = B2bSim(self)
        self.qr = QrSim(self)
        self.express = ExpressSim(self)
        self.c2b = C2bSim(self)
        self.records = RecordsSim(self)
        self.calendar = Calendar()
        self.bills = BillManagerSim(self)
        self.ratiba = RatibaSim(self)
        self.namecheck = NameCheckSim(self)

    async def injected(self, kind: str) -> None:
        if kind == "stranger":
            await self.records.play_strangers()

    async def forget(self) -> None:
        await super().forget()
        self.records.registered.clear()
        self.bills.forget()
        self.ratiba.forget()
        self.calendar = Calendar()

    async def _cancel_pending(self) -> None:
        self.initiator.cancel_timers()  # the initiator APIs' Result timers, then the rest
        await super()._cancel_pending()

    # --- OAuth (doc §2) ------------------------------------------------------------------------

    async def oauth(self, request: web.Request) -> web.Response:
        await self._lag()
        auth = request.headers.get("Authorization", "")
        # Error texts below are the ones integrators report; not in the docs (unverified).
        if not auth.startswith("Basic "):
            return _error(400, "400.008.01", "Invalid Authentication passed")
        if request.query.get("grant_type") != "client_credentials":
            return _error(400, "400.008.02", "Invalid grant type passed")
        if not self._basic_ok(auth.removeprefix("Basic ").strip()):
            return web.Response(status=400)  # empty body, as SDK authors observe (doc §2)
        token = self.state.issue_token(self._now(), self.config.token_ttl)
        # expires_in as a string, like real answers (doc §2).
        return _json({"access_token": token, "expires_in": str(int(self.config.token_ttl))})

    def _basic_ok(self, encoded: str) -> bool:
        try:
            pair = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self.config.consumer_key}:{self.config.consumer_secret}"
        return secrets.compare_digest(pair.encode(), expected.encode())

    # --- STK push (doc §4) ---------------------------------------------------------------------

    async def stk_push(self, request: web.Request) -> web.Response:
        self.state.stats.push_requests += 1
        try:
            self._take_burst()
            push = wire.parse_push(await self._authorised_body(request))
            self._check_credentials(push.credentials)
            self._check_lock(push.phone)
        except (Refusal, wire.InvalidField) as exc:
            self.state.stats.push_rejected += 1
            await self._lag()
            return _refusal(exc)
        accepted = self._accept(push)
        # Latency delays the answer, not the work: the prompt is already on the customer's phone
        # when a slow answer times out, which is what makes a client timeout ambiguous.
        await self._lag()
        return _json(wire.push_accepted(accepted))

    def _take_burst(self, api: str = "stk") -> None:
        """A burst answers before anything is processed: no prompt, no payout, no callback."""
        burst = self.config.error_burst
        if burst.count > 0 and burst.api in ("any", api):
            burst.count -= 1
            raise Refusal(burst.status, *_BURSTS[burst.status])

    def _check_lock(self, phone: str) -> None:
        if self.config.lock_subscriber and self.state.lock_holder(phone, self._now()):
            raise Refusal(
                500,
                "500.001.1001",
                "Unable to lock subscriber, a transaction is already in process for the "
                "current subscriber",
            )

    def _accept(self, push: wire.PushRequest) -> StkRecord:
        wall, delay = time.time(), self.config.callback_delay
        outcome = outcome_for(push.phone, push.amount)
        record = StkRecord(
            checkout_request_id=self.state.checkout_request_id(push.phone, wall),
            merchant_request_id=self.state.merchant_request_id(),
            phone=push.phone,
            amount=push.amount,
            account_reference=push.account_reference,
            callback_url=push.callback_url,
            result_code=outcome.result_code,
            result_desc=outcome.result_desc,
            receipt=self.state.receipt(wall + delay) if outcome.paid else None,
            transaction_date=_when(wall + delay) if outcome.paid else None,
            sends_callback=outcome.sends_callback,
            copies=1 + self.config.duplicate_callbacks,
            created_at=wall,
            due_at=self._now() + delay,
        )
        self.state.add(record, self.config.max_records)
        self.state.stats.push_accepted += 1
        loop = asyncio.get_running_loop()
        cid = record.checkout_request_id
        self._timers[cid] = loop.call_later(delay, self._customer_acts, cid)
        return record

    # --- the simulated customer and the callback ------------------------------------------------

    def _customer_acts(self, cid: str) -> None:
        self._timers.pop(cid, None)
        record = self.state.records.get(cid)
        if record is None:  # forgotten by a reset or evicted by max_records
            return
        self.state.release(record)
        if record.result_code == 0:  # the paybill's utility account receives the payment
            self.state.ledger.credit(self.config.shortcode, record.amount * 100)
        if record.sends_callback:
            self._spawn(self._deliver(record))

    async def _deliver(self, record: StkRecord) -> None:
        body = orjson.dumps(wire.callback(record))
        for _ in range(record.copies):  # no retries: Daraja's retry behaviour is unverified
            status = await self._post_callback(record, body)
            record.callback_statuses.append(status)
            self.state.stats.callbacks_sent += 1
            if status is None or not 200 <= status < 300:
                self.state.stats.callbacks_failed += 1

    async def _post_callback(self, record: StkRecord, body: bytes) -> int | None:
        status, _, error = await self.post_json(record.callback_url, body)
        if error is not None:
            record.callback_error = error
        return status

    async def post_json(
        self, url: str, body: bytes, deadline: float | None = None
    ) -> tuple[int | None, bytes, str | None]:
        """POST a callback: (status or None, answer body, error text or None). Never retries.

        ``deadline`` (seconds) defaults to ``callback_timeout``.
        """
        assert self._session is not None, "the app has not started"
        total = aiohttp.ClientTimeout(total=deadline or self.config.callback_timeout)
        headers = {"Content-Type": "application/json"}
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=total) as resp:
                return resp.status, await resp.read(), None
        except (TimeoutError, aiohttp.ClientError) as exc:
            return None, b"", f"{type(exc).__name__}: {exc}"

    # --- STK push query (doc §5) ---------------------------------------------------------------

    async def stk_query(self, request: web.Request) -> web.Response:
        await self._lag()
        self.state.stats.queries += 1
        try:
            query = wire.parse_query(await self._authorised_body(request))
            self._check_credentials(query.credentials)
            record = self._queried(query.checkout_request_id)
        except (Refusal, wire.InvalidField) as exc:
            return _refusal(exc)
        return _json(wire.query_result(record))

    def _queried(self, cid: str) -> StkRecord:
        record = self.state.records.get(cid)
        if record is None:
            raise Refusal(400, "400.002.02", "Bad Request - Invalid CheckoutRequestID")
        if record.due_at > self._now():
            # The doc's sample carries the CheckoutRequestID as requestId here (doc §5).
            raise Refusal(500, "500.001.1001", "The transaction is being processed", cid)
        return record

    # --- checks shared by push and query --------------------------------------------------------

    async def _authorised_body(
        self,
        request: web.Request,
        first_field: str = "BusinessShortCode",
        style: TokenStyle = "stk",
    ) -> dict[str, Any]:
        if request.content_type != "application/json":
            # doc §1: a wrong content type gives "Invalid <Field>"; which field is unverified,
            # we name the first one of the body.
            raise wire.InvalidField(first_field)
        self._check_bearer(request.headers.get("Authorization", ""), style)
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise Refusal(400, "400.002.05", "Invalid Request Payload")
        return body

    def _check_bearer(self, auth: str, style: TokenStyle = "stk") -> None:
        if not auth.startswith("Bearer "):
            raise Refusal(404, "404.001.04", "Invalid Authentication Header")
        token = auth.removeprefix("Bearer ").strip()
        if not self.state.token_valid(token, self._now()):
            raise invalid_token(style, token)  # the envelope depends on the API (doc §2)

    def _check_credentials(self, creds: wire.Credentials) -> None:
        if creds.shortcode != self.config.shortcode:
            raise Refusal(500, "500.001.1001", "Merchant does not exist")
        expected = transformers.password(creds.shortcode, self.config.passkey, creds.timestamp)
        if not secrets.compare_digest(creds.password.encode(), expected.encode()):
            raise Refusal(500, "500.001.1001", "Wrong credentials")

    # --- control endpoints (not Daraja) --------------------------------------------------------

    def public_config(self) -> dict[str, Any]:
        return {
            "shortcode": self.config.shortcode,
            "consumer_key": self.config.consumer_key,
            "b2c_shortcode": self.config.b2c_shortcode,
            "initiator_name": self.config.initiator_name,
        }

    def live_stats(self) -> dict[str, Any]:
        return {
            "pending_customers": len(self._timers),
            "pending_results": self.initiator.pending(),
            "callbacks_in_flight": len(self._tasks),
            "b2c_float_cents": self.config.b2c_float_cents,
        }

    async def certificate(self, _request: web.Request) -> web.Response:
        """The sandbox certificate to build SecurityCredentials with (doc §7)."""
        return web.Response(body=sandbox.certificate_pem(), content_type="application/x-pem-file")

    async def list_stk(self, request: web.Request) -> web.Response:
        phone = request.query.get("phone")
        records = [r for r in self.state.records.values() if phone is None or r.phone == phone]
        return _json([r.to_json() for r in tail(records, request.query.get("limit", ""))])

    async def get_stk(self, request: web.Request) -> web.Response:
        record = self.state.records.get(request.match_info["checkout_request_id"])
        return record_response(record, "unknown CheckoutRequestID")


def _when(wall: float) -> int:
    """TransactionDate: YYYYMMDDHHmmss in EAT, as a number (doc §4)."""
    return int(transformers.timestamp(datetime.fromtimestamp(wall, transformers.EAT)))


SIMULATOR = web.AppKey("simulator", Simulator)

# Unknown paths and methods answer with Daraja's envelopes, not aiohttp's text (doc §3); during
# an ``outage`` every Daraja path (not ``/__sim``) answers 503 before anything else.
daraja_not_found = wire_errors(
    SIMULATOR,
    outage=lambda _sim: _error(*_OUTAGE),
    not_found=lambda: _error(404, "404.001.01", "Resource not found"),
    not_allowed=lambda: _error(405, "405.001", "Method Not Allowed"),
)


def create_app(config: SimConfig | None = None) -> web.Application:
    sim = Simulator(config or SimConfig())
    app = sim_app(sim, SIMULATOR, [daraja_not_found])
    app.router.add_get("/oauth/v1/generate", sim.oauth)
    app.router.add_post("/mpesa/stkpush/v1/processrequest", sim.stk_push)
    app.router.add_post("/mpesa/stkpushquery/v1/query", sim.stk_query)
    app.router.add_get("/__sim/stk", sim.list_stk)
    app.router.add_get("/__sim/stk/{checkout_request_id}", sim.get_stk)
    app.router.add_get("/__sim/certificate", sim.certificate)
    sim.initiator.add_routes(app.router)
    sim.b2b.add_routes(app.router)
    sim.qr.add_routes(app.router)
    sim.express.add_routes(app.router)
    sim.c2b.add_routes(app.router)
    sim.records.add_routes(app.router)
    sim.bills.add_routes(app.router)
    sim.ratiba.add_routes(app.router)
    sim.namecheck.add_routes(app.router)
    return app
