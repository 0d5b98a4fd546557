"""The participants' hub routes (``/v1/hub/...``), each called by a participant as itself (its
API client holds ``hub:participant``; its token names it):

- parties: a participant registers the phones and accounts it holds; any participant looks one
  up (Mojaloop's account look-up: party -> the participant that holds it);
- quotes: what a transfer of an amount to a party would cost (the scheme fee) and who receives;
- transfers, two-phase: the payer POSTs one (Idempotency-Key; reserved on its position at once,
  or refused with the position check's reason), the hub notifies the payee (signed webhook), the
  payee accepts (commit) or rejects (abort); an unanswered one expires and is released.

Each handler is a thin reader of HTTP around a function taking plain values
(:func:`submit_transfer`, :func:`answer_transfer`), so an ISO 20022 adapter (pacs.008 in,
pacs.002 accept/reject) can map its messages onto the same resources: :mod:`api.hub_iso` does,
and routes ``POST /v1/hub/transfers`` and ``GET /v1/hub/transfers/{id}`` here for JSON.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints
from pymongo.errors import DuplicateKeyError

from actors.hub.machine import Fulfil, Prepare
from api import hub_collections
from api.errors import error_response, json_response
from api.hub_common import Amount, caller, hub, store
from api.hub_switch_payee import payee_of, payout_for
from api.payments import reply_response, validated
from api.routes import Route, json_answer
from api.state import STATE, AppState
from api.users import read_model
from switch.errors import NotFound, ValidationFailed
from switch.hub import participants as parts
from switch.hub import reach
from switch.hub.ids import new_quote_id, transfer_id_for
from switch.hub.positions import amount_text
from switch.hub.transfers import from_doc, parse_amount, view
from switch.idempotency import request_hash
from switch.messages import Reply
from switch.payments import iso, now_utc
from switch.phone import normalise_msisdn

PartyType = Literal["MSISDN", "ACCOUNT", "SACCO"]
QUOTE_TTL = timedelta(minutes=5)


class Party(BaseModel):
    """A phone (``MSISDN``, any Kenyan form), an account (``ACCOUNT``, ``<bank code>:<account
    number>``) or a SACCO member account (``SACCO``, ``<SACCO code>:<member number>``, reached
    through the switch)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: PartyType
    id: Annotated[str, StringConstraints(min_length=3, max_length=40)]

    def key(self) -> str:
        return party_key(self.type, self.id)


def party_key(kind: str, text: str) -> str:
    """The directory's key of a party; ValidationFailed when its id is not one."""
    try:
        if kind == "MSISDN":
            value = normalise_msisdn(text)
        else:
            value = _member(text) if kind == "SACCO" else _account(text)
    except ValueError as exc:
        raise ValidationFailed(
            "the party is not valid", [{"field": "id", "reason": str(exc)}]
        ) from None
    return f"{kind}:{value}"


def _account(text: str) -> str:
    code, sep, number = text.partition(":")
    if not sep or not code.isdigit() or not number.isalnum() or len(number) > 20:
        raise ValueError("an account is <bank code>:<account number>, e.g. 01:0012345678")
    return f"{code}:{number}"


def _member(text: str) -> str:
    code, sep, number = text.partition(":")
    if not sep or not code.isalnum() or not number.isalnum() or len(number) > 20:
        raise ValueError("a SACCO member is <SACCO code>:<member number>, e.g. STIMA:10001")
    return f"{code.upper()}:{number}"


class QuoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    payee: Party
    amount: Amount
    currency: Literal["KES"]


class TransferIn(BaseModel):
    """A transfer to another participant. ``payee_participant`` comes from a party look-up or a
    quote (``quote_id``: the amount and payee must be the quoted ones)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    payee_participant: Annotated[str, StringConstraints(pattern=r"^hpa_[0-9A-Z]{26}$")] = Field(
        examples=["hpa_01JDX4Q3W0TQK2M8V5E4R7C1BN"]
    )
    amount: Amount
    currency: Literal["KES"]
    quote_id: StrictStr | None = Field(None, max_length=40)
    party: Party | None = None
    note: StrictStr | None = Field(None, max_length=140)
    expires_in: int | None = Field(
        None, ge=1, le=86_400, description="Seconds the payee has to answer."
    )


class RejectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: StrictStr = Field(min_length=1, max_length=200)


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- parties and quotes -----------------------------------------------------------------------


async def own(request: web.Request) -> web.Response:
    pid = caller(request)
    doc = await store(request).participants.find_one({"_id": pid})
    if doc is None:
        raise NotFound("no such participant")
    return json_response({**parts.view(doc), "position": await hub(request).position(pid)})


async def register_party(request: web.Request) -> web.Response:
    pid = caller(request)
    party = await read_model(request, Party)
    key = party.key()
    if party.type == "ACCOUNT":
        # An account is held at the bank its code names: a participant claims only its own.
        me = await store(request).participants.find_one({"_id": pid}, {"bank_code": 1})
        code = key.split(":")[1]
        if me is None or me.get("bank_code") != code:
            return error_response(
                422,
                "validation_error",
                "an account can only be registered by the bank its code names",
                [{"field": "id", "reason": f"bank code {code} is not yours"}],
            )
    directory = store(request).directory
    try:
        await directory.insert_one({"_id": key, "participant": pid, "at": now_utc()})
    except DuplicateKeyError:
        held = await directory.find_one({"_id": key})
        if held is None or held["participant"] != pid:
            return error_response(409, "party_taken", "another participant holds this party")
    kind, _, value = key.partition(":")
    return json_response(
        {"object": "hub_party", "type": kind, "id": value, "participant": pid}, 201
    )


async def _lookup(request: web.Request, key: str) -> dict[str, Any]:
    held = await store(request).directory.find_one({"_id": key})
    kind, _, value = key.partition(":")
    if held is None and payout_for(request.app[STATE], {"type": kind, "id": value}):
        held = {"participant": reach.SWITCH_PARTICIPANT}  # a wallet or member the switch reaches
    if held is None:
        raise NotFound("no participant holds this party")
    doc = await store(request).participants.find_one({"_id": held["participant"]})
    if doc is None or doc["status"] != "active":
        raise NotFound("the participant holding this party is not active")
    return {
        "object": "hub_party",
        "type": kind,
        "id": value,
        "participant": doc["_id"],
        "participant_name": doc["name"],
    }


async def lookup_party(request: web.Request) -> web.Response:
    caller(request)
    m = request.match_info
    return json_response(await _lookup(request, party_key(m["party_type"], m["party_id"])))


def scheme_fee(state: AppState, amount: int) -> int:
    return state.settings.hub_fee_fixed + amount * state.settings.hub_fee_bps // 10_000


async def quote(request: web.Request) -> web.Response:
    payer = caller(request)
    body = await read_model(request, QuoteIn)
    found = await _lookup(request, body.payee.key())
    amount = parse_amount(body.amount)
    fee = scheme_fee(request.app[STATE], amount)
    at = now_utc()
    doc = {
        "_id": new_quote_id(),
        "payer": payer,
        "payee": found["participant"],
        "party": {"type": found["type"], "id": found["id"]},
        "amount": amount,
        "fee": fee,
        "currency": body.currency,
        "created_at": at,
        "expires_at": at + QUOTE_TTL,
    }
    await store(request).quotes.insert_one(doc)
    return json_response(_quote_view(doc), 201)


def _quote_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "object": "hub_quote",
        "payee_participant": doc["payee"],
        "party": doc["party"],
        "amount": amount_text(doc["amount"]),
        "fee": amount_text(doc["fee"]),
        "currency": doc["currency"],
        "expires_at": iso(doc["expires_at"]),
    }


# --- transfers --------------------------------------------------------------------------------


async def submit_transfer(
    request: web.Request, payer: str, key: str, raw: dict[str, Any], body: TransferIn
) -> Reply:
    """Prepare a transfer for ``payer`` under its Idempotency-Key ``key``: what an ISO 20022
    pacs.008 adapter calls with the message mapped onto :class:`TransferIn`."""
    state = request.app[STATE]
    amount = parse_amount(body.amount)
    if body.payee_participant == payer:
        raise ValidationFailed(
            "the request has invalid fields",
            [{"field": "payee_participant", "reason": "must not be the payer"}],
        )
    if body.quote_id:
        await _check_quote(request, payer, body, amount)
    ttl = min(body.expires_in or state.settings.hub_transfer_ttl, state.settings.hub_transfer_ttl)
    to_switch = body.payee_participant == reach.SWITCH_PARTICIPANT
    if to_switch:
        party = _party(body.party, True)
        if hub_collections.is_collection(state, party):  # a merchant's collection account
            refused = await hub_collections.refused(state, store(request), party, body.currency)
            if refused is not None:
                return refused
        else:
            _check_reached(state, body)
        ttl = state.settings.hub_switch_payee_ttl  # outlives the payout's recovery
    command = Prepare(
        transfer_id_for(state.secret_key, payer, key),
        payer,
        body.payee_participant,
        amount,
        body.currency,
        now_utc() + timedelta(seconds=ttl),
        request_hash(raw),
        body.quote_id or "",
        _party(body.party, to_switch),
        body.note or "",
    )
    [reply] = await hub(request).prepare([command])
    payee = payee_of(request.app)
    if to_switch and payee is not None and reply.body.get("state") == "RESERVED":
        payee.start(command.transfer_id)  # the switch pays out or credits, then answers
    return reply


def _party(party: Party | None, normalised: bool) -> dict[str, str]:
    """The party as the transfer stores it: as the payer wrote it, or normalised for the switch,
    which pays out to exactly that (an MSISDN '2547...', ``CODE:member``)."""
    if party is None:
        return {}
    return {"type": party.type, "id": party.key().partition(":")[2] if normalised else party.id}


def _check_reached(state: AppState, body: TransferIn) -> None:
    """A transfer to the switch names the party it pays, one the switch's rails reach; else it
    is refused before anything is reserved."""
    problem = "the switch pays a party: name it (MSISDN or SACCO)"
    if body.party is not None:
        party = {"type": body.party.type, "id": body.party.key().partition(":")[2]}
        if payout_for(state, party) is not None:
            return
        problem = "the switch's rails do not reach this party"
    raise ValidationFailed(
        "the request has invalid fields", [{"field": "party", "reason": problem}]
    )


async def _check_quote(request: web.Request, payer: str, body: TransferIn, amount: int) -> None:
    doc = await store(request).quotes.find_one({"_id": body.quote_id, "payer": payer})
    problem = None
    if doc is None:
        problem = "no such quote of yours"
    elif doc["payee"] != body.payee_participant or doc["amount"] != amount:
        problem = "the payee and amount must be the quoted ones"
    elif doc["expires_at"] <= now_utc():
        problem = "the quote expired"
    if problem:
        raise ValidationFailed("the quote does not fit", [{"field": "quote_id", "reason": problem}])


async def create_transfer(request: web.Request) -> web.Response:
    payer = caller(request)
    checked = await validated(request, TransferIn)
    if isinstance(checked, web.Response):
        return checked
    key, raw, body = checked
    return answer(await submit_transfer(request, payer, key, raw, body))


def answer(reply: Reply) -> web.Response:
    response = reply_response(reply)
    if reply.status in (200, 201) and reply.body.get("object") == "hub_transfer":
        response.headers["Location"] = f"/v1/hub/transfers/{reply.body['id']}"
    return response


async def get_transfer(request: web.Request) -> web.Response:
    pid = caller(request)
    tid = request.match_info["transfer_id"]
    doc = await store(request).transfers.find_one({"_id": tid})
    if doc is None or pid not in (doc["payer"], doc["payee"]):
        raise NotFound(f"no transfer {tid} of yours")
    return json_response(view(from_doc(doc)))


async def answer_transfer(
    request: web.Request, payee: str, transfer_id: str, accept: bool, reason: str = ""
) -> Reply:
    """The payee's answer: what a pacs.002 adapter calls (ACSC/ACCP accept, RJCT reject)."""
    [reply] = await hub(request).fulfil([Fulfil(transfer_id, payee, accept, reason)])
    return reply


async def accept(request: web.Request) -> web.Response:
    payee = caller(request)
    await read_model(request, AcceptIn)
    return answer(await answer_transfer(request, payee, request.match_info["transfer_id"], True))


async def reject(request: web.Request) -> web.Response:
    payee = caller(request)
    body = await read_model(request, RejectIn)
    tid = request.match_info["transfer_id"]
    return answer(await answer_transfer(request, payee, tid, False, body.reason))


TAG = "Interoperability hub"
TRANSFER: dict[str, Any] = {
    "type": "object",
    "required": ["id", "object", "payer", "payee", "amount", "currency", "state", "history"],
}
ANY: dict[str, Any] = {"type": "object"}
ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/hub/participant",
        own,
        TAG,
        "Your participant and its position",
        {200: json_answer("The participant", ANY)},
    ),
    Route(
        "POST",
        "/v1/hub/parties",
        register_party,
        TAG,
        "Register a phone or account you hold in the directory",
        {201: json_answer("Registered", ANY)},
        body=Party,
        errors=(409,),
    ),
    Route(
        "GET",
        "/v1/hub/parties/{party_type}/{party_id}",
        lookup_party,
        TAG,
        "Which participant holds a phone or account",
        {200: json_answer("The party", ANY)},
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/hub/quotes",
        quote,
        TAG,
        "Quote a transfer to a party",
        {201: json_answer("The quote", ANY)},
        body=QuoteIn,
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/hub/transfers/{transfer_id}/accept",
        accept,
        TAG,
        "Accept a transfer paid to you: commit",
        {200: json_answer("Committed", TRANSFER)},
        body=AcceptIn,
        errors=(404, 409),
    ),
    Route(
        "POST",
        "/v1/hub/transfers/{transfer_id}/reject",
        reject,
        TAG,
        "Reject a transfer paid to you: abort, the payer's reservation is released",
        {200: json_answer("Aborted", TRANSFER)},
        body=RejectIn,
        errors=(404, 409),
    ),
)
