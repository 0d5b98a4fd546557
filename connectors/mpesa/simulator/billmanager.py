"""The simulated Bill Manager (e-invoicing) and its customers.

Daraja routes (Bearer token; the ``appKey`` header opt-in returns is checked when sent)::

    POST /v1/billmanager-invoice/optin                 /change-optin-details
    POST /v1/billmanager-invoice/single-invoicing      /bulk-invoicing (top-level array, <= 1000)
    POST /v1/billmanager-invoice/cancel-single-invoice /cancel-bulk-invoices
    POST /v1/billmanager-invoice/reconciliation        (the biller's acknowledgement)

Control routes: ``GET /__sim/billmanager`` (opt-ins, invoices, reminders, acknowledgements) and
``POST /__sim/billmanager/pay`` ``{"external_reference", "amount"?, "msisdn"?}``: the invoice's
customer pays (the full outstanding amount unless ``amount`` is given). On the simulator's clock
(``POST /__sim/clock/advance``) reminders go out 7 and 3 days before and on the due date, and
each invoice's customer pays it on its due date, unless the billed phone's last four digits are a
trigger of a customer who does not pay (``0001``, ``1032``, ``1037``, ``2001``).

A payment is a C2B payment to the paybill (account = ``accountReference``), played through the
C2B simulator (validation, the credit, the confirmation), then pushed to the opt-in
``callbackurl`` (plus ``duplicate_callbacks`` copies; a ``dropped_callback`` break loses it).
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from connectors.mpesa.billmanager import PATHS
from connectors.mpesa.simulator import c2b_wire as cw
from connectors.mpesa.simulator.answers import Refusal, json_response, refusal_response
from connectors.mpesa.simulator.triggers import outcome_for
from connectors.mpesa.simulator.wire import InvalidField

if TYPE_CHECKING:
    from connectors.mpesa.simulator.app import Simulator

REMIND_DAYS = (7, 3, 0)  # "7 and 3 days before and on the due date" (Bill Manager docs)
_INVOICE_FIELDS = (
    "externalReference",
    "billedFullName",
    "billedPhoneNumber",
    "billedPeriod",
    "invoiceName",
    "dueDate",
    "accountReference",
    "amount",
)


@dataclass
class OptIn:
    shortcode: str
    callback_url: str
    send_reminders: bool
    app_key: str
    email: str = ""


@dataclass
class SimInvoice:
    external_reference: str
    shortcode: str
    account_reference: str
    amount: int  # KES
    due: date
    phone: str  # 2547XXXXXXXX
    name: str
    invoice_name: str
    paid: int = 0
    cancelled: bool = False
    reminders: list[str] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)
    push_statuses: list[int | None] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "due": self.due.isoformat()}


def _answer(code: str, message: str, status_message: str = "", **extra: Any) -> web.Response:
    body: dict[str, Any] = {"resmsg": message, "rescode": code, **extra}
    if status_message:
        body = {"Status_Message": status_message, **body}
    return json_response(body)  # HTTP 200 with rescode: whether 409 is an HTTP status is unknown


class BillManagerSim:
    def __init__(self, core: Simulator) -> None:
        self.core = core
        self.optins: dict[str, OptIn] = {}  # app_key -> opt-in
        self.invoices: dict[str, SimInvoice] = {}  # externalReference -> invoice
        self.acks: list[dict[str, Any]] = []

    def forget(self) -> None:
        self.optins.clear()
        self.invoices.clear()
        self.acks.clear()

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post(PATHS["optin"], self.optin)
        router.add_post(PATHS["change_optin"], self.optin)
        router.add_post(PATHS["single"], self.single)
        router.add_post(PATHS["bulk"], self.bulk)
        router.add_post(PATHS["cancel"], self.cancel)
        router.add_post(PATHS["cancel_bulk"], self.cancel_bulk)
        router.add_post(PATHS["reconciliation"], self.reconciliation)
        router.add_get("/__sim/billmanager", self.show)
        router.add_post("/__sim/billmanager/pay", self.pay)

    # --- Daraja routes -------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        self.core._check_bearer(request.headers.get("Authorization", ""), "c2b")
        try:
            return orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            raise Refusal(400, "400.002.05", "Invalid Request Payload") from None

    def _biller(self, request: web.Request) -> OptIn:
        key = request.headers.get("appKey", "")
        biller = self.optins.get(key) or (next(iter(self.optins.values())) if not key else None)
        if biller is None:  # unverified text: integrators report 401 until opted in
            raise Refusal(401, "401", "Invalid consumer key/short code")
        return biller

    async def optin(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
        except Refusal as exc:
            return refusal_response(exc)
        shortcode = str(body.get("shortcode", "")) if isinstance(body, dict) else ""
        url = str(body.get("callbackurl") or body.get("callbackUrl") or "")
        if not shortcode.isdigit() or not url.startswith("http"):
            return _answer("400", "Bad Request", "shortcode and callbackurl are required")
        existing = next((o for o in self.optins.values() if o.shortcode == shortcode), None)
        key = existing.app_key if existing else f"AG_{secrets.token_hex(8).upper()}"
        reminders = str(body.get("sendReminders", "1")) in ("1", "true", "True")
        self.optins[key] = OptIn(shortcode, url, reminders, key, str(body.get("email", "")))
        await self.core._lag()
        if request.path.endswith("/optin"):
            return _answer("200", "Success", app_key=key)
        return _answer("200", "Success")

    async def single(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            biller = self._biller(request)
            problem = self._add([body], biller)
        except Refusal as exc:
            return refusal_response(exc)
        return await self._sent(problem)

    async def bulk(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            biller = self._biller(request)
            if isinstance(body, dict):  # one SDK wraps the array (unverified): accepted too
                body = body.get("invoices")
            if not isinstance(body, list) or not 1 <= len(body) <= 1000:
                return _answer("400", "Bad Request", "send 1 to 1000 invoices as a JSON array")
            problem = self._add(body, biller)
        except Refusal as exc:
            return refusal_response(exc)
        return await self._sent(problem)

    async def _sent(self, problem: str) -> web.Response:
        await self.core._lag()
        if problem:
            return _answer("409", "Conflict", problem)
        return _answer("200", "Success", "Invoice sent successfully")

    def _add(self, docs: list[Any], biller: OptIn) -> str:
        """Adds every invoice or none; a problem text (the 409's) or ''."""
        fresh: list[SimInvoice] = []
        for doc in docs:
            if not isinstance(doc, dict) or any(not doc.get(k) for k in _INVOICE_FIELDS):
                return "every invoice needs " + ", ".join(_INVOICE_FIELDS)
            ref = str(doc["externalReference"])
            if ref in self.invoices or any(i.external_reference == ref for i in fresh):
                return "Another entry exist with the same externalReference number"
            try:
                due = date.fromisoformat(str(doc["dueDate"])[:10])
                amount = int(str(doc["amount"]))
            except ValueError:
                return "Invalid due date or amount format"
            phone = str(doc["billedPhoneNumber"])
            phone = "254" + phone[1:] if phone.startswith("0") else phone
            fresh.append(
                SimInvoice(
                    ref,
                    biller.shortcode,
                    str(doc["accountReference"]),
                    amount,
                    due,
                    phone,
                    str(doc["billedFullName"]),
                    str(doc["invoiceName"]),
                )
            )
        for invoice in fresh:
            invoice.reminders.append(f"{self.core_today()}: invoice sent")
            self.invoices[invoice.external_reference] = invoice
        return ""

    async def cancel(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            self._biller(request)
        except Refusal as exc:
            return refusal_response(exc)
        return self._cancel([body] if isinstance(body, dict) else [])

    async def cancel_bulk(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            self._biller(request)
        except Refusal as exc:
            return refusal_response(exc)
        return self._cancel(body if isinstance(body, list) else [])

    def _cancel(self, docs: list[Any]) -> web.Response:
        refs = [str(d.get("externalReference", "")) for d in docs if isinstance(d, dict)]
        found = [self.invoices.get(r) for r in refs]
        if not refs or any(i is None for i in found):
            return _answer("404", "Not Found", "no invoice with this externalReference", errors=[])
        if any(i is not None and i.paid > 0 for i in found):
            text = "partially or fully paid invoices cannot be cancelled."
            return _answer("409", "Conflict", text, errors=[])
        for invoice in found:
            if invoice is not None:
                invoice.cancelled = True
        return _answer("200", "Success", "Invoice cancelled successfuly.", errors=[])  # sic

    async def reconciliation(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            self._biller(request)
        except Refusal as exc:
            return refusal_response(exc)
        if not isinstance(body, dict) or not body.get("transactionId"):
            return _answer("400", "Bad Request", "transactionId is required")
        self.acks.append(body)  # the customer would now get an e-receipt by SMS
        return _answer("200", "Success")

    # --- the customers and the clock -----------------------------------------------------------

    def core_today(self) -> date:
        return self.core.calendar.today

    def on_day(self, today: date) -> None:
        """Reminders and due-date payments of ``today`` (the simulator's clock moved to it)."""
        for invoice in list(self.invoices.values()):
            if invoice.cancelled or invoice.paid >= invoice.amount:
                continue
            biller = self._optin_of(invoice.shortcode)
            days = (invoice.due - today).days
            if biller is not None and biller.send_reminders and days in REMIND_DAYS:
                invoice.reminders.append(f"{today}: reminder, due in {days} days")
            if days == 0 and outcome_for(invoice.phone).paid:
                amount = invoice.amount - invoice.paid
                self.core._spawn(self._pays_on_due(invoice, amount))

    def _optin_of(self, shortcode: str) -> OptIn | None:
        return next((o for o in self.optins.values() if o.shortcode == shortcode), None)

    async def _pays_on_due(self, invoice: SimInvoice, amount: int) -> None:
        await self._customer_pays(invoice, amount, invoice.phone)

    async def _customer_pays(self, invoice: SimInvoice, amount: int, msisdn: str) -> dict[str, Any]:
        order = cw.SimulateRequest(
            invoice.shortcode, "CustomerPayBillOnline", amount, msisdn, invoice.account_reference
        )
        payment = self.core.c2b._new(order)
        await self.core.c2b._play(payment)
        if payment.state != "completed":
            return payment.to_json()
        invoice.paid += amount
        invoice.receipts.append(payment.trans_id)
        biller = self._optin_of(invoice.shortcode)
        if biller is not None:
            await self._push(invoice, biller, payment.trans_id, amount, msisdn)
        return payment.to_json()

    async def _push(
        self, invoice: SimInvoice, biller: OptIn, receipt: str, amount: int, msisdn: str
    ) -> None:
        if self.core.breaks.take_dropped_callback():
            invoice.push_statuses.append(None)
            return
        body = orjson.dumps(
            {
                "transactionId": receipt,
                "paidAmount": str(amount),
                "msisdn": msisdn,
                "dateCreated": self.core_today().isoformat(),
                "accountReference": invoice.account_reference,
                "shortCode": invoice.shortcode,
            }
        )
        copies = 1 + self.core.config.duplicate_callbacks
        sent = 0
        # Bill Manager retries a push 5 times before giving up (docs); copies are duplicates.
        for _ in range(6):
            status, _, _ = await self.core.post_json(biller.callback_url, body)
            invoice.push_statuses.append(status)
            if status is not None and 200 <= status < 300:
                sent += 1
                if sent >= copies:
                    return

    # --- control routes ------------------------------------------------------------------------

    async def pay(self, request: web.Request) -> web.Response:
        try:
            doc = orjson.loads(await request.read())
            invoice = self.invoices[str(doc["external_reference"])]
            amount = int(doc.get("amount") or (invoice.amount - invoice.paid))
            msisdn = str(doc.get("msisdn") or invoice.phone)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return json_response({"error": "send external_reference of a known invoice"}, 400)
        if amount <= 0:
            return json_response({"error": "nothing is owed: give an amount"}, 400)
        try:
            return json_response(await self._customer_pays(invoice, amount, msisdn))
        except InvalidField as exc:
            return json_response({"error": f"invalid {exc.name}"}, 400)

    async def show(self, _request: web.Request) -> web.Response:
        return json_response(
            {
                "optins": [asdict(o) for o in self.optins.values()],
                "invoices": [i.to_json() for i in self.invoices.values()],
                "acknowledgements": self.acks,
            }
        )
