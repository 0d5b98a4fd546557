"""The simulated M-Pesa customer name query (connectors/mpesa/namecheck.py; the route and its
shape are ours, unverified: Daraja publishes none). A phone's name is the one the simulator's
B2C results carry (``PUT /__sim/customers/{phone}`` sets it, else :func:`registered_name`); a
phone whose B2C trigger says it is no customer (``2040`` unregistered, ``9003`` no such number)
answers ``ResponseCode`` ``"1"``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from connectors.mpesa import namecheck
from connectors.mpesa.simulator.answers import Refusal, json_response, refusal_response
from connectors.mpesa.simulator.wire import MSISDN, InvalidField

if TYPE_CHECKING:
    from connectors.mpesa.simulator.app import Simulator

NOT_CUSTOMER = ("2040", "9003")  # the B2C triggers of numbers M-Pesa does not serve


class NameCheckSim:
    def __init__(self, core: Simulator) -> None:
        self.core = core
        self.queries = 0

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(namecheck.PATH, self.query)

    async def query(self, request: web.Request) -> web.Response:
        try:
            body = await self.core._authorised_body(request, "MSISDN", "b2c")
        except (Refusal, InvalidField) as exc:
            return refusal_response(exc)
        self.queries += 1
        phone = body.get("MSISDN")
        if not isinstance(phone, str) or not MSISDN.match(phone):
            return json_response(
                {"ResponseCode": "400.002.02", "ResponseDescription": "Invalid MSISDN"}, 400
            )
        if phone[-4:] in NOT_CUSTOMER:
            answer = {"ResponseCode": "1", "ResponseDescription": "The MSISDN is not registered"}
            return json_response(answer)
        name = self.core.state.ledger.name_of(phone)
        return json_response(
            {"ResponseCode": "0", "ResponseDescription": "Success", "CustomerName": name}
        )
