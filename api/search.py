"""Find anything: ``GET /v1/payments``, ``/v1/payouts``, ``/v1/transfers`` with filters and an
opaque cursor, always within the caller's merchant; ``GET /v1/operator/{kind}`` is the operator's
view of any one merchant (``merchant_id`` required: a search never spans merchants). The rules
are switch/search.py's, the reads infra/finder.py's."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

from aiohttp import web

from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.routes import Route, json_answer, limit_param, query, ref
from api.state import STATE, AppState
from api.sub_merchants import search_scope
from infra.finder import Found, find, merchant_since, whole
from switch.errors import Unavailable
from switch.ids import shard_of
from switch.payments import from_doc, now_utc, view
from switch.pii import account_bidx
from switch.search import (
    FIELDS,
    KINDS,
    MAX_LIMIT,
    FilterError,
    Filters,
    Kind,
    decode_cursor,
    encode_cursor,
    narrowed,
    parse_filters,
    transfer_passes,
)
from switch.security.crypto import derive_key

log = logging.getLogger(__name__)
_SINCE: dict[str, datetime] = {}  # merchant -> when it was created (never changes)
_KIND: dict[str, tuple[float, bool]] = {}  # merchant -> (until, is an aggregator)


def cursor_key(state: AppState) -> bytes:
    return derive_key(state.secret_key, "search-cursor")


def bad_filters(exc: FilterError) -> web.Response:
    return error_response(400, "invalid_filter", "the query has invalid filters", exc.details)


async def _since(state: AppState, merchant_id: str) -> datetime | None:
    if merchant_id not in _SINCE:
        found = await merchant_since(state.cols.merchants, merchant_id)
        if found is None:
            return None
        _SINCE[merchant_id] = found
    return _SINCE[merchant_id]


def blind_indexed(state: AppState, f: Filters) -> Filters:
    """The filters with the phone's and the account's blind indexes (switch/pii.py)."""
    if f.phone is None and f.account is None:
        return f
    sealer = state.sealer()
    phone = sealer.bidx(f.phone) if f.phone else None
    return narrowed(f, phone, account_bidx(sealer, f.account) if f.account else None)


async def opened(state: AppState, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored documents with their personal data opened (the views mask it again)."""
    if not state.settings.master_keys:
        return docs
    sealer = state.sealer()
    for doc in docs:
        await sealer.ready_for(doc)
        sealer.open(doc)
    return docs


async def search(
    request: web.Request, kind: Kind, merchant_id: str, members: list[str] | None = None
) -> web.Response:
    """``members``: the merchants searched (an aggregator's view), else ``merchant_id`` alone;
    the cursor is bound to the caller and the ``sub_merchant`` asked for, so a page of one
    view never continues another."""
    state = request.app[STATE]
    key = cursor_key(state)
    members = members or [merchant_id]
    subject = merchant_id
    if "sub_merchant" in request.query or members != [merchant_id]:
        subject = f"{merchant_id}|{request.query.get('sub_merchant', '*')}"
    try:
        own = {k: v for k, v in request.query.items() if k not in ("merchant_id", "sub_merchant")}
        f = parse_filters(kind, own)
        pos = decode_cursor(key, subject, f)
    except FilterError as exc:
        return bad_filters(exc)
    if (f.phone or f.account) and not state.settings.master_keys:
        return error_response(501, "not_supported", "personal data sealing is off")
    known = [s for s in [await _since(state, m) for m in members] if s is not None]
    if not known:
        return error_response(404, "not_found", f"no merchant {merchant_id}")
    began = time.perf_counter()
    found = await find(
        state.cols.payments, members, blind_indexed(state, f), pos, min(known), now_utc()
    )
    data = await _render(state, kind, merchant_id, found, f)
    log.debug(
        "search %s read %d in %.1f ms", kind, found.scanned, 1000 * (time.perf_counter() - began)
    )
    next_cursor = encode_cursor(key, subject, f, found.next) if found.next else None
    return json_response(
        {"object": "list", "url": f"/v1/{kind}", "data": data, "next_cursor": next_cursor}
    )


async def _render(
    state: AppState, kind: Kind, merchant_id: str, found: Found, f: Filters
) -> list[dict[str, Any]]:
    if kind != "transfers":
        docs = await opened(state, await whole(state.cols.payments, [d["_id"] for d in found.docs]))
        return [view(from_doc(doc)) for doc in docs]
    ids = [str(d["transfer"]["id"]) for d in found.docs]
    owner = {str(d["transfer"]["id"]): d.get("merchant_id", merchant_id) for d in found.docs}
    by_shard: dict[int, list[str]] = defaultdict(list)
    for transfer_id in ids:
        by_shard[shard_of(transfer_id) or 0].append(transfer_id)
    views: dict[str, dict[str, Any]] = {}
    try:
        for shard, group in by_shard.items():
            replies = await state.actors.shards[shard].get_transfers([(owner[t], t) for t in group])
            views.update({r.body["id"]: r.body for r in replies if r.status == 200})
    except Exception as exc:
        raise Unavailable("the payment shard is unavailable; retry") from exc
    return [views[t] for t in ids if t in views and transfer_passes(views[t], f)]


def _handler(kind: Kind) -> Any:
    async def handle(request: web.Request) -> web.Response:
        merchant_id = request[CLAIMS].merchant_id
        sub = request.query.get("sub_merchant")
        state = request.app[STATE]
        members = (
            await search_scope(state, merchant_id, sub)
            if sub or await _has_children(state, merchant_id)
            else None
        )
        return await search(request, kind, merchant_id, members)

    handle.__name__ = f"list_{kind}"
    return handle


async def _has_children(state: AppState, merchant_id: str) -> bool:
    """An aggregator's list spans its sub-merchants (a merchant's kind is read once a minute)."""
    cached = _KIND.get(merchant_id)
    if cached is None or cached[0] < time.monotonic():
        doc = await state.cols.merchants.find_one({"_id": merchant_id}, {"kind": 1})
        cached = (time.monotonic() + 60.0, (doc or {}).get("kind") == "aggregator")
        _KIND[merchant_id] = cached
    return cached[1]


def _operator_handler(kind: Kind) -> Any:
    async def handle(request: web.Request) -> web.Response:
        merchant_id = request.query.get("merchant_id", "")
        if not merchant_id:
            details = [{"field": "merchant_id", "reason": "the merchant whose list to search"}]
            return error_response(400, "invalid_filter", "a merchant is required", details)
        return await search(request, kind, merchant_id)

    handle.__name__ = f"operator_list_{kind}"
    return handle


_DESCRIPTIONS = {
    "status": "Comma-separated statuses.",
    "method": "Comma-separated methods.",
    "provider": "Comma-separated providers (mpesa, airtel, pesalink, sacco).",
    "created_since": "From this time (ISO 8601 with zone), or this Nairobi day (YYYY-MM-DD).",
    "created_until": "Before this time, or up to the end of this Nairobi day (YYYY-MM-DD).",
    "updated_since": "Last changed from this time or Nairobi day.",
    "updated_until": "Last changed before this time, or by the end of this Nairobi day.",
    "reference": "Your reference, exactly.",
    "phone": "The customer's phone, any Kenyan form (found through a keyed blind index).",
    "account": "A bank account or SACCO member number (keyed blind index).",
    "sub_merchant": "Aggregators: one sub-merchant's only (without it, all of theirs and yours).",
    "amount_min": "At least this many shillings.",
    "amount_max": "At most this many shillings.",
    "receipt": "The provider's receipt (M-Pesa receipt number, ...).",
}
_CURSOR = query("cursor", {"type": "string"}, "next_cursor of the previous page, same filters.")
_ITEMS = {"payments": "Payment", "payouts": "Payout", "transfers": "Transfer"}


def _params(kind: Kind) -> tuple[dict[str, Any], ...]:
    return (
        *(query(name, {"type": "string"}, _DESCRIPTIONS[name]) for name in FIELDS[kind]),
        query("sub_merchant", {"type": "string"}, _DESCRIPTIONS["sub_merchant"]),
        limit_param(MAX_LIMIT, 50),
        _CURSOR,
    )


def _page(kind: Kind) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["object", "url", "data", "next_cursor"],
        "properties": {
            "object": {"const": "list"},
            "url": {"type": "string"},
            "data": {"type": "array", "items": ref(_ITEMS[kind])},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


_MERCHANT = query("merchant_id", {"type": "string"}, "The merchant to search.", required=True)
ROUTE_TABLE = tuple(
    Route(
        "GET",
        f"/v1/{kind}",
        _handler(kind),
        kind.capitalize(),
        f"Find {kind}: filters, newest first, a page at a time",
        {200: json_answer("A page; next_cursor null when nothing is left", _page(kind))},
        errors=(400, 404, 501),
        params=_params(kind),
        error_texts={
            400: "A bad filter (named) or cursor",
            404: "No such sub-merchant of yours (`sub_merchant`)",
            501: "Personal data sealing is off",
        },
    )
    for kind in KINDS
) + tuple(
    Route(
        "GET",
        f"/v1/operator/{kind}",
        _operator_handler(kind),
        "Operator",
        f"Find any merchant's {kind} (one merchant at a time)",
        {200: json_answer("A page", _page(kind))},
        errors=(400, 404, 501),
        params=(_MERCHANT, *_params(kind)),
        error_texts={400: "A bad filter (named) or cursor", 404: "No such merchant"},
    )
    for kind in KINDS
)
