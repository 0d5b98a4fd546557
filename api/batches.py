"""Bulk payouts over HTTP.

- ``POST /v1/payouts/batches``: a JSON body ``{"items": [...]}`` or a ``text/csv`` upload, up to
  10,000 payouts. ``?dry_run=true`` validates every line and changes nothing. A batch with any
  invalid line is refused as a whole (422 with the per-line report), so nothing half-runs.
  Needs an Idempotency-Key: the batch id is derived from it, the same key and items answer the
  same batch, the same key with other items is a 409.
- ``GET /v1/payouts/batches/{batch_id}``: counts by status, totals and the items, paginated with
  ``?offset`` and ``?limit``.
- ``GET /v1/payouts/batches/{batch_id}/results.csv``: one row per item.

Body size: a batch may be far larger than the app's ``client_max_size`` (64 KiB). That limit is
only enforced by ``request.read()``/``post()``, so this route reads ``request.content`` itself
under :data:`MAX_BATCH_BODY` and the application needs no change.

The handlers reach the batch executor (``actors.batches.BatchCore``, behind an actor) through
its port (``actors.ports.BatchPort``) stored at ``app[BATCHES]``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from actors.ports import BatchPort
from api import openapi_models as out
from api.auth import CLAIMS
from api.errors import error_response, json_response, validation_details
from api.models import PayoutCreate
from api.payments import maker_of, payout_command, sacco_problem
from api.routes import Route, any_of, csv_answer, json_answer, limit_param, query, ref
from api.state import STATE
from connectors.sacco.registry import Sacco
from switch.batches import (
    MAX_ITEMS,
    Checked,
    Parsed,
    Validate,
    batch_request_hash,
    is_batch_id,
    parse_csv,
    parse_json,
    report,
)
from switch.errors import Unavailable
from switch.idempotency import check_key
from switch.messages import Reply

log = logging.getLogger(__name__)

MAX_BATCH_BODY = 5 * 1024 * 1024  # 10,000 CSV rows are about 1.5 MB; JSON about 2.5 MB
CSV_TYPES = frozenset({"text/csv", "application/csv"})
DEFAULT_PAGE = 100
MAX_PAGE = 1000


BATCHES = web.AppKey[BatchPort]("batches")


# --- validating one payout ------------------------------------------------------------------------


def payout_checker(merchant_id: str, saccos: Mapping[str, Sacco], maker: str = "") -> Validate:
    """Validates one item's body as ``POST /v1/payouts`` does (the same model, rules and
    messages; ``saccos``: the registered SACCO codes) and builds its command with the same
    function; the batch fills in the key. ``maker``: who uploads the batch (api.payments.maker_of),
    the maker of each payout for the four-eyes review of a hold."""

    def check(raw: dict[str, Any]) -> Checked:
        try:
            body = PayoutCreate.model_validate(raw)
        except ValidationError as exc:
            errors = tuple((d["field"], d["reason"]) for d in validation_details(exc))
            return Checked(errors=errors)
        if body.sacco is not None:
            found = sacco_problem(saccos, body.sacco.sacco_code, body.sacco.member_number, "sacco")
            if found is not None:
                return Checked(errors=(found,))
        command = payout_command(merchant_id, "", raw, body, maker)
        return Checked(method=body.method, amount_minor=body.amount_minor, command=command)

    return check


# --- handlers -------------------------------------------------------------------------------------


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` (read as it streams, so an oversized
    upload is cut off early)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data += chunk
        if len(data) > limit:
            return None
    return bytes(data)


def _flag(value: str | None) -> bool | None:
    if value is None:
        return False
    return {"true": True, "1": True, "false": False, "0": False}.get(value.lower())


def _parse(content_type: str, data: bytes, validate: Validate) -> Parsed | web.Response:
    if content_type in CSV_TYPES:
        return parse_csv(data, validate)
    if content_type not in ("application/json", "application/octet-stream", ""):
        return error_response(
            415,
            "unsupported_media_type",
            'send application/json ({"items": [...]}) or text/csv',
        )
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        return error_response(400, "invalid_json", "the body must be a JSON object")
    return parse_json(raw, validate)


async def create_batch(request: web.Request) -> web.Response:
    dry_run = _flag(request.query.get("dry_run"))
    if dry_run is None:
        return error_response(400, "invalid_parameter", "dry_run must be true or false")
    key = request.headers.get("Idempotency-Key")
    problem = None if dry_run else check_key(key)
    if problem:
        return error_response(400, "idempotency_key_missing", problem)
    data = await read_limited(request, MAX_BATCH_BODY)
    if data is None:
        return error_response(
            413, "body_too_large", f"a batch upload is at most {MAX_BATCH_BODY // 2**20} MiB"
        )
    merchant_id = request[CLAIMS].merchant_id
    validate = payout_checker(merchant_id, request.app[STATE].saccos, await maker_of(request))
    parsed = _parse(request.content_type, data, validate)
    if isinstance(parsed, web.Response):
        return parsed
    summary = report(parsed)
    if dry_run:
        return json_response(summary)
    if not parsed.ok:
        return _refused(parsed, summary)
    assert key is not None  # checked above
    items = parsed.items
    try:
        reply = await request.app[BATCHES].create(
            merchant_id, key, batch_request_hash(items), items
        )
    except Exception as exc:
        log.warning("the batch executor did not answer a create: %s", exc)
        raise Unavailable("payout batches are unavailable; retry with the same key") from exc
    return _reply(reply)


def _refused(parsed: Parsed, summary: dict[str, Any]) -> web.Response:
    invalid = summary["counts"]["invalid"]
    message = (
        f"{invalid} of {len(parsed.lines)} lines are invalid; nothing was created"
        if parsed.lines
        else "the upload cannot be read as a batch; nothing was created"
    )
    body = {
        "error": {
            "code": "batch_invalid",
            "message": message,
            "details": [e.as_dict() for e in parsed.errors],
        },
        "report": summary,
    }
    return json_response(body, 422)


def _reply(reply: Reply) -> web.Response:
    headers = {"Idempotent-Replayed": "true"} if reply.replayed else {}
    if reply.status in (200, 202) and "id" in reply.body:
        headers["Location"] = f"/v1/payouts/batches/{reply.body['id']}"
    return json_response(reply.body, reply.status, headers)


def _page(request: web.Request) -> tuple[int, int] | web.Response:
    try:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", str(DEFAULT_PAGE)))
    except ValueError:
        offset, limit = -1, -1
    details = []
    # Bounded: the offset is echoed in the answer, and a number past 64 bits cannot be encoded.
    if not 0 <= offset <= MAX_ITEMS:
        details.append({"field": "offset", "reason": f"must be a whole number, 0 to {MAX_ITEMS}"})
    if not 1 <= limit <= MAX_PAGE:
        details.append({"field": "limit", "reason": f"must be a whole number, 1 to {MAX_PAGE}"})
    if details:
        return error_response(422, "validation_failed", "bad paging parameters", details)
    return offset, limit


def _missing(batch_id: str) -> web.Response:
    return error_response(404, "not_found", f"no payout batch {batch_id}")


async def get_batch(request: web.Request) -> web.Response:
    batch_id = request.match_info["batch_id"]
    if not is_batch_id(batch_id):
        return _missing(batch_id)
    page = _page(request)
    if isinstance(page, web.Response):
        return page
    try:
        reply = await request.app[BATCHES].get(request[CLAIMS].merchant_id, batch_id, *page)
    except Exception as exc:
        raise Unavailable("payout batches are unavailable; retry") from exc
    return _reply(reply)


async def get_batch_results(request: web.Request) -> web.Response:
    batch_id = request.match_info["batch_id"]
    if not is_batch_id(batch_id):
        return _missing(batch_id)
    try:
        data = await request.app[BATCHES].results_csv(request[CLAIMS].merchant_id, batch_id)
    except Exception as exc:
        raise Unavailable("payout batches are unavailable; retry") from exc
    if data is None:
        return _missing(batch_id)
    return web.Response(
        body=data,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{batch_id}-results.csv"'},
    )


ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/payouts/batches",
        create_batch,
        "Payouts",
        "Bulk payouts: up to 10,000 payouts as JSON or CSV",
        {
            200: json_answer("Dry run: every line's verdict, nothing created", out.BatchValidation),
            202: json_answer("The batch, stored; its payouts are being sent", out.Batch),
            422: json_answer(
                "A line is invalid: nothing was created (the error and the line report)",
                any_of(out.BatchRefused, "Error"),
            ),
        },
        body={
            "application/json": {
                "type": "object",
                "additionalProperties": False,
                "required": ["items"],
                "properties": {
                    "items": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_ITEMS,
                        "items": ref("PayoutBatchItem"),
                    }
                },
            },
            "text/csv": {
                "type": "string",
                "description": "A header row (item_id, method, amount, currency, phone, "
                "bank_code, account_number, account_name, sacco_code, member_number, "
                "purpose, command, reference, remarks), then one payout per row.",
            },
        },
        errors=(409, 503),
        params=(
            query(
                "dry_run",
                {"type": "string", "enum": ["true", "false", "1", "0"]},
                "Validate every line and change nothing (no Idempotency-Key needed).",
            ),
        ),
        idempotency="optional",
        error_texts={413: "Larger than 5 MiB"},
    ),
    Route(
        "GET",
        "/v1/payouts/batches/{batch_id}",
        get_batch,
        "Payouts",
        "A batch: counts by status, totals and a page of its items",
        {200: json_answer("The batch", out.Batch)},
        errors=(404, 422, 503),
        params=(
            query(
                "offset", {"type": "integer", "minimum": 0, "maximum": MAX_ITEMS}, "Items to skip."
            ),
            limit_param(MAX_PAGE, DEFAULT_PAGE),
        ),
    ),
    Route(
        "GET",
        "/v1/payouts/batches/{batch_id}/results.csv",
        get_batch_results,
        "Payouts",
        "A batch's results, one row per item",
        {200: csv_answer("The results file")},
        errors=(404, 503),
    ),
)
