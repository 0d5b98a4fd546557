"""The operator's hub routes (``/v1/operator/hub/...``): onboard participants (each gets an API
client with the ``hub:participant`` scope, so it calls the hub as itself, and a webhook secret
for the hub's notices), suspend and reactivate them, set their net debit cap and alarm threshold,
read their positions, and record liquidity in and out (Mojaloop's ``recordFundsIn`` and
``recordFundsOut``; a withdrawal that would leave the position uncovered is refused), and bind
a participant's clients to its client certificate (mutual TLS, RFC 8705: :mod:`switch.mtls`).
The operator reads and manages; it never creates, accepts or rejects a transfer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints
from pymongo.errors import DuplicateKeyError

from actors.hub.machine import Funds
from api.auth import CLAIMS, FEED
from api.errors import error_response, json_response
from api.hub_common import Amount, Cap, hub, store
from api.merchants import safe_url
from api.payments import reply_response, validated
from api.routes import Route, json_answer
from api.state import STATE
from api.users import actor_of, audit, read_model
from infra.clients import bump_generation, create_client
from switch import mtls
from switch.errors import NotFound, ValidationFailed
from switch.hub import participants as parts
from switch.hub.ids import funds_id_for, new_participant_id
from switch.hub.transfers import parse_amount
from switch.idempotency import request_hash
from switch.mtls import MAX_PEM
from switch.netguard import MAX_URL
from switch.payments import now_utc
from switch.roles import HUB_PARTICIPANT
from switch.signing import new_webhook_secret

Percent = Annotated[int, Field(ge=1, le=100)]


class ParticipantIn(BaseModel):
    """A bank, SACCO or wallet provider joining the hub."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: StrictStr = Field(min_length=1, max_length=120)
    kind: parts.Kind
    bank_code: Annotated[str, StringConstraints(pattern=r"^[0-9]{2,4}$")] | None = None
    bic: (
        Annotated[str, StringConstraints(pattern=r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")] | None
    ) = None
    endpoint_url: StrictStr = Field(max_length=MAX_URL, description="Where the hub's notices go.")
    format: parts.Format = Field(
        "json",
        description="How the hub talks to it: signed JSON notices, or ISO 20022 (a signed "
        "pacs.008 to endpoint_url, answered by a pacs.002; needs bank_code).",
    )
    currency: Literal["KES"] = "KES"
    net_debit_cap: Cap = Field(description="Shillings; never above the liquidity cover.")
    alarm_percent: Percent = Field(80, description="Alert at this share of min(cap, cover).")
    client_certificate: StrictStr | None = Field(
        None,
        max_length=MAX_PEM,
        description="PEM. Binds the participant's API client to this certificate (RFC 8705): "
        "tokens only over mutual TLS with it, and every call with it.",
    )


class CertificateIn(BaseModel):
    """The certificate to bind the participant's API clients to; null unbinds them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    client_certificate: StrictStr | None = Field(max_length=MAX_PEM)


class LimitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    net_debit_cap: Cap
    alarm_percent: Percent | None = None


class StatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: StrictStr = Field(min_length=1, max_length=500)


class FundsIn(BaseModel):
    """Liquidity the settlement bank confirmed in or out of the participant's account."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    action: Literal["funds_in", "funds_out"]
    amount: Amount
    currency: Literal["KES"]
    reason: StrictStr = Field(min_length=1, max_length=200)
    external_reference: StrictStr | None = Field(None, max_length=64)


async def onboard(request: web.Request) -> web.Response:
    body = await read_model(request, ParticipantIn)
    await safe_url(request, body.endpoint_url)
    if body.format == "iso20022" and body.bank_code is None:
        raise ValidationFailed(
            "the request has invalid fields",
            [{"field": "bank_code", "reason": "required for an iso20022 participant"}],
        )
    cert = _certificate(body.client_certificate)
    state = request.app[STATE]
    pid = new_participant_id()
    secret = new_webhook_secret()
    doc: dict[str, Any] = {
        "_id": pid,
        "name": body.name,
        "kind": body.kind,
        "bank_code": body.bank_code,
        "bic": body.bic,
        "endpoint_url": body.endpoint_url,
        "format": body.format,
        "webhook_secret": secret,
        "status": "active",
        "currency": body.currency,
        "net_debit_cap": parse_amount(body.net_debit_cap, zero=True),
        "alarm_bps": body.alarm_percent * 100,
        "created_at": now_utc(),
    }
    if body.bank_code is None:
        del doc["bank_code"]  # the unique index skips participants without one
    if cert is not None:
        doc["mtls"] = cert.view()
    try:
        await store(request).participants.insert_one(doc)
    except DuplicateKeyError:
        return error_response(
            409,
            "bank_code_taken",
            "another participant has this bank code",
            [{"field": "bank_code", "reason": "already a participant's"}],
        )
    client, client_secret = await create_client(
        state.cols, pid, f"{body.name} (hub)", [HUB_PARTICIPANT], actor_of(request[CLAIMS])
    )
    if cert is not None:
        await state.cols.clients.update_one(
            {"_id": client["_id"]}, {"$set": {"cert_thumbprint": cert.thumbprint}}
        )
    await hub(request).participant_changed(pid)
    view = parts.view(doc)
    await audit(request, "hub.participant.create", f"hub_participant:{pid}", after=view)
    answer = {
        **view,
        "client_id": client["_id"],
        "client_secret": client_secret,
        "webhook_secret": secret,
    }
    return json_response(answer, 201, {"Cache-Control": "no-store"})


async def _participant(request: web.Request) -> dict[str, Any]:
    pid = request.match_info["participant_id"]
    doc = await store(request).participants.find_one({"_id": pid})
    if doc is None:
        raise NotFound(f"no participant {pid}")
    return doc


async def listing(request: web.Request) -> web.Response:
    docs = await store(request).all_participants()
    docs.sort(key=lambda d: d["created_at"])
    return json_response({"object": "list", "data": [parts.view(d) for d in docs]})


async def read_one(request: web.Request) -> web.Response:
    doc = await _participant(request)
    position = await hub(request).position(doc["_id"])
    return json_response({**parts.view(doc), "position": position})


async def _change(
    request: web.Request, changes: dict[str, Any], action: str, doc: dict[str, Any] | None = None
) -> web.Response:
    """Apply ``changes`` to the participant (``doc``: as read already), tell the hub, audit."""
    doc = doc or await _participant(request)
    await store(request).participants.update_one({"_id": doc["_id"]}, {"$set": changes})
    await hub(request).participant_changed(doc["_id"])
    after = {**doc, **changes}
    await audit(
        request,
        action,
        f"hub_participant:{doc['_id']}",
        before=parts.view(doc),
        after=parts.view(after),
    )
    return json_response(parts.view(after))


def _status(new: str) -> Any:
    async def handle(request: web.Request) -> web.Response:
        body = await read_model(request, StatusIn)
        changes = {"status": new, "status_reason": body.reason}
        return await _change(request, changes, f"hub.participant.{new}")

    return handle


def _certificate(pem: str | None) -> mtls.Bound | None:
    if pem is None:
        return None
    try:
        return mtls.bound(pem, now_utc())
    except ValueError as exc:
        raise ValidationFailed(
            "the request has invalid fields", [{"field": "client_certificate", "reason": str(exc)}]
        ) from None


async def certificate(request: web.Request) -> web.Response:
    """Bind the participant's clients to a certificate, replace it, or unbind them. Every token
    they hold stops working at once (a new generation): tokens are bound to the certificate
    they were issued for."""
    body = await read_model(request, CertificateIn)
    cert = _certificate(body.client_certificate)
    doc = await _participant(request)
    cols = request.app[STATE].cols
    clients = [c["_id"] async for c in cols.clients.find({"merchant_id": doc["_id"]}, {"_id": 1})]
    change: dict[str, Any] = (
        {"$set": {"cert_thumbprint": cert.thumbprint}}
        if cert
        else {"$unset": {"cert_thumbprint": ""}}
    )
    await cols.clients.update_many({"_id": {"$in": clients}}, change)
    for client_id in clients:
        await request.app[FEED].announce(client_id, await bump_generation(cols, client_id))
    mtls = cert.view() if cert else None  # None: unbound (the view shows null)
    return await _change(request, {"mtls": mtls}, "hub.participant.certificate", doc)


async def limits(request: web.Request) -> web.Response:
    body = await read_model(request, LimitsIn)
    changes: dict[str, Any] = {"net_debit_cap": parse_amount(body.net_debit_cap, zero=True)}
    if body.alarm_percent is not None:
        changes["alarm_bps"] = body.alarm_percent * 100
    return await _change(request, changes, "hub.participant.limits")


async def record_funds(request: web.Request) -> web.Response:
    checked = await validated(request, FundsIn)
    if isinstance(checked, web.Response):
        return checked
    key, raw, body = checked
    doc = await _participant(request)
    state = request.app[STATE]
    command = Funds(
        funds_id_for(state.secret_key, doc["_id"], key),
        doc["_id"],
        body.action.removeprefix("funds_"),
        parse_amount(body.amount),
        body.currency,
        request_hash(raw),
        body.reason,
        actor_of(request[CLAIMS]),
    )
    reply = await hub(request).record_funds(command)
    if reply.status == 201:
        await audit(
            request, f"hub.{body.action}", f"hub_participant:{doc['_id']}", after=reply.body
        )
    return reply_response(reply)


PARTICIPANT: dict[str, Any] = {"type": "object", "required": ["id", "object", "status"]}
_ID = ("participant_id",)
ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/operator/hub/participants",
        onboard,
        "Interoperability hub (operator)",
        "Onboard a participant: its API client and webhook secret are shown once",
        {201: json_answer("The participant, its client and webhook secret", PARTICIPANT)},
        body=ParticipantIn,
        errors=(409,),
        error_texts={409: "bank_code_taken: another participant has this bank code"},
    ),
    Route(
        "GET",
        "/v1/operator/hub/participants",
        listing,
        "Interoperability hub (operator)",
        "Every participant",
        {200: json_answer("The participants", {"type": "object"})},
    ),
    Route(
        "GET",
        "/v1/operator/hub/participants/{participant_id}",
        read_one,
        "Interoperability hub (operator)",
        "A participant and its position",
        {200: json_answer("The participant", PARTICIPANT)},
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/operator/hub/participants/{participant_id}/suspend",
        _status("suspended"),
        "Interoperability hub (operator)",
        "Suspend a participant: its new transfers (paying or paid) are refused",
        {200: json_answer("The participant", PARTICIPANT)},
        body=StatusIn,
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/operator/hub/participants/{participant_id}/reactivate",
        _status("active"),
        "Interoperability hub (operator)",
        "Reactivate a suspended participant",
        {200: json_answer("The participant", PARTICIPANT)},
        body=StatusIn,
        errors=(404,),
    ),
    Route(
        "PUT",
        "/v1/operator/hub/participants/{participant_id}/certificate",
        certificate,
        "Interoperability hub (operator)",
        "Bind the participant's API clients to a client certificate (mutual TLS), or unbind",
        {200: json_answer("The participant", PARTICIPANT)},
        body=CertificateIn,
        errors=(404,),
    ),
    Route(
        "PUT",
        "/v1/operator/hub/participants/{participant_id}/limits",
        limits,
        "Interoperability hub (operator)",
        "Set the net debit cap and the alarm threshold",
        {200: json_answer("The participant", PARTICIPANT)},
        body=LimitsIn,
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/operator/hub/participants/{participant_id}/funds",
        record_funds,
        "Interoperability hub (operator)",
        "Record liquidity in or out of the participant's settlement account",
        {
            201: json_answer("Recorded", {"type": "object"}),
            200: json_answer("The same request again: the first answer", {"type": "object"}),
        },
        body=FundsIn,
        idempotency="required",
        errors=(404,),
    ),
)
