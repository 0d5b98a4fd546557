"""``PATCH /v1/merchant``: a merchant changes its webhook URL (permission ``webhooks:manage``,
which an API client may hold, so a merchant made by the CLI can change it too). The URL is the
merchant's first webhook endpoint (api/webhooks.py, all events): this points that endpoint at the
new URL, or deletes it (null). When the call makes the endpoint, the answer shows its signing
secret, once (a merchant that signed up had no way to learn it).

The URL is checked against server-side request forgery (:mod:`switch.netguard`) outside sandbox
mode, and the change is audited with the query string cut (receivers often put a token there).
Shards cache a merchant's endpoints for up to a minute, so deliveries follow within that time.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from pymongo import ReturnDocument

from api import openapi_models as out
from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import json_response
from api.methods import COLLECT, PAYOUT
from api.payments import parse_body
from api.routes import Route, json_answer
from api.state import STATE
from infra.netguard import check_webhook_url
from infra.webhook_store import set_legacy_url
from switch.errors import NotFound, ValidationFailed
from switch.logs import request_id
from switch.netguard import MAX_URL, UnsafeUrl, display_url
from switch.payments import now_utc
from switch.tokens import Claims
from switch.webhooks import legacy_endpoint_id

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    RailName = str
else:  # the rails ``auto`` may choose, from the provider registry
    RailName = Literal[(*PAYOUT, *COLLECT)]


class MerchantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook_url: StrictStr | None = Field(
        description="Where signed webhooks go: an http(s) URL on a public address, or null to "
        "stop webhooks.",
        max_length=MAX_URL,
    )


class RoutingPreferences(BaseModel):
    """How ``"method": "auto"`` chooses for this merchant (routing/router.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefer: list[RailName] = Field(
        default_factory=list, max_length=10, description="Rails to try first, in order."
    )
    avoid: list[RailName] = Field(
        default_factory=list, max_length=10, description="Rails auto never chooses."
    )
    failover: bool = Field(
        True, description="Take the next rail while a provider's circuit is open."
    )


async def checked_url(allow_private: bool, url: str, field: str) -> None:
    """ValidationFailed naming ``field`` unless webhooks may go to ``url`` (switch/netguard)."""
    try:
        await check_webhook_url(url, allow_private=allow_private)
    except UnsafeUrl as exc:
        raise ValidationFailed(
            "the webhook URL is refused", [{"field": field, "reason": str(exc)}]
        ) from None


def actor(claims: Claims) -> str:
    return f"{'user' if claims.kind == 'session' else 'client'}:{claims.client_id}"


async def patch_merchant(request: web.Request) -> web.Response:
    parsed = await parse_body(request, MerchantPatch)
    if isinstance(parsed, web.Response):
        return parsed
    state, claims = request.app[STATE], request[CLAIMS]
    url = parsed.webhook_url
    if url is not None:
        await checked_url(state.settings.webhook_allow_private, url, "webhook_url")
    before = await state.cols.merchants.find_one_and_update(
        {"_id": claims.merchant_id},
        {"$set": {"webhook_url": url, "updated_at": now_utc()}},
        projection={"name": 1, "webhook_url": 1, "webhook_secret": 1, "webhooks_migrated": 1},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        raise NotFound("no such merchant")
    try:
        await audit_log(state).append(
            actor(claims),
            "merchant.webhook_url",
            f"merchant:{claims.merchant_id}",
            before={"webhook_url": display_url(before.get("webhook_url"))},
            after={"webhook_url": display_url(url)},
            request_id=request_id.get(None) or None,
        )
    except Exception:  # the change stands: refusing it for want of a record would be worse
        log.exception("audit of a webhook URL change for %s not recorded", claims.merchant_id)
    secret = await set_legacy_url(state.cols, before, url)
    body = {
        "object": "merchant",
        "id": claims.merchant_id,
        "name": before.get("name"),
        "webhook_url": url,
        "webhook_endpoint_id": legacy_endpoint_id(claims.merchant_id) if url else None,
    }
    if secret is not None:
        body["webhook_secret"] = secret
    return json_response(body)


async def put_routing(request: web.Request) -> web.Response:
    """Set the merchant's routing preferences. Shards cache them for up to a minute."""
    parsed = await parse_body(request, RoutingPreferences)
    if isinstance(parsed, web.Response):
        return parsed
    state, claims = request.app[STATE], request[CLAIMS]
    preferences = parsed.model_dump()
    before = await state.cols.merchants.find_one_and_update(
        {"_id": claims.merchant_id},
        {"$set": {"routing": preferences, "updated_at": now_utc()}},
        projection={"routing": 1},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        raise NotFound("no such merchant")
    try:
        await audit_log(state).append(
            actor(claims),
            "merchant.routing",
            f"merchant:{claims.merchant_id}",
            before={"routing": before.get("routing")},
            after={"routing": preferences},
            request_id=request_id.get(None) or None,
        )
    except Exception:
        log.exception("audit of a routing change for %s not recorded", claims.merchant_id)
    return json_response({"object": "routing_preferences", **preferences})


ROUTE_TABLE = (
    Route(
        "PATCH",
        "/v1/merchant",
        patch_merchant,
        "API clients",
        "Change your webhook URL (checked against server-side request forgery)",
        {200: json_answer("Your merchant", out.MerchantView)},
        body=MerchantPatch,
        errors=(404,),
    ),
    Route(
        "PUT",
        "/v1/merchant/routing",
        put_routing,
        "API clients",
        "Set how `auto` chooses a rail: preferred and avoided rails, failover on or off",
        {200: json_answer("Your routing preferences", out.RoutingView)},
        body=RoutingPreferences,
        errors=(404,),
    ),
)
