"""Sub-merchants (Stripe Connect's connected accounts): an aggregator merchant creates and
manages them through ``/v1/sub-merchants`` and acts on behalf of one with its own credentials
and the ``Switch-Sub-Merchant`` header (refused 403 unless the named merchant is its child).

With the header, every route sees the sub-merchant as the caller: a payment belongs to the
sub-merchant (its balance, its idempotency keys, its shard, which is its aggregator's:
routing/shards.py), and its collections carry the platform fee set here, within the operator's
bounds (switch/platform.py). The header's check reads the sub-merchant once a minute at most."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import Handler, error_response, json_response
from api.merchant_settings import RoutingPreferences, actor
from api.merchants import MERCHANT, PAGE, applied_view, page_query, safe_url
from api.payments import parse_body
from api.routes import Route, json_answer, limit_param, query
from api.state import STATE, AppState
from infra import merchants as service
from infra.storage.mongo import Doc
from switch.errors import ClientError, NotFound
from switch.merchants import MAX_PAGE
from switch.money import parse_whole_shillings
from switch.netguard import MAX_URL
from switch.platform import (
    SUB_MERCHANT_HEADER,
    PlatformFee,
    acting_refusal,
    check_fee,
    fee_bounds,
)

ACTING_TTL = 60.0  # seconds a sub-merchant's parent and status are trusted from memory
_ACTING: dict[str, tuple[float, Doc | None]] = {}


class FeeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bps: int = Field(0, description="Basis points of each collection (100 = 1 %).")
    fixed: StrictStr = Field("0", description="Whole shillings added to each collection's fee.")

    @field_validator("fixed")
    @classmethod
    def _whole(cls, value: str) -> str:
        parse_whole_shillings(value)
        return value

    def rule(self) -> PlatformFee:
        return PlatformFee(self.bps, parse_whole_shillings(self.fixed))


class NewSubMerchant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: StrictStr = Field(min_length=1, max_length=120)
    webhook_url: StrictStr | None = Field(
        None, max_length=MAX_URL, description="Its own endpoint; null: the aggregator's."
    )
    platform_fee: FeeBody = Field(default_factory=FeeBody)


class SubMerchantChanges(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: StrictStr | None = Field(None, min_length=1, max_length=120)
    webhook_url: StrictStr | None = Field(None, max_length=MAX_URL)
    platform_fee: FeeBody | None = None
    routing: RoutingPreferences | None = Field(None, description="null: the aggregator's.")


class Forbidden(ClientError, status=403, code="not_an_aggregator"):
    """The caller may not manage sub-merchants (named in the message)."""


async def _aggregator(request: web.Request) -> Doc:
    """The caller, which must be an aggregator acting for itself."""
    if SUB_MERCHANT_HEADER in request.headers:
        raise Forbidden("sub-merchants are managed by their aggregator, without the header")
    state = request.app[STATE]
    doc = await state.cols.merchants.find_one({"_id": request[CLAIMS].merchant_id})
    if doc is None or doc.get("kind") != "aggregator":
        raise Forbidden("only an aggregator merchant has sub-merchants (ask the operator)")
    return doc


async def create(request: web.Request) -> web.Response:
    body = await parse_body(request, NewSubMerchant)
    if isinstance(body, web.Response):
        return body
    parent = await _aggregator(request)
    fee = body.platform_fee.rule()
    check_fee(fee, fee_bounds(parent))
    await safe_url(request, body.webhook_url)
    state = request.app[STATE]
    doc, secret = await service.create_sub_merchant(
        state.cols,
        parent,
        body.name,
        body.webhook_url,
        fee,
        actor(request[CLAIMS]),
        audit_log(state),
    )
    shown = await applied_view(request, doc)
    return json_response({**shown, "webhook_secret": secret}, 201)


async def listing(request: web.Request) -> web.Response:
    parent = await _aggregator(request)
    limit, after = page_query(request)
    wanted = {"parent_id": parent["_id"]}
    docs, next_cursor = await service.list_merchants(request.app[STATE].cols, limit, after, wanted)
    data = [await applied_view(request, d) for d in docs]
    return json_response({"object": "list", "data": data, "next_cursor": next_cursor})


async def read_one(request: web.Request) -> web.Response:
    parent = await _aggregator(request)
    sub_id = request.match_info["sub_merchant_id"]
    doc = await service.get_merchant(request.app[STATE].cols, sub_id, parent["_id"])
    return json_response(await applied_view(request, doc))


async def change(request: web.Request) -> web.Response:
    body = await parse_body(request, SubMerchantChanges)
    if isinstance(body, web.Response):
        return body
    parent = await _aggregator(request)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if body.platform_fee is not None:
        fee = body.platform_fee.rule()
        check_fee(fee, fee_bounds(parent))
        changes["platform_fee"] = fee.to_doc()
    await safe_url(request, changes.get("webhook_url"))
    state = request.app[STATE]
    sub_id = request.match_info["sub_merchant_id"]
    doc = await service.update_merchant(
        state.cols, sub_id, changes, actor(request[CLAIMS]), audit_log(state), parent["_id"]
    )
    _ACTING.pop(sub_id, None)
    await state.router.of_merchant(sub_id).kyc_changed(sub_id)
    return json_response(await applied_view(request, doc))


# --- acting on behalf ---------------------------------------------------------------------------


async def _sub_merchant(state: AppState, sub_id: str) -> Doc | None:
    cached = _ACTING.get(sub_id)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1]
    doc = await state.cols.merchants.find_one({"_id": sub_id}, {"parent_id": 1, "status": 1})
    _ACTING[sub_id] = (now + ACTING_TTL, doc)
    return doc


@web.middleware
async def acting_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With ``Switch-Sub-Merchant``, the rest of the request sees the named sub-merchant as
    the token's merchant, once it is proven the caller's child. After the permission check, so
    the caller's own token and scope decide what it may do."""
    sub_id = request.headers.get(SUB_MERCHANT_HEADER)
    claims = request.get(CLAIMS)
    if sub_id is None or claims is None or request.path.startswith("/v1/sub-merchants"):
        return await handler(request)
    refused = acting_refusal(claims.merchant_id, await _sub_merchant(request.app[STATE], sub_id))
    if refused is not None:
        details = [{"field": SUB_MERCHANT_HEADER, "reason": refused}]
        return error_response(403, "forbidden", refused, details)
    request[CLAIMS] = replace(claims, merchant_id=sub_id)
    return await handler(request)


async def search_scope(state: AppState, merchant_id: str, sub: str | None) -> list[str]:
    """The merchants a search by ``merchant_id`` spans: one of its sub-merchants (``sub``),
    an aggregator's own and all its sub-merchants', or its own. NotFound for another's."""
    if sub:
        if (await _sub_merchant(state, sub) or {}).get("parent_id") != merchant_id:
            raise NotFound(f"no sub-merchant {sub} of yours")
        return [sub]
    children = state.cols.merchants.find({"parent_id": merchant_id}, {"_id": 1})
    return [merchant_id, *[str(d["_id"]) async for d in children]]


_PATH = "/v1/sub-merchants/{sub_merchant_id}"
ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/sub-merchants",
        create,
        "Sub-merchants",
        "Create a sub-merchant (aggregators): KYC pending until the operator verifies it",
        {201: json_answer("Created; webhook_secret shown once, when it has its own URL", MERCHANT)},
        body=NewSubMerchant,
    ),
    Route(
        "GET",
        "/v1/sub-merchants",
        listing,
        "Sub-merchants",
        "Your sub-merchants, oldest first, a page at a time",
        {200: json_answer("A page", PAGE)},
        params=(
            limit_param(MAX_PAGE, 20),
            query("cursor", {"type": "string"}, "next_cursor of the previous page."),
        ),
        errors=(422,),
    ),
    Route(
        "GET",
        _PATH,
        read_one,
        "Sub-merchants",
        "One of your sub-merchants, with the settings it inherits from you",
        {200: json_answer("The sub-merchant", MERCHANT)},
        errors=(404,),
    ),
    Route(
        "PATCH",
        _PATH,
        change,
        "Sub-merchants",
        "Change a sub-merchant: name, webhook URL, platform fee, routing (null: yours)",
        {200: json_answer("The sub-merchant", MERCHANT)},
        body=SubMerchantChanges,
        errors=(404,),
    ),
)
