"""``GET /v1/audit``: the audit trail for auditors (permission ``audit:read``).

A merchant's token sees the records about its own organisation: those whose actor or target is
the merchant, one of its people or one of its API clients. The switch operator's auditor client
(``python -m switch audit client``, merchant ``operator``) sees every record, and the head of
the chain, to anchor a later ``python -m switch audit verify --anchor``.

Query values are matched as plain strings against fixed fields, never parsed into a query, so
no client value can become a MongoDB operator; unknown parameters are refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from api import openapi_models as out
from api.auth import CLAIMS
from api.errors import json_response
from api.routes import Route, json_answer, limit_param, query
from api.state import STATE, AppState
from infra.audit import AuditLog
from switch.errors import ValidationFailed
from switch.merchants import OPERATOR
from switch.security.audit import MAX_PAGE

PARAMS = frozenset({"after_seq", "limit", "actor", "action", "target"})
FILTERS = ("actor", "action", "target")
_VALUE = re.compile(r"^[A-Za-z0-9_.:@/\-]{1,200}$")
DEFAULT_PAGE = 100


def audit_log(state: AppState) -> AuditLog:
    """The one AuditLog of this api process (made on first use), so appends from every module
    share its cached head."""
    if state.audit is None:
        state.audit = AuditLog(state.cols.audit)
    return state.audit


def _int(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValidationFailed(
            "invalid query", [{"field": name, "reason": f"must be an integer {low} to {high}"}]
        )
    return int(raw)


def parse_query(query: Mapping[str, str]) -> tuple[int, int, dict[str, str]]:
    """(after_seq, limit, exact-match filters) from the query string, or ValidationFailed. Pure."""
    unknown = sorted(set(query) - PARAMS)
    if unknown:
        raise ValidationFailed(
            "invalid query", [{"field": name, "reason": "unknown parameter"} for name in unknown]
        )
    after = _int("after_seq", query.get("after_seq"), 0, 0, 2**62)
    limit = _int("limit", query.get("limit"), DEFAULT_PAGE, 1, MAX_PAGE)
    filters = {}
    for name in FILTERS:
        value = query.get(name)
        if value is None:
            continue
        if not _VALUE.match(value):
            raise ValidationFailed(
                "invalid query",
                [{"field": name, "reason": "1 to 200 letters, digits or _ . : @ / -"}],
            )
        filters[name] = value
    return after, limit, filters


def mongo_query(after: int, filters: Mapping[str, str], principals: list[str] | None) -> Any:
    """The MongoDB filter: records after ``after``, exact matches, and (for a merchant) only
    records whose actor or target is one of its principals. Every value is a plain string or
    int we typed. Pure."""
    clauses: list[dict[str, Any]] = [{"_id": {"$gt": after}}]
    clauses += [{name: str(value)} for name, value in filters.items()]
    if principals is not None:
        clauses.append({"$or": [{"actor": {"$in": principals}}, {"target": {"$in": principals}}]})
    return {"$and": clauses}


async def principals_of(state: AppState, merchant_id: str) -> list[str]:
    """How audit records name a merchant's organisation: the merchant, its people, its clients."""
    cols = state.cols
    users = [
        f"user:{d['_id']}" async for d in cols.users.find({"merchant_id": merchant_id}, {"_id": 1})
    ]
    clients = [
        f"client:{d['_id']}"
        async for d in cols.clients.find({"merchant_id": merchant_id}, {"_id": 1})
    ]
    return [f"merchant:{merchant_id}", *users, *clients]


async def list_audit(request: web.Request) -> web.Response:
    after, limit, filters = parse_query(request.query)
    state = request.app[STATE]
    merchant_id = request[CLAIMS].merchant_id
    everyone = merchant_id == OPERATOR
    principals = None if everyone else await principals_of(state, merchant_id)
    query = mongo_query(after, filters, principals)
    cursor = state.cols.audit.find(query).sort("_id", 1).limit(limit + 1)
    records = [{k: v for k, v in doc.items() if k != "_id"} async for doc in cursor]
    more = len(records) > limit
    records = records[:limit]
    body: dict[str, Any] = {
        "object": "list",
        "data": records,
        "has_more": more,
        "next_after_seq": records[-1]["seq"] if more else None,
    }
    if everyone:
        seq, digest = await audit_log(state).head()
        body["head"] = {"seq": seq, "hash": digest}
    return json_response(body)


ROUTE_TABLE = (
    Route(
        "GET",
        "/v1/audit",
        list_audit,
        "Audit",
        "The audit trail about your organisation, oldest first",
        {200: json_answer("A page of records", out.AuditPage)},
        errors=(422,),
        error_texts={422: "An unknown or invalid query parameter"},
        params=(
            query(
                "after_seq",
                {"type": "integer", "minimum": 0, "maximum": 2**62},
                "Records after this sequence number.",
            ),
            limit_param(MAX_PAGE, DEFAULT_PAGE),
            *(
                query(
                    name,
                    {"type": "string", "pattern": _VALUE.pattern},
                    f"Only records with this {name}.",
                )
                for name in FILTERS
            ),
        ),
    ),
)
