"""A faithful Airtel Money Open API (Kenya) simulator on aiohttp: a third-party client works
unchanged.

Airtel routes (doc §1-§8)::

    POST /auth/oauth2/token
    POST /merchant/v1/payments/                 USSD push; the callback goes to callback_url
    GET  /standard/v1/payments/{id}             collection enquiry
    POST /standard/v1/payments/refund
    POST /standard/v1/disbursements/            v1, encrypted PIN
    GET  /standard/v1/disbursements/{id}
    GET  /v1/rsa/encryption-keys
    GET  /standard/v1/users/{msisdn}            KYC user enquiry (doc §9; simulator/kyc.py)

POST paths need the trailing slash every SDK sends (doc §1: whether Airtel accepts them without
it is unverified; here they 404). Product calls need a live bearer token (else HTTP 401) and the
``X-Country: KE`` / ``X-Currency: KES`` headers (else ``ROUTER003``/``ROUTER006``/``ROUTER112``).

Control routes (not Airtel; for tests, bench and demo)::

    GET /__sim/config   PATCH /__sim/config   GET /__sim/stats   POST /__sim/reset
    POST /__sim/expire_tokens   GET /__sim/public_key   GET /__sim/ledger
    GET /__sim/collections[?msisdn=&limit=]      GET /__sim/collections/{id}
    GET /__sim/disbursements[?msisdn=&limit=]    GET /__sim/disbursements/{id}
    GET /__sim/refunds   GET /__sim/statement   GET /__sim/settlement?day=YYYY-MM-DD
    PUT /__sim/users/{msisdn}   (the name KYC answers: {"first_name", "last_name"})

Order of checks on a money-moving request: outage (503), error burst, token (401), market
headers, body fields, trigger refusals, duplicate id; then it is processed, and only then may
``drop_sync_answer`` close the connection without an answer.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from functools import partial
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from connectors.airtel.simulator import kyc, sandbox, triggers, wire
from connectors.airtel.simulator.config import SimConfig
from connectors.airtel.simulator.state import Collection, Disbursement, SimState
from connectors.airtel.simulator.statement import settlement, statement
from connectors.airtel.simulator.wire import Refusal, json_response
from connectors.airtel.transformers import COUNTRY, CURRENCY
from connectors.simkit.admin import (
    CallbackSim,
    drop,
    record_response,
    records_response,
    sim_app,
    tail,
    wire_errors,
)

# What a burst answers with, by HTTP status (doc §10 codes; wording the simulator's own).
_BURSTS: dict[int, tuple[str, str | None]] = {
    500: ("Something went wrong", "ESB000001"),
    503: ("Service Unavailable", None),
    429: ("Too Many Requests", None),
}


class Simulator(CallbackSim[SimConfig, SimState]):
    CONNECTOR_LIMIT = 256
    DNS_CACHE_TTL = 10  # aiohttp's default, which this simulator always used

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config, SimState())
        self.names: dict[str, tuple[str, str]] = {}  # msisdn -> KYC's (first, last) override

    # --- OAuth (doc §2) ------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        await self._lag()
        try:
            body = await _json_body(request, oauth=True)
            if body.get("grant_type") != "client_credentials":
                raise Refusal(
                    400,
                    "grant_type must be client_credentials",
                    oauth_error="unsupported_grant_type",
                )
            if not self._credentials_ok(body.get("client_id"), body.get("client_secret")):
                self.state.stats.token_refusals += 1
                raise Refusal(401, "Client authentication failed", oauth_error="invalid_client")
        except Refusal as exc:
            return exc.response()
        issued = self.state.issue_token(self._now(), self.config.token_ttl)
        return json_response(wire.token(issued, self.config.token_ttl))

    def _credentials_ok(self, client_id: Any, secret: Any) -> bool:
        if not isinstance(client_id, str) or not isinstance(secret, str):
            return False
        given = f"{client_id}\n{secret}".encode()
        expected = f"{self.config.client_id}\n{self.config.client_secret}".encode()
        return secrets.compare_digest(given, expected)

    # --- Collection: USSD push (doc §4) --------------------------------------------------------

    async def push(self, request: web.Request) -> web.StreamResponse:
        stats = self.state.stats
        stats.collection_requests += 1
        try:
            self._take_burst("collection")
            push = wire.parse_push(await self._authorised_body(request))
            refusal = triggers.collection_refusal(push.msisdn)
            if refusal is not None:
                raise Refusal(
                    refusal.http_status, refusal.message, response_code=refusal.response_code
                )
            if push.transaction_id in self.state.collections:
                # doc §4: code per integrator notes (unverified for KE); HTTP status our choice.
                raise Refusal(
                    400, "External Transaction ID already exists", result_code="ESB000041"
                )
        except Refusal as exc:
            stats.collections_rejected += 1
            await self._lag()
            return exc.response()
        record = self._accept(push)
        # Latency delays the answer, not the work: the prompt is already on the phone when a
        # slow answer times out, which is what makes a client timeout ambiguous.
        await self._lag()
        if self._take_drop():
            record.answer_dropped = True
            return drop(request)
        return json_response(wire.push_accepted(record.transaction_id))

    def _accept(self, push: wire.PushRequest) -> Collection:
        config, delay = self.config, self.config.callback_delay
        lost = config.lose_callbacks > 0
        if lost:
            config.lose_callbacks -= 1
        record = Collection(
            transaction_id=push.transaction_id,
            msisdn=push.msisdn,
            amount=push.amount,
            reference=push.reference,
            outcome=triggers.collection_outcome(push.msisdn, push.amount),
            created_at=time.time(),
            due_at=self._now() + delay,
            copies=1 + config.duplicate_callbacks,
            callback_lost=lost,
        )
        self.state.collections[record.transaction_id] = record
        self.state.stats.collections_accepted += 1
        loop = asyncio.get_running_loop()
        key = "c:" + record.transaction_id
        self._timers[key] = loop.call_later(delay, self._customer_acts, record.transaction_id)
        return record

    def _customer_acts(self, txn_id: str) -> None:
        self._timers.pop("c:" + txn_id, None)
        record = self.state.collections.get(txn_id)
        if record is None:  # forgotten by a reset
            return
        self.state.settle_collection(record, time.time())
        if not record.outcome.sends_callback:
            return
        if record.callback_lost:
            self.state.stats.callbacks_lost += 1
            return
        self._spawn(self._deliver(record))

    async def _deliver(self, record: Collection) -> None:
        url = self.config.callback_url
        if url is None:
            record.callback_error = "no callback URL configured (set callback_url)"
            return
        key = self.config.callback_key if self.config.callback_auth else None
        payload = wire.callback(record, self.config.merchant_name, key, self.config.hash_form)
        body = orjson.dumps(payload)
        for _ in range(record.copies):  # no retries: Airtel's retry policy is unverified (§6)
            status = await self._post_callback(record, url, body)
            record.callback_statuses.append(status)
            self.state.stats.callbacks_sent += 1
            if status is None or not 200 <= status < 300:
                self.state.stats.callbacks_failed += 1

    async def _post_callback(self, record: Collection, url: str, body: bytes) -> int | None:
        assert self._session is not None, "the app has not started"
        timeout = aiohttp.ClientTimeout(total=self.config.callback_timeout)
        headers = {"Content-Type": "application/json"}
        try:
            async with self._session.post(url, data=body, headers=headers, timeout=timeout) as r:
                await r.read()
                return r.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            record.callback_error = f"{type(exc).__name__}: {exc}"
            return None

    # --- Collection enquiry (doc §5) -----------------------------------------------------------

    async def collection_enquiry(self, request: web.Request) -> web.Response:
        await self._lag()
        self.state.stats.enquiries += 1
        try:
            self._authorised(request)
            record = self.state.collections.get(request.match_info["id"])
            if record is None:
                raise wire.not_found("DP00800001025")
        except Refusal as exc:
            return exc.response()
        return json_response(wire.collection_enquiry(record))

    # --- Refund (doc §7) -----------------------------------------------------------------------

    async def refund(self, request: web.Request) -> web.StreamResponse:
        self.state.stats.refund_requests += 1
        try:
            self._take_burst("refund")
            airtel_id = wire.parse_refund(await self._authorised_body(request))
            record = self._refundable(airtel_id)
        except Refusal as exc:
            await self._lag()
            return exc.response()
        refund = self.state.refund(record, time.time())
        await self._lag()
        if self._take_drop():
            refund.answer_dropped = True
            return drop(request)
        return json_response(wire.refunded(refund))

    def _refundable(self, airtel_id: str) -> Collection:
        txn_id = self.state.by_airtel_id.get(airtel_id)
        record = self.state.collections.get(txn_id) if txn_id is not None else None
        if record is None or not record.paid:
            raise wire.not_found("DP00800001025")
        if record.refund_id is not None:
            # Airtel's answer to a second refund is unverified: "Refused", with a plain text.
            raise Refusal(
                400,
                "Transaction already refunded",
                result_code=wire.FAILED_CODE,
                response_code="DP00800001008",
            )
        return record

    # --- Disbursement v1 (doc §8) --------------------------------------------------------------

    async def disburse(self, request: web.Request) -> web.StreamResponse:
        stats = self.state.stats
        stats.disbursement_requests += 1
        try:
            self._take_burst("disbursement")
            order = wire.parse_disbursement(await self._authorised_body(request))
            if order.transaction_id in self.state.disbursements:
                raise Refusal(
                    400,
                    "Duplicate transaction id",
                    result_code=wire.FAILED_CODE,
                    response_code="DP00900001017",
                )
            self._check_pin(order.pin)
        except Refusal as exc:
            stats.disbursements_rejected += 1
            await self._lag()
            return exc.response()
        record = self._pay(order)
        await self._lag()
        if self._take_drop():
            record.answer_dropped = True
            return drop(request)
        return json_response(wire.disbursement(record))

    def _check_pin(self, encrypted: str) -> None:
        pin = sandbox.decrypt_pin(encrypted, self.config.pin_padding)
        if pin is None or len(pin) != 4 or not pin.isdigit():
            raise Refusal(400, "Encrypted value of the pin is incorrect", result_code="ROUTER116")
        if not secrets.compare_digest(pin.encode(), self.config.pin.encode()):
            raise Refusal(400, "Incorrect PIN", result_code="ROUTER115")

    def _pay(self, order: wire.DisbursementRequest) -> Disbursement:
        config, wall = self.config, time.time()
        outcome = triggers.disbursement_outcome(order.msisdn, order.amount, config.float_cents)
        record = Disbursement(
            transaction_id=order.transaction_id,
            msisdn=order.msisdn,
            amount=order.amount,
            reference=order.reference,
            outcome=outcome,
            airtel_money_id=self.state.disbursement_id(),
            reference_id=self.state.numeric_id(),
            created_at=wall,
            due_at=self._now() + config.callback_delay,
        )
        self.state.disbursements[record.transaction_id] = record
        self.state.stats.disbursements_accepted += 1
        if outcome.paid:
            self._debit(record, wall)
        elif outcome.pending:
            key = "d:" + record.transaction_id
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(
                config.callback_delay, self._payout_settles, record.transaction_id
            )
        return record

    def _payout_settles(self, txn_id: str) -> None:
        self._timers.pop("d:" + txn_id, None)
        record = self.state.disbursements.get(txn_id)
        if record is None:
            return
        record.outcome = triggers.settle_disbursement(record.amount, self.config.float_cents)
        if record.outcome.paid:
            self._debit(record, time.time())

    def _debit(self, record: Disbursement, wall: float) -> None:
        self.config.float_cents -= record.amount * 100
        self.state.pay_out(record, wall)

    async def disbursement_enquiry(self, request: web.Request) -> web.Response:
        await self._lag()
        self.state.stats.enquiries += 1
        try:
            self._authorised(request)
            record = self.state.disbursements.get(request.match_info["id"])
            if record is None:
                raise wire.not_found("DP00900001015")
        except Refusal as exc:
            return exc.response()
        return json_response(wire.disbursement(record))

    # --- Encryption keys (doc §8) --------------------------------------------------------------

    async def encryption_keys(self, request: web.Request) -> web.Response:
        await self._lag()
        try:
            self._authorised(request)
        except Refusal as exc:
            return exc.response()
        return json_response(wire.encryption_keys(sandbox.KEY_ID, sandbox.public_key_b64()))

    # --- KYC user enquiry (doc §9) -------------------------------------------------------------

    async def user(self, request: web.Request) -> web.Response:
        await self._lag()
        try:
            self._authorised(request)
            return json_response(kyc.user(request.match_info["msisdn"], self.names))
        except Refusal as exc:
            return exc.response()

    async def set_user(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        first, last = body.get("first_name"), body.get("last_name")
        if not (isinstance(first, str) and isinstance(last, str) and first and last):
            return wire.invalid("first_name").response()
        self.names[request.match_info["msisdn"][-9:]] = (first, last)
        return json_response({"first_name": first, "last_name": last})

    # --- checks shared by the product calls ----------------------------------------------------

    def _take_burst(self, api: str) -> None:
        """A burst answers before anything is processed: no prompt, no payout, no refund."""
        burst = self.config.error_burst
        if burst.count > 0 and burst.api in ("any", api):
            burst.count -= 1
            self.state.stats.bursts_served += 1
            message, code = _BURSTS[burst.status]
            raise Refusal(burst.status, message, result_code=code)

    def _take_drop(self) -> bool:
        if self.config.drop_sync_answer <= 0:
            return False
        self.config.drop_sync_answer -= 1
        self.state.stats.sync_answers_dropped += 1
        return True

    def _authorised(self, request: web.Request) -> None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if not token or not self.state.token_valid(token, self._now()):
            self.state.stats.unauthorised += 1
            # doc §12: an expired token gets HTTP 401; the body shape is unverified.
            raise Refusal(
                401, "The access token is invalid or has expired", oauth_error="invalid_token"
            )
        country = request.headers.get("X-Country")
        currency = request.headers.get("X-Currency")
        if not country or not currency:
            raise Refusal(
                400, "Missing header parameters: X-Country and X-Currency", result_code="ROUTER003"
            )
        if country != COUNTRY:
            raise Refusal(400, "Invalid country", result_code="ROUTER006")
        if currency != CURRENCY:
            raise Refusal(400, "Invalid currency", result_code="ROUTER112")

    async def _authorised_body(self, request: web.Request) -> dict[str, Any]:
        self._authorised(request)
        return await _json_body(request)

    # --- control endpoints (not Airtel) --------------------------------------------------------

    def public_config(self) -> dict[str, Any]:
        return {"client_id": self.config.client_id, "merchant_name": self.config.merchant_name}

    def live_stats(self) -> dict[str, Any]:
        return {
            "pending_timers": len(self._timers),
            "callbacks_in_flight": len(self._tasks),
            "collected_cents": self.state.ledger.collected_cents,
            "float_cents": self.config.float_cents,
        }

    async def public_key(self, _request: web.Request) -> web.Response:
        """The sandbox public key (PEM) to encrypt the disbursement PIN with (doc §8)."""
        return web.Response(body=sandbox.public_key_pem(), content_type="application/x-pem-file")

    async def list_collections(self, request: web.Request) -> web.Response:
        return records_response(_filtered(self.state.collections.values(), request))

    async def get_collection(self, request: web.Request) -> web.Response:
        record = self.state.collections.get(request.match_info["id"])
        return record_response(record, "unknown transaction id")

    async def list_disbursements(self, request: web.Request) -> web.Response:
        return records_response(_filtered(self.state.disbursements.values(), request))

    async def get_disbursement(self, request: web.Request) -> web.Response:
        record = self.state.disbursements.get(request.match_info["id"])
        return record_response(record, "unknown transaction id")

    async def list_refunds(self, _request: web.Request) -> web.Response:
        return records_response(self.state.refunds.values())

    async def ledger(self, _request: web.Request) -> web.Response:
        return json_response(self.state.ledger.to_json(self.config.float_cents))


async def _json_body(request: web.Request, *, oauth: bool = False) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        if oauth:
            raise Refusal(400, "The body must be a JSON object", oauth_error="invalid_request")
        raise wire.invalid("body")
    return body


def _filtered(records: Any, request: web.Request) -> list[Any]:
    msisdn = request.query.get("msisdn")
    chosen = [r for r in records if msisdn is None or r.msisdn == msisdn]
    return tail(chosen, request.query.get("limit", ""))


def _outage(sim: Simulator) -> web.Response:
    sim.state.stats.outage_refusals += 1
    return Refusal(503, "Service Unavailable").response()


SIMULATOR = web.AppKey("airtel_simulator", Simulator)

# Unknown paths and methods answer with Airtel's envelope, not aiohttp's text (doc §3); during an
# ``outage`` every Airtel path (not ``/__sim``) answers 503 before anything else.
airtel_errors = wire_errors(
    SIMULATOR,
    outage=_outage,
    not_found=lambda: Refusal(404, "Resource not found").response(),
    not_allowed=lambda: Refusal(405, "Method Not Allowed").response(),
)


def create_app(config: SimConfig | None = None) -> web.Application:
    sim = Simulator(config or SimConfig())
    app = sim_app(sim, SIMULATOR, [airtel_errors])
    r = app.router
    r.add_post("/auth/oauth2/token", sim.token)
    r.add_post("/merchant/v1/payments/", sim.push)
    r.add_post("/standard/v1/payments/refund", sim.refund)
    r.add_get("/standard/v1/payments/{id}", sim.collection_enquiry)
    r.add_post("/standard/v1/disbursements/", sim.disburse)
    r.add_get("/standard/v1/disbursements/{id}", sim.disbursement_enquiry)
    r.add_get("/v1/rsa/encryption-keys", sim.encryption_keys)
    r.add_get("/standard/v1/users/{msisdn}", sim.user)
    r.add_put("/__sim/users/{msisdn}", sim.set_user)
    r.add_get("/__sim/public_key", sim.public_key)
    r.add_get("/__sim/ledger", sim.ledger)
    r.add_get("/__sim/collections", sim.list_collections)
    r.add_get("/__sim/collections/{id}", sim.get_collection)
    r.add_get("/__sim/disbursements", sim.list_disbursements)
    r.add_get("/__sim/disbursements/{id}", sim.get_disbursement)
    r.add_get("/__sim/refunds", sim.list_refunds)
    r.add_get("/__sim/statement", partial(statement, sim=sim))
    r.add_get("/__sim/settlement", partial(settlement, sim=sim))
    return app
