"""The simulated C2B API and its customers (doc §6).

``/mpesa/c2b/v{1,2}/registerurl`` stores a shortcode's URLs (the sandbox allows overwriting), and
the version decides how callbacks disguise the MSISDN. A payment, from ``/mpesa/c2b/v*/simulate``
or from the control route ``POST /__sim/c2b/pay`` (which answers with the finished record), plays
the customer: POST to ValidationURL (if one is registered) with a deadline of
``c2b_validation_timeout`` seconds; no usable answer in time lets ``ResponseType`` decide; if the
payment is accepted, the paybill's utility account is credited and ConfirmationURL is called once
(no retries: Daraja's retry behaviour is not documented). A shortcode without URLs is paid
silently, as the doc says.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from connectors.mpesa.simulator import c2b_wire as cw
from connectors.mpesa.simulator.answers import Refusal, json_response, refusal_response
from connectors.mpesa.simulator.ledger import C2bPayment, Registration
from connectors.mpesa.simulator.state import request_id
from connectors.mpesa.simulator.wire import InvalidField

if TYPE_CHECKING:
    from connectors.mpesa.simulator.app import Simulator


class C2bSim:
    def __init__(self, core: Simulator) -> None:
        self.core = core

    def add_routes(self, router: web.UrlDispatcher) -> None:
        for version in (1, 2):
            router.add_post(f"/mpesa/c2b/v{version}/registerurl", self._register_v(version))
            router.add_post(f"/mpesa/c2b/v{version}/simulate", self._simulate_v(version))
        router.add_post("/__sim/c2b/pay", self.pay)
        router.add_get("/__sim/c2b", self.list_payments)
        router.add_get("/__sim/c2b/registrations", self.list_registrations)

    # --- Daraja routes -------------------------------------------------------------------------

    def _register_v(self, version: int) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return await self.register(request, version)

        return handler

    def _simulate_v(self, version: int) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return await self.simulate(request, version)

        return handler

    async def register(self, request: web.Request, version: int) -> web.Response:
        core = self.core
        core.state.stats.c2b_registrations += 1
        try:
            order = cw.parse_register(await core._authorised_body(request, "ShortCode", "c2b"))
        except (Refusal, InvalidField) as exc:
            await core._lag()
            return refusal_response(exc)
        core.state.ledger.registrations[order.shortcode] = Registration(
            order.shortcode,
            version,
            order.response_type,
            order.confirmation_url,
            order.validation_url,
        )
        await core._lag()
        return json_response(cw.ack(request_id(), cw.REGISTERED[version]))

    async def simulate(self, request: web.Request, _version: int) -> web.Response:
        """Sandbox-only (doc §6). How the MSISDN is disguised follows the registration's version."""
        core = self.core
        try:
            order = cw.parse_simulate(await core._authorised_body(request, "ShortCode", "c2b"))
        except (Refusal, InvalidField) as exc:
            await core._lag()
            return refusal_response(exc)
        payment = self._new(order)
        core._spawn(self._play(payment))
        await core._lag()
        return json_response(cw.ack(request_id(), cw.SIMULATED))

    # --- the customer --------------------------------------------------------------------------

    def _new(self, order: cw.SimulateRequest) -> C2bPayment:
        state, wall = self.core.state, time.time()
        first, middle, last = _split(state.ledger.name_of(order.msisdn))
        payment = C2bPayment(
            trans_id=state.receipt(wall),
            trans_time=cw.trans_time(wall),
            shortcode=order.shortcode,
            command_id=order.command_id,
            amount=order.amount,
            msisdn=order.msisdn,
            # BillRefNumber is for paybills only (doc §6).
            bill_ref=order.bill_ref if order.command_id == "CustomerPayBillOnline" else "",
            first_name=first,
            middle_name=middle,
            last_name=last,
            created_at=wall,
        )
        state.ledger.add_c2b(payment, self.core.config.max_records)
        state.stats.c2b_payments += 1
        return payment

    async def _play(self, payment: C2bPayment) -> None:
        registration = self.core.state.ledger.registrations.get(payment.shortcode)
        payment.registered_version = registration.version if registration else None
        if registration is not None and registration.validation_url:
            accepted = await self._validate(payment, registration)
        else:
            accepted = True
            payment.validation = "not asked (no ValidationURL)"
        if not accepted:
            return
        balance = self.core.state.ledger.credit(payment.shortcode, payment.amount * 100)
        payment.state = "completed"
        if registration is not None and self.core.breaks.take_dropped_callback():
            payment.confirmation_error = "dropped (an injected break)"
        elif registration is not None:
            await self._confirm(payment, registration, balance)

    async def _validate(self, payment: C2bPayment, registration: Registration) -> bool:
        core = self.core
        core.state.stats.c2b_validations += 1
        body = orjson.dumps(self._payload(payment, registration, None))
        deadline = core.config.c2b_validation_timeout
        status, answer, error = await core.post_json(registration.validation_url, body, deadline)
        payment.validation_status = status
        verdict = cw.read_validation(status, answer)
        if verdict.answered:
            payment.validation_result_code = verdict.result_code
            payment.third_party_trans_id = verdict.third_party_trans_id
            payment.validation = "accepted" if verdict.accepted else "rejected"
            if not verdict.accepted:
                payment.state = "rejected"
            return verdict.accepted
        # No usable answer within the deadline: ResponseType decides (doc §6).
        reason = error or f"HTTP {status}"
        payment.validation = f"no answer ({reason}): {registration.response_type}"
        if registration.response_type != "Completed":
            payment.state = "cancelled"
            return False
        return True

    async def _confirm(self, payment: C2bPayment, registration: Registration, balance: int) -> None:
        core = self.core
        core.state.stats.c2b_confirmations += 1
        body = orjson.dumps(self._payload(payment, registration, balance))
        status, _, error = await core.post_json(registration.confirmation_url, body)
        payment.confirmation_statuses.append(status)
        if error is not None:
            payment.confirmation_error = error

    def _payload(
        self, payment: C2bPayment, registration: Registration, balance: int | None
    ) -> dict[str, str]:
        return cw.payload(
            command_id=payment.command_id,
            trans_id=payment.trans_id,
            trans_time=payment.trans_time,
            amount=payment.amount,
            shortcode=payment.shortcode,
            bill_ref=payment.bill_ref,
            balance_cents=balance,  # empty in validation (doc §6)
            third_party_trans_id=payment.third_party_trans_id,
            msisdn=cw.disguise(payment.msisdn, registration.version),
            names=(payment.first_name, payment.middle_name, payment.last_name),
        )

    # --- control routes (not Daraja) -----------------------------------------------------------

    async def pay(self, request: web.Request) -> web.Response:
        """``{"shortcode","amount","msisdn","bill_ref","command_id"}``: a customer pays now; the
        answer is the finished record (after validation and confirmation)."""
        try:
            doc = orjson.loads(await request.read())
            if not isinstance(doc, dict):
                raise TypeError
            order = cw.parse_simulate(
                {
                    "ShortCode": doc.get("shortcode"),
                    "CommandID": doc.get("command_id", "CustomerPayBillOnline"),
                    "Amount": doc.get("amount"),
                    "Msisdn": doc.get("msisdn"),
                    "BillRefNumber": doc.get("bill_ref"),
                }
            )
        except (orjson.JSONDecodeError, TypeError):
            return json_response({"error": "the body must be a JSON object"}, 400)
        except InvalidField as exc:
            return json_response({"error": f"invalid {exc.name}"}, 400)
        payment = self._new(order)
        await self._play(payment)
        return json_response(payment.to_json())

    async def list_payments(self, request: web.Request) -> web.Response:
        shortcode = request.query.get("shortcode")
        payments = self.core.state.ledger.c2b.values()
        return json_response([p.to_json() for p in payments if shortcode in (None, p.shortcode)])

    async def list_registrations(self, _request: web.Request) -> web.Response:
        registrations = self.core.state.ledger.registrations.values()
        return json_response([r.to_json() for r in registrations])


def _split(name: str) -> tuple[str, str, str]:
    parts = name.split()
    if len(parts) <= 1:
        return (parts[0] if parts else "", "", "")
    if len(parts) == 2:
        return parts[0], "", parts[1]
    return parts[0], " ".join(parts[1:-1]), parts[-1]
