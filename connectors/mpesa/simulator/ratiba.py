"""The simulated M-Pesa Ratiba (standing orders), its customers and the simulator's calendar.

Daraja route: ``POST /standingorder/v1/createStandingOrderExternal`` (Bearer only; both request
generations). The answer is ``ResponseHeader.responseCode`` ``"200"``; after ``callback_delay`` the
customer answers the consent prompt, by the last four digits of ``PartyA`` as for STK Push
(``1032`` cancels, ``1037`` never answers, ``2001`` wrong PIN, ``0001`` consents but never has the
money), and ``CallBackURL`` is told (success camelCase, failure PascalCase, as the docs show).

Runs happen on the simulator's calendar: ``POST /__sim/clock/advance`` ``{"days": N}`` moves it and
plays every run due on each day passed. A run the customer can pay is a C2B payment to the
shortcode (account = ``AccountReference``) played through the C2B simulator, then a run callback
in the same envelope with ``TransactionID`` the receipt and a ``RunNumber`` pair (the per-run
report is not documented: unverified); a run the customer cannot pay (``0001``) moves no money and
its callback carries ``responseCode`` ``1`` (insufficient balance). Callbacks come with
``duplicate_callbacks`` extra copies, and a ``dropped_callback`` break loses one.

Control routes: ``GET /__sim/ratiba``, ``GET /__sim/clock``, ``POST /__sim/clock/advance``,
``POST /__sim/ratiba/{request_ref}/stop`` (the customer stops the order from the M-Pesa menu).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from connectors.common import EAT
from connectors.mpesa import ratiba
from connectors.mpesa.simulator import c2b_wire as cw
from connectors.mpesa.simulator.answers import Refusal, json_response, refusal_response
from connectors.mpesa.simulator.triggers import outcome_for
from connectors.mpesa.simulator.wire import MSISDN
from switch.standing_orders import Frequency, run_dates

if TYPE_CHECKING:
    from connectors.mpesa.simulator.app import Simulator

_REQUIRED = (
    "StandingOrderName", "StartDate", "EndDate", "BusinessShortCode", "TransactionType",
    "Amount", "PartyA", "CallBackURL", "AccountReference", "Frequency",
)  # fmt: skip
NO_MONEY = "0001"  # consents, but never has the money for a run


@dataclass
class SimOrder:
    request_ref: str
    name: str
    shortcode: str
    amount: int  # KES per run
    msisdn: str
    callback_url: str
    account_reference: str
    frequency: Frequency
    start: date
    end: date
    consent: str = "pending"  # pending, given, refused
    stopped: bool = False
    runs: list[dict[str, Any]] = field(default_factory=list)
    callback_statuses: list[int | None] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if not isinstance(v, date)},
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


class Calendar:
    """The simulator's date (EAT), moved only by ``/__sim/clock/advance``."""

    def __init__(self) -> None:
        self.today = datetime.now(EAT).date()

    def days_to(self, days: int) -> list[date]:
        passed = [self.today + timedelta(days=n) for n in range(1, days + 1)]
        if passed:
            self.today = passed[-1]
        return passed


class RatibaSim:
    def __init__(self, core: Simulator) -> None:
        self.core = core
        self.orders: dict[str, SimOrder] = {}

    def forget(self) -> None:
        self.orders.clear()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(ratiba.PATH, self.create)
        router.add_get("/__sim/ratiba", self.show)
        router.add_post("/__sim/ratiba/{request_ref}/stop", self.stop)
        router.add_get("/__sim/clock", self.clock)
        router.add_post("/__sim/clock/advance", self.advance)

    # --- Daraja route --------------------------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = await self.core._authorised_body(request, "StandingOrderName", "c2b")
            order = self._order(body)
        except Refusal as exc:
            await self.core._lag()
            return refusal_response(exc)
        except ValueError as exc:  # the sandbox's own envelope (provider docs)
            await self.core._lag()
            answer = {"requestRefId": str(uuid.uuid4()), "responseMessage": str(exc),
                      "responseCode": 400, "timestamp": datetime.now(EAT).isoformat()}  # fmt: skip
            return json_response(answer, 400)
        self.orders[order.request_ref] = order
        loop, key = asyncio.get_running_loop(), f"ratiba:{order.request_ref}"
        self.core._timers[key] = loop.call_later(
            self.core.config.callback_delay, self._consent, order.request_ref
        )
        await self.core._lag()
        text = "Request accepted for processing"
        return json_response(
            {
                "ResponseHeader": {"responseRefID": order.request_ref, "responseCode": "200",
                                   "responseDescription": text,
                                   "ResultDesc": "The service request is processed successfully."},
                "ResponseBody": {"responseDescription": text, "responseCode": "200"},
            }
        )  # fmt: skip

    def _order(self, body: dict[str, Any]) -> SimOrder:
        missing = [k for k in _REQUIRED if not str(body.get(k, "")).strip()]
        if missing:
            raise ValueError(f"Value in field '{missing[0]}' is required")
        later = str(body["TransactionType"]).endswith(("Third Party", "Ext-Third Party"))
        frequency = ratiba.frequency_of(str(body["Frequency"]), later=later)
        start = datetime.strptime(str(body["StartDate"]), "%Y%m%d").date()
        end = datetime.strptime(str(body["EndDate"]), "%Y%m%d").date()
        amount, msisdn = str(body["Amount"]), str(body["PartyA"])
        if not amount.isdigit() or int(amount) < 1:
            raise ValueError("Value in field 'Amount' is invalid")
        if not MSISDN.fullmatch(msisdn):
            raise ValueError("Value in field 'PartyA' is invalid")
        run_dates(start, end, frequency)  # ValueError for an impossible schedule
        ref = str(body.get("CustomStoId") or uuid.uuid4())
        return SimOrder(
            ref, str(body["StandingOrderName"]), str(body["BusinessShortCode"]), int(amount),
            msisdn, str(body["CallBackURL"]), str(body["AccountReference"]), frequency, start, end,
        )  # fmt: skip

    # --- the customer --------------------------------------------------------------------------

    def _consent(self, ref: str) -> None:
        self.core._timers.pop(f"ratiba:{ref}", None)
        order = self.orders.get(ref)
        if order is None:
            return
        taken = [o for o in self.orders.values() if o.msisdn == order.msisdn and o is not order]
        code = str(outcome_for(order.msisdn).result_code)
        if code == "1":  # 0001: consents; runs will find no money
            code = "0"
        if any(o.name == order.name and o.consent == "given" for o in taken):
            code = "1050"  # a name is unique per customer (unverified code)
        order.consent = "given" if code == "0" else "refused"
        txn = str(uuid.uuid4().int)[:7] if code == "0" else "0000000000"
        self.core._spawn(self._send(order, self._callback(order, code, txn, None)))

    def on_day(self, today: date) -> None:
        for order in self.orders.values():
            if order.consent != "given" or order.stopped:
                continue
            for seq, due in enumerate(run_dates(order.start, order.end, order.frequency), 1):
                if due == today:
                    self.core._spawn(self._run(order, seq, due))

    async def _run(self, order: SimOrder, seq: int, due: date) -> None:
        run: dict[str, Any] = {"seq": seq, "due": due.isoformat()}
        order.runs.append(run)
        if order.msisdn.endswith(NO_MONEY):
            run.update(result="1", receipt=None)
            await self._send(order, self._callback(order, "1", "0000000000", seq))
            return
        request = cw.SimulateRequest(
            order.shortcode, "CustomerPayBillOnline", order.amount, order.msisdn,
            order.account_reference,
        )  # fmt: skip
        payment = self.core.c2b._new(request)
        await self.core.c2b._play(payment)
        paid = payment.state == "completed"
        run.update(result="0" if paid else "1", receipt=payment.trans_id if paid else None)
        code, txn = ("0", payment.trans_id) if paid else ("1", "0000000000")
        await self._send(order, self._callback(order, code, txn, seq))

    def _callback(self, order: SimOrder, code: str, txn: str, seq: int | None) -> dict[str, Any]:
        pairs = [("TransactionID", txn), ("ResponseCode", code),
                 ("Status", "OKAY" if code == "0" else "ERROR"),
                 ("Msisdn", "*********" + order.msisdn[-3:])]  # fmt: skip
        if seq is not None:
            pairs.append(("RunNumber", str(seq)))
        text = ratiba.RESULT_TEXTS.get(code, "Error")
        header = {"responseRefID": str(uuid.uuid4()), "requestRefID": order.request_ref,
                  "responseCode": code,
                  "responseDescription": "Standing order created successfully"
                  if code == "0" and seq is None else text}  # fmt: skip
        if code == "0":
            data = [{"name": n, "value": v} for n, v in pairs]
            return {"responseHeader": header, "responseBody": {"responseData": data}}
        data = [{"Name": n, "Value": v} for n, v in pairs]
        return {"ResponseHeader": header, "ResponseBody": {"ResponseData": data}}

    async def _send(self, order: SimOrder, payload: dict[str, Any]) -> None:
        if self.core.breaks.take_dropped_callback():
            order.callback_statuses.append(None)
            return
        body = orjson.dumps(payload)
        for _ in range(1 + self.core.config.duplicate_callbacks):
            status, _, _ = await self.core.post_json(order.callback_url, body)
            order.callback_statuses.append(status)

    # --- control routes ------------------------------------------------------------------------

    async def show(self, _request: web.Request) -> web.Response:
        return json_response([o.to_json() for o in self.orders.values()])

    async def stop(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["request_ref"])
        if order is None:
            return json_response({"error": "unknown standing order"}, 404)
        order.stopped = True
        return json_response(order.to_json())

    async def clock(self, _request: web.Request) -> web.Response:
        return json_response({"today": self.core.calendar.today.isoformat()})

    async def advance(self, request: web.Request) -> web.Response:
        """``{"days": N}`` (1..400): each day passed plays its reminders, invoice payments and
        standing-order runs; the answer comes once every payment and callback of them is done."""
        try:
            days = int(orjson.loads(await request.read()).get("days", 1))
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            days = 0
        if not 1 <= days <= 400:
            return json_response({"error": "days must be a whole number from 1 to 400"}, 400)
        for day in self.core.calendar.days_to(days):
            self.core.bills.on_day(day)
            self.on_day(day)
        while self.core._tasks:  # every payment and callback of those days, done
            await asyncio.gather(*list(self.core._tasks), return_exceptions=True)
        return json_response({"today": self.core.calendar.today.isoformat()})
