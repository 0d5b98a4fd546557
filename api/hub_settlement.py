"""The operator's settlement routes of the hub (``/v1/operator/hub/windows`` and
``/v1/operator/hub/settlements``): close the open settlement window by hand (the schedule closes
it too: :mod:`api.hub_windows`), read windows and their net positions, make a deferred
multilateral net settlement over closed windows (report and RTGS instruction, JSON and CSV),
acknowledge it once the RTGS moved the money (an operator other than its maker; positions reset
through the position actor) or abort it (its windows can be settled later)."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints

from actors.hub.machine import CloseWindow, Settle
from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.hub_common import hub
from api.payments import maker_of, reply_response
from api.routes import Route, csv_answer, json_answer, limit_param, query
from api.settlement import csv_response
from api.state import STATE
from api.users import actor_of, audit, read_model
from infra.hub_settlement_store import HubSettlementStore, NotPending, WindowsNotClosed
from switch.errors import NotFound, ValidationFailed
from switch.hub import settlement as st
from switch.hub.ids import new_settlement_id
from switch.hub.participants import CURRENCY
from switch.hub.positions import amount_text
from switch.hub.windows import MEANING, WindowState
from switch.payments import iso, now_utc

TAG = "Interoperability hub (settlement)"
WindowId = Annotated[
    str, StringConstraints(pattern=r"^hwin_[0-9]{1,12}$"), Field(examples=["hwin_1"])
]


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: StrictStr = Field(min_length=1, max_length=200)


class SettlementIn(BaseModel):
    """A deferred multilateral net settlement over closed windows."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    windows: list[WindowId] = Field(min_length=1, max_length=100)
    reason: StrictStr = Field(min_length=1, max_length=200)


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    participant: StrictStr = Field(min_length=1, max_length=64)
    external_reference: StrictStr = Field(min_length=1, max_length=64)


class AcknowledgeIn(BaseModel):
    """The RTGS's reference of each net sender's and recipient's movement."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    references: list[Reference] = Field(max_length=1000)


class AbortIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: StrictStr = Field(min_length=1, max_length=200)


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise ValidationFailed("invalid query", [{"field": "limit", "reason": "must be 1 to 500"}])
    return int(raw)


def _store(request: web.Request) -> HubSettlementStore:
    return HubSettlementStore(request.app[STATE].cols.payments.database)


def window_view(doc: dict[str, Any]) -> dict[str, Any]:
    state = WindowState(doc["state"])
    return {
        "id": doc["_id"],
        "object": "hub_window",
        "state": state.value,
        "meaning": MEANING[state],
        "opened_at": iso(doc["opened_at"]),
        "closed_at": iso(doc["closed_at"]) if doc.get("closed_at") else None,
        "closed_by": doc.get("closed_by"),
        "reason": doc.get("reason"),
        "transfers": doc.get("transfers"),
        "settlement_id": doc.get("settlement_id"),
    }


# --- windows --------------------------------------------------------------------------------


async def close_window(request: web.Request) -> web.Response:
    body = await read_model(request, CloseIn)
    by = actor_of(request[CLAIMS])
    reply = await hub(request).close_window(CloseWindow(by, body.reason))
    if reply.status != 200:
        return reply_response(reply)
    store = _store(request)
    closed, opened = (
        await store.window(reply.body["closed"]),
        await store.window(reply.body["opened"]),
    )
    assert closed is not None
    assert opened is not None
    answer: dict[str, Any] = {"closed": window_view(closed), "opened": window_view(opened)}
    await audit(request, "hub.window.close", f"hub_window:{closed['_id']}", after=answer)
    return json_response(answer)


async def list_windows(request: web.Request) -> web.Response:
    state = request.query.get("state")
    if state is not None and state not in WindowState.__members__:
        return error_response(
            422,
            "validation_failed",
            "unknown window state",
            [{"field": "state", "reason": f"one of {', '.join(WindowState)}"}],
        )
    docs = await _store(request).windows_page(state, _limit(request))
    return json_response({"object": "list", "data": [window_view(d) for d in docs]})


async def read_window(request: web.Request) -> web.Response:
    store = _store(request)
    doc = await store.window(request.match_info["window_id"])
    if doc is None:
        raise NotFound(f"no window {request.match_info['window_id']}")
    nets, flows = await store.contents([doc["_id"]])
    made = st.participants(nets, flows)
    gross = st.gross_by_window(await store.gross([doc["_id"]]))
    return json_response(
        {
            **window_view(doc),
            "net_positions": {p["participant"]: amount_text(p["net"]) for p in made},
            "gross": gross.get(doc["_id"], []),
        }
    )


# --- settlements ----------------------------------------------------------------------------


async def _settlement(request: web.Request) -> dict[str, Any]:
    doc = await _store(request).get(request.match_info["settlement_id"])
    if doc is None:
        raise NotFound(f"no settlement {request.match_info['settlement_id']}")
    return doc


async def create_settlement(request: web.Request) -> web.Response:
    body = await read_model(request, SettlementIn)
    store = _store(request)
    windows = sorted(set(body.windows))
    for wid in windows:
        found = await store.window(wid)
        if found is None or found["state"] != WindowState.CLOSED.value:
            why = "no such window" if found is None else f"it is {found['state']}"
            return error_response(
                409,
                "window_not_closed",
                f"window {wid} cannot be settled: {why}",
                [{"field": "windows", "reason": f"{wid}: {why}"}],
            )
    nets, flows = await store.contents(windows)
    gross = await store.gross(windows)
    maker = await maker_of(request)
    try:
        doc = st.new_settlement(
            new_settlement_id(),
            windows,
            CURRENCY,
            body.reason,
            maker,
            now_utc(),
            nets,
            flows,
            gross,
        )
    except st.LedgerFault as exc:
        return error_response(409, "ledger_fault", str(exc))
    try:
        await store.create(doc)
    except WindowsNotClosed:
        return error_response(409, "window_not_closed", "a window was settled meanwhile")
    view = st.view(doc)
    await audit(request, "hub.settlement.create", f"hub_settlement:{doc['_id']}", after=view)
    return json_response(view, 201)


async def list_settlements(request: web.Request) -> web.Response:
    docs = await _store(request).page(_limit(request))
    return json_response({"object": "list", "data": [st.view(d) for d in docs]})


async def read_settlement(request: web.Request) -> web.Response:
    return json_response(st.view(await _settlement(request)))


async def report_csv(request: web.Request) -> web.Response:
    doc = await _settlement(request)
    return csv_response(st.report_csv(doc), f"{doc['_id']}-report")


async def _instruction(request: web.Request) -> dict[str, Any]:
    doc = await _settlement(request)
    banks = await _store(request).banks([p["participant"] for p in doc["participants"]])
    return st.instruction(doc, banks)


async def instruction(request: web.Request) -> web.Response:
    return json_response(await _instruction(request))


async def instruction_csv(request: web.Request) -> web.Response:
    made = await _instruction(request)
    return csv_response(st.instruction_csv(made), f"{made['settlement_id']}-instruction")


async def acknowledge(request: web.Request) -> web.Response:
    body = await read_model(request, AcknowledgeIn)
    doc = await _settlement(request)
    if doc["state"] != st.SettlementState.PENDING_SETTLEMENT.value:
        return error_response(409, "settlement_not_pending", f"the settlement is {doc['state']}")
    maker = await maker_of(request)
    if maker == doc["created_by"]:
        return error_response(
            403, "maker_checker", "the operator who made a settlement cannot acknowledge it"
        )
    nets = st.nets_of(doc)
    refs = {r.participant: r.external_reference for r in body.references}
    problems = [
        {"field": "references", "reason": f"{pid}: no external reference"}
        for pid in sorted(nets)
        if pid not in refs
    ] + [
        {"field": "references", "reason": f"{pid}: has nothing to settle here"}
        for pid in sorted(refs)
        if pid not in nets
    ]
    if problems:
        return error_response(
            422, "validation_failed", "one reference per net sender and recipient", problems
        )
    command = Settle(doc["_id"], nets, doc["currency"], refs, maker)
    reply = await hub(request).settle(command)
    if reply.status != 200:
        return reply_response(reply)
    after = st.view(await _settlement(request))
    await audit(request, "hub.settlement.acknowledge", f"hub_settlement:{doc['_id']}", after=after)
    return json_response(after)


async def abort(request: web.Request) -> web.Response:
    body = await read_model(request, AbortIn)
    doc = await _settlement(request)
    try:
        await _store(request).abort(doc["_id"], await maker_of(request), body.reason, now_utc())
    except NotPending:
        return error_response(409, "settlement_not_pending", f"the settlement is {doc['state']}")
    after = st.view(await _settlement(request))
    await audit(request, "hub.settlement.abort", f"hub_settlement:{doc['_id']}", after=after)
    return json_response(after)


WINDOW: dict[str, Any] = {"type": "object", "required": ["id", "object", "state"]}
SETTLEMENT: dict[str, Any] = {"type": "object", "required": ["id", "object", "state"]}
_STATES = {"type": "string", "enum": [s.value for s in WindowState]}
ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/operator/hub/windows/close",
        close_window,
        TAG,
        "Close the open settlement window; the next opens in the same write",
        {200: json_answer("The closed and the opened window", {"type": "object"})},
        body=CloseIn,
        errors=(409,),
    ),
    Route(
        "GET",
        "/v1/operator/hub/windows",
        list_windows,
        TAG,
        "Settlement windows, newest first",
        {200: json_answer("The windows", {"type": "object"})},
        errors=(422,),
        error_texts={422: "An unknown state or a limit out of range"},
        params=(query("state", _STATES, "Only windows in this state."), limit_param(500, 50)),
    ),
    Route(
        "GET",
        "/v1/operator/hub/windows/{window_id}",
        read_window,
        TAG,
        "A window and each participant's net position in it",
        {200: json_answer("The window", WINDOW)},
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/operator/hub/settlements",
        create_settlement,
        TAG,
        "Net closed windows into a settlement: report and RTGS instruction",
        {201: json_answer("The settlement report", SETTLEMENT)},
        body=SettlementIn,
        errors=(409,),
    ),
    Route(
        "GET",
        "/v1/operator/hub/settlements",
        list_settlements,
        TAG,
        "Settlements, newest first",
        {200: json_answer("The settlements", {"type": "object"})},
        errors=(422,),
        error_texts={422: "A limit out of range"},
        params=(limit_param(500, 50),),
    ),
    Route(
        "GET",
        "/v1/operator/hub/settlements/{settlement_id}",
        read_settlement,
        TAG,
        "A settlement report: gross, bilateral and multilateral net per participant",
        {200: json_answer("The settlement report", SETTLEMENT)},
        errors=(404,),
    ),
    Route(
        "GET",
        "/v1/operator/hub/settlements/{settlement_id}/report.csv",
        report_csv,
        TAG,
        "The settlement report as CSV",
        {200: csv_answer("Bilateral rows, then each participant's net")},
        errors=(404,),
    ),
    Route(
        "GET",
        "/v1/operator/hub/settlements/{settlement_id}/instruction",
        instruction,
        TAG,
        "The instruction to the RTGS: who pays and who is paid",
        {200: json_answer("The instruction", {"type": "object"})},
        errors=(404,),
    ),
    Route(
        "GET",
        "/v1/operator/hub/settlements/{settlement_id}/instruction.csv",
        instruction_csv,
        TAG,
        "The instruction to the RTGS as CSV",
        {200: csv_answer("One line per net sender or recipient")},
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/operator/hub/settlements/{settlement_id}/acknowledge",
        acknowledge,
        TAG,
        "The RTGS moved the money: reset positions (not by the settlement's maker)",
        {200: json_answer("The settled settlement", SETTLEMENT)},
        body=AcknowledgeIn,
        errors=(403, 404, 409),
    ),
    Route(
        "POST",
        "/v1/operator/hub/settlements/{settlement_id}/abort",
        abort,
        TAG,
        "Abort a pending settlement; its windows are CLOSED again",
        {200: json_answer("The aborted settlement", SETTLEMENT)},
        body=AbortIn,
        errors=(404, 409),
    ),
)
