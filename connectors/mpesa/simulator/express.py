"""The simulated B2B Express Checkout (``POST /v1/ussdpush/get-msisdn``; products doc §2).

A vendor's paybill pushes a USSD prompt to a till's operator. The body is camelCase, OAuth only;
the acknowledgement is ``{"code": "0", "status": "USSD Initiated Successfully"}``; after
``callback_delay`` the simulated operator acts and the result goes to ``callbackUrl`` as a flat
object of strings echoing ``RequestRefID`` as ``requestId``. A paid prompt debits nothing the
simulator tracks (the till is not ours) and credits the paybill's utility account; Transaction
Status finds it by ``RequestRefID`` as ``OriginalConversationID`` or by its receipt
(:meth:`ExpressSim.facts`, used by the initiator simulator).

Triggers, by the last four digits of the till (``primaryShortCode``): ``...4001`` the operator
cancels, ``...4102`` the till fails KYC, ``...0404`` paid but the callback is lost (Transaction
Status settles it); any other till pays. ``duplicate_callbacks`` sends each callback again.
``GET /__sim/express`` lists the prompts.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from connectors.mpesa.simulator import initiator_wire as iw
from connectors.mpesa.simulator.answers import Refusal, json_response, refusal_response
from connectors.mpesa.simulator.wire import SHORTCODE, InvalidField, _matching, _url
from connectors.simkit.admin import tail

if TYPE_CHECKING:
    from connectors.mpesa.simulator.app import Simulator

# Last four digits of the till -> (resultCode, resultDesc, sends the callback).
TRIGGERS: dict[str, tuple[str, str, bool]] = {
    "4001": ("4001", "User cancelled transaction", True),
    "4102": ("4102", "Merchant KYC Fail", True),
    "0404": ("0", "The service request is processed successfully.", False),
}
PAID = ("0", "The service request is processed successfully.", True)


@dataclass
class Prompt:
    request_ref_id: str
    till: str
    paybill: str
    amount: int
    payment_ref: str
    partner_name: str
    callback_url: str
    result_code: str
    result_desc: str
    sends_callback: bool
    created_at: float
    state: str = "prompted"  # prompted | paid | failed
    transaction_id: str = ""
    conversation_id: str = ""
    callback_statuses: list[int | None] = field(default_factory=list)


def parse(body: dict[str, Any]) -> dict[str, Any]:
    """The page's fields; ``RequestRefID`` is also spelt ``RequestRefId`` in its table."""
    ref = body.get("RequestRefID", body.get("RequestRefId"))
    if not isinstance(ref, str) or not 1 <= len(ref) <= 64:
        raise InvalidField("RequestRefID")
    payment_ref = body.get("paymentRef")
    if not isinstance(payment_ref, str) or not payment_ref.strip():
        raise InvalidField("paymentRef")
    partner = body.get("partnerName")
    if not isinstance(partner, str) or not partner.strip():
        raise InvalidField("partnerName")
    return {
        "request_ref_id": ref,
        "till": _matching(body, "primaryShortCode", SHORTCODE),
        "paybill": _matching(body, "receiverShortCode", SHORTCODE),
        "amount": _amount(body.get("amount")),
        "payment_ref": payment_ref,
        "partner_name": partner,
        "callback_url": _url(body, "callbackUrl"),
    }


def _amount(value: object) -> int:
    """Whole shillings as a string or a number ("100", 100, "100.0"); at least 1."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidField("amount")
    try:
        number = float(value)
    except ValueError as exc:
        raise InvalidField("amount") from exc
    if number < 1 or number != int(number):
        raise InvalidField("amount")
    return int(number)


class ExpressSim:
    def __init__(self, core: Simulator) -> None:
        self.core = core
        self.prompts: dict[str, Prompt] = {}  # by RequestRefID

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/v1/ussdpush/get-msisdn", self.push)
        router.add_get("/__sim/express", self.list_prompts)

    async def push(self, request: web.Request) -> web.StreamResponse:
        core = self.core
        try:
            core._take_burst("express")
            fields = parse(await core._authorised_body(request, "primaryShortCode", "express"))
        except (Refusal, InvalidField) as exc:
            await core._lag()
            return refusal_response(exc)
        known = self.prompts.get(fields["request_ref_id"])
        if known is not None:  # the same RequestRefID again: one prompt (unverified wording)
            await core._lag()
            return json_response({"code": "409", "status": "Duplicate RequestRefID"}, 409)
        code, desc, sends = TRIGGERS.get(fields["till"][-4:], PAID)
        prompt = Prompt(**fields, result_code=code, result_desc=desc, sends_callback=sends,
                        created_at=time.time())  # fmt: skip
        self.prompts[prompt.request_ref_id] = prompt
        while len(self.prompts) > core.config.max_records:
            self.prompts.pop(next(iter(self.prompts)))
        loop = asyncio.get_running_loop()
        loop.call_later(core.config.callback_delay, self._operator_acts, prompt.request_ref_id)
        await core._lag()
        return json_response({"code": "0", "status": "USSD Initiated Successfully"})

    def _operator_acts(self, ref: str) -> None:
        prompt = self.prompts.get(ref)
        if prompt is None or prompt.state != "prompted":
            return
        wall = time.time()
        if prompt.result_code == "0":
            prompt.state = "paid"
            prompt.transaction_id = self.core.state.receipt(wall)
            prompt.conversation_id = f"AG_{time.strftime('%Y%m%d')}_{prompt.transaction_id}"
            self.core.state.ledger.credit(prompt.paybill, prompt.amount * 100)
        else:
            prompt.state = "failed"
        if prompt.sends_callback:
            self.core._spawn(self._deliver(prompt))

    async def _deliver(self, prompt: Prompt) -> None:
        body = orjson.dumps(callback(prompt))
        for _ in range(1 + self.core.config.duplicate_callbacks):
            status, _, _ = await self.core.post_json(prompt.callback_url, body)
            prompt.callback_statuses.append(status)

    def facts(self, ref: str, receipt: str) -> iw.StatusFacts | None:
        """M-Pesa's record of a paid prompt, for Transaction Status; None when there is none
        (never paid: cancelled, refused or not yet acted on)."""
        prompt = self.prompts.get(ref) if ref else None
        if prompt is None and receipt:
            prompt = next((p for p in self.prompts.values() if p.transaction_id == receipt), None)
        if prompt is None or prompt.state != "paid":
            return None
        return iw.StatusFacts(
            status="Completed",
            receipt=prompt.transaction_id,
            amount=prompt.amount,
            debit_party=f"{prompt.till} - {prompt.partner_name} till",
            credit_party=f"{prompt.paybill} - Sandbox Org",
            originator_conversation_id=prompt.request_ref_id,
            conversation_id=prompt.conversation_id,
            initiated=prompt.created_at,
            finalised=prompt.created_at + self.core.config.callback_delay,
            debit_account_type="Merchant Account",
            reason_type="Business Buy Goods via USSD",  # the simulator's wording
            charges="",
        )

    async def list_prompts(self, request: web.Request) -> web.Response:
        rows = [asdict(p) for p in self.prompts.values()]
        return json_response(tail(rows, request.query.get("limit", "")))


def callback(prompt: Prompt) -> dict[str, str]:
    """The flat, all-strings result (products doc §2 samples); ``amount`` with one decimal."""
    body = {
        "resultCode": prompt.result_code,
        "resultDesc": prompt.result_desc,
        "requestId": prompt.request_ref_id,
        "amount": f"{prompt.amount}.0",
    }
    if prompt.result_code == "0":
        body.update({"resultType": "0", "conversationID": prompt.conversation_id,
                     "transactionId": prompt.transaction_id, "status": "SUCCESS"})  # fmt: skip
    else:
        body["paymentReference"] = prompt.payment_ref
    return body
