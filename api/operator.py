"""Operator routes: the provider-side float (M-Pesa Account Balance). Only clients with the
``operator`` scope may call them; a merchant's token gets 403.

``POST /v1/operator/provider-balance`` asks Daraja (asynchronously); the answer arrives at a
callback and is kept in ``provider_balances``; ``GET /v1/operator/provider-balance/{id}`` reads
it."""

from __future__ import annotations

import logging

from aiohttp import web

from api import openapi_models as out
from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.routes import Route, callback_route, json_answer
from api.state import STATE
from connectors.mpesa import MalformedCallback, parse_account_balance
from switch.ids import new_id
from switch.money import format_minor
from switch.payments import iso, now_utc
from switch.signing import callback_token, verify_callback_token

log = logging.getLogger(__name__)


def _forbidden(request: web.Request) -> web.Response | None:
    if "operator" not in request[CLAIMS].scope.split():
        return error_response(403, "forbidden", "this route needs a client with scope operator")
    return None


async def ask_balance(request: web.Request) -> web.Response:
    refused = _forbidden(request)
    if refused:
        return refused
    state = request.app[STATE]
    query_id = new_id("bal")
    base = state.settings.public_url or f"http://{state.settings.host}:{state.settings.port}"
    token = callback_token(state.secret_key, query_id)
    url = f"{base}/callbacks/balance/{query_id}/{token}"
    await state.cols.provider_balances.insert_one(
        {"_id": query_id, "status": "requested", "requested_at": now_utc()}
    )
    if not await state.actors.gateways.query_balance(url, url):
        await state.cols.provider_balances.update_one(
            {"_id": query_id}, {"$set": {"status": "failed"}}
        )
        return error_response(502, "provider_refused", "M-Pesa did not take the balance query")
    return json_response({"id": query_id, "status": "requested"}, 202)


async def get_balance(request: web.Request) -> web.Response:
    refused = _forbidden(request)
    if refused:
        return refused
    state = request.app[STATE]
    doc = await state.cols.provider_balances.find_one({"_id": request.match_info["query_id"]})
    if doc is None:
        return error_response(404, "not_found", "no such balance query")
    body = {"id": doc["_id"], "status": doc["status"], "requested_at": iso(doc["requested_at"])}
    if "accounts" in doc:
        body["accounts"] = doc["accounts"]
        body["result_code"] = doc.get("result_code")
    return json_response(body)


async def balance_callback(request: web.Request) -> web.Response:
    state = request.app[STATE]
    query_id = request.match_info["query_id"]
    if not verify_callback_token(state.secret_key, query_id, request.match_info["token"]):
        return web.Response(status=404)
    try:
        result = parse_account_balance(await request.read())
    except MalformedCallback as exc:
        log.warning("malformed Account Balance result: %s", exc)
        return web.Response(status=400)
    accounts = [
        {"name": a.name, "currency": a.currency, "available": format_minor(a.available_cents)}
        for a in result.accounts
    ]
    status = "answered" if result.outcome == "succeeded" else "failed"
    await state.cols.provider_balances.update_one(
        {"_id": query_id},
        {"$set": {"status": status, "accounts": accounts, "result_code": result.result_code}},
    )
    return json_response({"ResultCode": 0, "ResultDesc": "Accepted"})


ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/operator/provider-balance",
        ask_balance,
        "Operator",
        "Ask M-Pesa for the provider float (answered at a callback)",
        {202: json_answer("Asked", out.ProviderBalanceQuery)},
        errors=(502,),
        error_texts={502: "M-Pesa did not take the query"},
    ),
    Route(
        "GET",
        "/v1/operator/provider-balance/{query_id}",
        get_balance,
        "Operator",
        "A provider-float query and its answer",
        {200: json_answer("The query", out.ProviderBalanceQuery)},
        errors=(404,),
    ),
    callback_route(
        "/callbacks/balance/{query_id}/{token}",
        balance_callback,
        "M-Pesa Account Balance result",
        "mpesa",
    ),
)
