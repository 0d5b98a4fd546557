"""ISO 20022 on the hub's transfer resources, for participants that chose ``iso20022``:

- ``POST /v1/hub/transfers`` with ``Content-Type: application/xml``: a signed pacs.008
  (:mod:`switch.iso20022.signing`, sender: the payer's bank code) holding one credit transfer;
  its ``MsgId`` is the Idempotency-Key, the payee is the participant with the creditor agent's
  bank code. Answered by a pacs.002 signed by the hub: ``ACSP`` when reserved, ``RJCT`` with the
  reason (``AM04`` short of liquidity or cap, ``AM05`` the MsgId reused with other details); a
  document that cannot be read is a 400 pacs.002 with group status ``RJCT``/``FF01`` naming the
  element. A caller asking ``Accept: application/json`` gets the JSON answers instead.
- ``GET /v1/hub/transfers/{id}`` with ``Accept: application/xml``: a pacs.002 of its state.
- ``POST /v1/hub/iso/pacs.002``: a payee bank's late (or repeated) pacs.002, authenticated by
  its signature and applied as the payee's answer; it must be the transfer's payee.

The XML is mapped onto the JSON handlers' functions (:func:`api.hub.submit_transfer`,
:func:`api.hub.answer_transfer`): the same resources, idempotency and duplicate rules.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from api import hub
from api.errors import error_response, json_response
from api.hub_common import caller, store
from api.routes import Answer, Route, json_answer
from switch.errors import NotFound
from switch.hub.transfers import from_doc, view
from switch.iso20022 import hub_map, hub_wire, pacs002, pacs008
from switch.iso20022.document import MessageError
from switch.iso20022.pacs002 import GroupStatus, Pacs002, TxStatus
from switch.iso20022.signing import CONTENT_TYPE, HUB, SENDER_HEADER, BadSignature, sign, verify
from switch.messages import Reply

XML = CONTENT_TYPE
FORMAT = "iso20022"


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def sends_xml(request: web.Request) -> bool:
    return request.content_type == XML


def wants_xml(request: web.Request) -> bool:
    """XML unless the caller asks JSON (a pacs.008 sender) or asks XML (a reader)."""
    accept = request.headers.get("Accept", "")
    if sends_xml(request):
        return "application/json" not in accept
    return XML in accept


def _signed(
    key: str, report: Pacs002, status: int, extra: dict[str, str] | None = None
) -> web.Response:
    body = pacs002.build(report)
    headers = {**sign(key, HUB, report.msg_id, body), **(extra or {})}
    return web.Response(body=body, status=status, headers=headers)


def _refusal(original: str, reason: str, info: str) -> Pacs002:
    return Pacs002(
        hub_wire.new_msg_id(),
        _now(),
        original,
        pacs008.MESSAGE,
        group=GroupStatus("RJCT", reason, info[:105]),
    )


async def _participant(request: web.Request, pid: str) -> dict[str, Any]:
    doc = await store(request).participants.find_one({"_id": pid})
    if doc is None:
        raise NotFound("no such participant")
    return doc


# --- the payer's pacs.008 ----------------------------------------------------------------------


async def create_transfer(request: web.Request) -> web.Response:
    if not sends_xml(request):
        return await hub.create_transfer(request)
    payer = await _participant(request, caller(request))
    body = await request.read()
    key = payer["webhook_secret"]
    try:
        signed = verify(key, payer.get("bank_code") or "", request.headers, body)
    except BadSignature as exc:
        return error_response(401, "bad_signature", str(exc))
    try:
        msg = pacs008.parse(body)
        if msg.msg_id != signed:
            raise MessageError(pacs008.MESSAGE, "GrpHdr/MsgId", "not the signed MsgId")
        if len(msg.transfers) != 1:
            raise MessageError(pacs008.MESSAGE, "GrpHdr/NbOfTxs", "one transfer per message")
        [tx] = msg.transfers
        if tx.debtor_agent.key not in (payer.get("bank_code"), payer.get("bic")):
            raise MessageError(pacs008.MESSAGE, "CdtTrfTxInf/DbtrAgt", "not your bank")
    except MessageError as exc:
        report = _refusal("NOTPROVIDED", "FF01", f"{exc.element}: {exc.reason}")
        if not wants_xml(request):
            field = {"field": exc.element, "reason": exc.reason}
            return error_response(400, "invalid_message", "the pacs.008 is not valid", [field])
        return _signed(key, report, 400)
    payee = await store(request).participants.find_one(
        {"bank_code": tx.creditor_agent.member_id} if tx.creditor_agent.member_id
        else {"bic": tx.creditor_agent.bic}
    )  # fmt: skip
    raw = hub_map.transfer_of(tx, msg.msg_id)
    if payee is None:
        reply = _refused("payee_unknown", "CdtrAgt", "no participant has the creditor agent")
    elif tx.currency != "KES":
        reply = _refused("currency_not_allowed", "IntrBkSttlmAmt", "the hub clears KES only")
    else:
        transfer = hub.TransferIn(
            payee_participant=payee["_id"],
            amount=raw["amount"],
            currency="KES",
            party=hub.Party(type="ACCOUNT", id=f"{payee.get('bank_code')}:{tx.creditor_account}"),
            note=tx.remittance,
        )
        reply = await hub.submit_transfer(request, payer["_id"], msg.msg_id, raw, transfer)
    if not wants_xml(request) or reply.status >= 500:  # a 503 is "retry", not a rejection
        return hub.answer(reply)
    return _signed(key, _report_of(msg.msg_id, tx, reply), reply.status, _location(reply))


def _refused(code: str, element: str, why: str) -> Reply:
    detail = {"field": element, "reason": why}
    return Reply(422, {"error": {"code": code, "message": why, "details": [detail]}})


def _report_of(msg_id: str, tx: pacs008.CreditTransfer, reply: Reply) -> Pacs002:
    transfer = reply.body.get("transfer", reply.body)
    if transfer.get("object") == "hub_transfer":
        status = hub_wire.status_of(transfer, tx.end_to_end_id, tx.uetr)
    else:
        code = {
            "idempotency_key_reused": "AM05",
            "payee_unknown": "RC01",
            "currency_not_allowed": "AM03",
            "payee_account_unknown": "AC01",  # a collection account at the switch
            "payee_account_closed": "AC04",
        }.get(reply.body["error"]["code"], "NARR")
        status = TxStatus("RJCT", tx.end_to_end_id, tx.uetr, reason=code,
                          info=str(reply.body["error"]["message"])[:105])  # fmt: skip
    return Pacs002(hub_wire.new_msg_id(), _now(), msg_id, pacs008.MESSAGE, (status,))


def _location(reply: Reply) -> dict[str, str]:
    tid = reply.body.get("id") or reply.body.get("transfer", {}).get("id")
    return {"Location": f"/v1/hub/transfers/{tid}"} if tid else {}


# --- a transfer as a pacs.002 ------------------------------------------------------------------


async def get_transfer(request: web.Request) -> web.Response:
    if not wants_xml(request):
        return await hub.get_transfer(request)
    pid = caller(request)
    tid = request.match_info["transfer_id"]
    doc = await store(request).transfers.find_one({"_id": tid})
    if doc is None or pid not in (doc["payer"], doc["payee"]):
        raise NotFound(f"no transfer {tid} of yours")
    me = await _participant(request, pid)
    report = hub_wire.report(view(from_doc(doc)), tid, hub_wire.new_msg_id(), _now())
    return _signed(me["webhook_secret"], report, 200)


# --- a payee bank's pacs.002 -------------------------------------------------------------------


async def status_report(request: web.Request) -> web.Response:
    body = await request.read()
    sender = request.headers.get(SENDER_HEADER, "")
    bank = await store(request).participants.find_one({"bank_code": sender, "format": FORMAT})
    try:
        if bank is None:
            raise BadSignature(f"{SENDER_HEADER}: not an iso20022 participant's bank code")
        signed = verify(bank["webhook_secret"], sender, request.headers, body)
    except BadSignature as exc:
        return error_response(401, "bad_signature", str(exc))
    try:
        report = pacs002.parse(body)
        if report.msg_id != signed:
            raise MessageError(pacs002.MESSAGE, "GrpHdr/MsgId", "not the signed MsgId")
    except MessageError as exc:
        return error_response(400, "invalid_message", "the pacs.002 is not valid",
                              [{"field": exc.element, "reason": exc.reason}])  # fmt: skip
    try:
        answers = [hub_wire.answer_of(s) for s in report.statuses]
    except ValueError as exc:  # read, but about something that is not this transfer
        return error_response(422, "invalid_message", "the pacs.002 names no hub transfer",
                              [{"field": "OrgnlUETR", "reason": str(exc)}])  # fmt: skip
    results = []
    for a in answers:
        if a is None:  # PDNG and the like: a final status will follow
            continue
        reply = await hub.answer_transfer(request, bank["_id"], a.transfer_id, a.accept, a.reason)
        if reply.status == 404:
            return hub.answer(reply)
        results.append(reply.body.get("transfer", reply.body))
    return json_response(
        {"object": "hub_iso_receipt", "msg_id": report.msg_id,
         "transfers": [{"id": t["id"], "state": t["state"]} for t in results]}
    )  # fmt: skip


TRANSFER_MEDIA: dict[str, Any] = {"application/json": hub.TRANSFER, XML: {"type": "string"}}
ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/hub/transfers",
        create_transfer,
        hub.TAG,
        "Prepare a transfer: reserved on your position, or refused with the reason",
        {
            201: Answer(
                "Reserved; the payee is notified (JSON, or a pacs.002 ACSP)", TRANSFER_MEDIA
            ),
            200: Answer("The same request again: its current state", TRANSFER_MEDIA),
        },
        body=hub.TransferIn,
        idempotency="required",
        description="An iso20022 participant may send a signed pacs.008 (Content-Type: "
        "application/xml; its MsgId is the Idempotency-Key) and is answered a pacs.002.",
    ),
    Route(
        "GET",
        "/v1/hub/transfers/{transfer_id}",
        get_transfer,
        hub.TAG,
        "A transfer you pay or are paid (Accept: application/xml for a pacs.002)",
        {200: Answer("The transfer", TRANSFER_MEDIA)},
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/hub/iso/pacs.002",
        status_report,
        hub.TAG,
        "A payee bank's pacs.002 answering a transfer (signed by the bank)",
        {200: json_answer("Applied", hub.ANY)},
        body={XML: {"type": "string"}},
        errors=(400, 401, 404, 415, 422),
        error_texts={
            400: "A pacs.002 that cannot be read (the element is named)",
            401: "Not signed by a participant bank's key",
            404: "The transfer is not paid to this bank",
            415: "Send the body as application/xml",
            422: "OrgnlUETR is not the transfer's",
        },
        security=(),
    ),
)
