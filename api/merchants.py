"""Merchants over the API: the operator creates, lists, changes, suspends, reactivates and
closes merchants (``/v1/operator/merchants``); a merchant reads its own profile and
configuration (``GET /v1/merchant``; with ``Switch-Sub-Merchant``, an aggregator reads its
sub-merchant's). The work is :mod:`infra.merchants`', the same the command line uses; every
change is audited there."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import json_response
from api.merchant_settings import actor
from api.payments import parse_body
from api.routes import Route, json_answer, limit_param, query
from api.state import STATE
from infra import merchants as service
from infra.netguard import check_webhook_url
from switch.errors import ValidationFailed
from switch.merchants import MAX_PAGE, view
from switch.netguard import MAX_URL, UnsafeUrl
from switch.platform import effective

Kind = Literal["standard", "aggregator", "government"]  # switch.platform.KINDS


class FeeBounds(BaseModel):
    """The most an aggregator may charge its sub-merchants per collection."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    bps: int = Field(ge=0, le=10_000, description="Basis points of the amount (100 = 1 %).")
    fixed_minor: int = Field(ge=0, le=1_000_000, description="A fixed part, in cents.")


class NewMerchantBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: StrictStr = Field(min_length=1, max_length=120)
    webhook_url: StrictStr | None = Field(None, max_length=MAX_URL)
    kind: Kind = Field(
        "standard",
        description="`aggregator` may create sub-merchants; `government`: an agency, which may "
        "collect against payment references (PUT /v1/gov/paybill).",
    )


class MerchantChanges(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: StrictStr | None = Field(None, min_length=1, max_length=120)
    webhook_url: StrictStr | None = Field(None, max_length=MAX_URL)
    kind: Kind | None = None
    platform_fee_bounds: FeeBounds | None = None


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: StrictStr = Field(min_length=1, max_length=500, description="Why, for the record.")


MERCHANT: dict[str, Any] = {
    "type": "object",
    "required": ["object", "id", "name", "kind", "status", "kyc_status"],
    "properties": {
        "object": {"const": "merchant"},
        "id": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "kind": {"type": "string"},
        "status": {"type": "string"},
        "kyc_status": {"type": "string"},
        "parent_id": {"type": ["string", "null"]},
        "webhook_url": {"type": ["string", "null"]},
        "limits": {"type": "object"},
        "routing": {"type": "object"},
        "platform_fee": {"type": ["object", "null"]},
        "created_at": {"type": ["string", "null"]},
    },
}
PAGE: dict[str, Any] = {
    "type": "object",
    "required": ["object", "data", "next_cursor"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": MERCHANT},
        "next_cursor": {"type": ["string", "null"]},
    },
}
CREATED: dict[str, Any] = {
    "type": "object",
    "required": ["merchant_id", "client_id", "client_secret", "webhook_secret", "name"],
    "properties": {
        name: {"type": ["string", "null"]}
        for name in (
            "merchant_id",
            "client_id",
            "client_secret",
            "webhook_secret",
            "name",
            "webhook_url",
            "kind",
        )
    },
}


async def safe_url(request: web.Request, url: str | None) -> None:
    """A webhook URL must not point into the switch's own network (outside sandbox mode)."""
    if url is None:
        return
    try:
        allow = request.app[STATE].settings.webhook_allow_private
        await check_webhook_url(url, allow_private=allow)
    except UnsafeUrl as exc:
        raise ValidationFailed(
            "the webhook URL is refused", [{"field": "webhook_url", "reason": str(exc)}]
        ) from None


async def applied_view(request: web.Request, doc: dict[str, Any]) -> dict[str, Any]:
    """The merchant's view with what the switch applies (a sub-merchant's inherited settings)."""
    parent = None
    if doc.get("parent_id"):
        parent = await request.app[STATE].cols.merchants.find_one({"_id": doc["parent_id"]})
    return view(doc, effective(doc, parent))


async def own_profile(request: web.Request) -> web.Response:
    state = request.app[STATE]
    doc = await service.get_merchant(state.cols, request[CLAIMS].merchant_id)
    return json_response(await applied_view(request, doc))


async def create(request: web.Request) -> web.Response:
    body = await parse_body(request, NewMerchantBody)
    if isinstance(body, web.Response):
        return body
    state = request.app[STATE]
    await safe_url(request, body.webhook_url)
    created = await service.create_merchant(
        state.cols,
        body.name,
        body.webhook_url,
        kind=body.kind,
        actor=actor(request[CLAIMS]),
        audit=audit_log(state),
    )
    return json_response({**created.as_dict(), "kind": body.kind}, 201)


def page_query(request: web.Request) -> tuple[int, str | None]:
    raw = request.query.get("limit", "20")
    limit = int(raw) if raw.isdigit() else 0
    return limit, request.query.get("cursor") or None


async def listing(request: web.Request) -> web.Response:
    state = request.app[STATE]
    limit, after = page_query(request)
    wanted = {k: request.query[k] for k in ("status", "kind", "parent_id") if k in request.query}
    docs, next_cursor = await service.list_merchants(state.cols, limit, after, wanted)
    data = [view(d) for d in docs]
    return json_response({"object": "list", "data": data, "next_cursor": next_cursor})


async def read_one(request: web.Request) -> web.Response:
    state = request.app[STATE]
    doc = await service.get_merchant(state.cols, request.match_info["merchant_id"])
    return json_response(await applied_view(request, doc))


async def change(request: web.Request) -> web.Response:
    body = await parse_body(request, MerchantChanges)
    if isinstance(body, web.Response):
        return body
    state = request.app[STATE]
    changes = body.model_dump(exclude_unset=True)
    # null removes a webhook URL or the fee bounds (back to the defaults); a merchant always
    # keeps a name and a kind, so null there changes nothing.
    changes = {k: v for k, v in changes.items() if v is not None or k not in ("name", "kind")}
    await safe_url(request, changes.get("webhook_url"))
    doc = await service.update_merchant(
        state.cols,
        request.match_info["merchant_id"],
        changes,
        actor(request[CLAIMS]),
        audit_log(state),
    )
    await _forget(request, doc["_id"])
    return json_response(await applied_view(request, doc))


def _status_handler(action: str) -> Any:
    async def handle(request: web.Request) -> web.Response:
        body = await parse_body(request, StatusChange)
        if isinstance(body, web.Response):
            return body
        state = request.app[STATE]
        doc = await service.change_status(
            state.cols,
            request.match_info["merchant_id"],
            action,
            body.reason,
            actor(request[CLAIMS]),
            audit_log(state),
        )
        await _forget(request, doc["_id"])
        return json_response(await applied_view(request, doc))

    handle.__name__ = f"{action}_merchant"
    return handle


async def _forget(request: web.Request, merchant_id: str) -> None:
    """The merchant's shard reads its status and limits again on its next payment."""
    await request.app[STATE].router.of_merchant(merchant_id).kyc_changed(merchant_id)


_PATH = "/v1/operator/merchants/{merchant_id}"
_PAGE_PARAMS = (
    limit_param(MAX_PAGE, 20),
    query("cursor", {"type": "string"}, "next_cursor of the previous page."),
)
_STATUS_WORDS = {
    "suspend": "Suspend a merchant: its payments are refused until it is reactivated",
    "reactivate": "Reactivate a suspended merchant",
    "close": "Close a merchant: no new payments, history kept (its balance must be zero)",
}
ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/merchant",
        own_profile,
        "Merchants",
        "Your profile and configuration (with Switch-Sub-Merchant: that sub-merchant's)",
        {200: json_answer("The merchant", MERCHANT)},
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/operator/merchants",
        create,
        "Operator",
        "Create a merchant and its first API client (the secret is shown once)",
        {201: json_answer("Created", CREATED)},
        body=NewMerchantBody,
    ),
    Route(
        "GET",
        "/v1/operator/merchants",
        listing,
        "Operator",
        "List merchants, oldest first, a page at a time",
        {200: json_answer("A page; next_cursor null when nothing is left", PAGE)},
        params=(
            *_PAGE_PARAMS,
            query("status", {"type": "string"}, "active, suspended or closed."),
            query("kind", {"type": "string"}, "standard, aggregator or government."),
            query("parent_id", {"type": "string"}, "An aggregator's sub-merchants."),
        ),
        errors=(422,),
    ),
    Route(
        "GET",
        _PATH,
        read_one,
        "Operator",
        "A merchant's profile and configuration",
        {200: json_answer("The merchant", MERCHANT)},
        errors=(404,),
    ),
    Route(
        "PATCH",
        _PATH,
        change,
        "Operator",
        "Change a merchant: name, webhook URL, kind, platform fee bounds",
        {200: json_answer("The merchant", MERCHANT)},
        body=MerchantChanges,
        errors=(404,),
    ),
    *(
        Route(
            "POST",
            f"{_PATH}/{action}",
            _status_handler(action),
            "Operator",
            words,
            {200: json_answer("The merchant", MERCHANT)},
            body=StatusChange,
            errors=(404, 409),
            error_texts={409: "Not allowed from its status, or (close) it holds a balance"},
        )
        for action, words in _STATUS_WORDS.items()
    ),
)
