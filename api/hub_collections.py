"""Merchants' collection accounts at the switch (issue 14, item 6): a bank participant pays a
merchant through the hub (:mod:`switch.hub.collections` has the rules).

- ``POST /v1/merchant/collection-account`` issues the merchant's account (``<switch bank
  code>:<10 digits>``; again: the same account), registered in the hub's directory as held by
  the switch's participant; ``GET`` reads it; ``.../close`` closes it (it leaves the directory,
  and transfers to it are refused from then on; its number is never issued again).
- A bank's hub transfer to such an account is refused before anything is reserved when the
  account is unknown, closed or in another currency (:func:`refused`). Otherwise it is reserved
  as any transfer to the switch, and :class:`CollectionPayee` (driven by the switch's payee,
  api/hub_switch_payee.py) answers it in-process: it records the credit it owes (``accepting``),
  accepts, and once the hub transfer is COMMITTED has the merchant's shard credit it (a
  ``bank_credit`` collection whose id comes from the hub transfer: one credit per transfer,
  however often it is driven), then marks the record ``credited``. The recovery pass drives
  every record still ``accepting`` again (after a restart too); an aborted or expired transfer
  credits nothing (``void``).
- A committed transfer whose note names a transfer's debit leg waiting for a request to pay
  (switch/hub/requests.py) pays that leg instead (a callback to the merchant's shard, the hub
  transfer id as its receipt), when the amount and the paying bank are the requested ones; the
  record is then ``credited`` with the leg's id. Anything else is an ordinary credit.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
from typing import Any

from aiohttp import web
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from actors.hub.machine import Fulfil
from actors.hub.port import HubPort
from actors.ports import ShardPort
from api.audit import audit_log
from api.auth import CLAIMS
from api.errors import error_response, json_response
from api.hub_common import store
from api.merchant_settings import actor
from api.routes import Route, json_answer
from api.state import STATE, AppState
from infra.hub_store import HubStore
from switch.errors import NotFound
from switch.hub import collections as col
from switch.hub import requests as rtp
from switch.hub.reach import SWITCH_PARTICIPANT
from switch.hub.states import HubState
from switch.messages import CallbackIn, HubCreditIn, ProviderOutcome, Reply
from switch.payments import ProviderRefs, now_utc
from switch.states import Event

log = logging.getLogger(__name__)
TAG = "Collection accounts"
SALTS = 20  # numbers tried per merchant before giving up (a clash is one in 10**9 per number)
ACCEPTING, CREDITED, VOID = "accepting", "credited", "void"


def accounts_of(hub_store: HubStore) -> AsyncCollection[dict[str, Any]]:
    """``hub_collection_accounts``: _id = ``<bank code>:<number>``; merchant, status, currency."""
    return hub_store.participants.database["hub_collection_accounts"]


def credits_of(hub_store: HubStore) -> AsyncCollection[dict[str, Any]]:
    """``hub_collection_credits``: _id = hub transfer id; the merchant owed the credit and
    whether it is ``accepting``, ``credited`` or ``void``."""
    return hub_store.participants.database["hub_collection_credits"]


def _candidate(secret: bytes, merchant_id: str, salt: int) -> str:
    """The merchant's ``salt``-th candidate number: the same in every process, so two requests
    at once meet on one document instead of issuing two accounts."""
    digest = hmac.new(secret, f"collection:{merchant_id}:{salt}".encode(), hashlib.sha256)
    return col.account_number(int.from_bytes(digest.digest()[:8], "big") % 10**9)


def _code(state: AppState) -> str:
    return state.settings.hub_switch_bank_code


def collection_refusal(state: AppState) -> str | None:
    """Why no collection account can be issued here, or None."""
    if state.actors.hub is None:
        return "the interoperability hub does not run here"
    if not _code(state):
        return "the switch has no bank code of its own (SWITCH_HUB_SWITCH_BANK_CODE)"
    return None


def _unavailable(state: AppState) -> web.Response | None:
    why = collection_refusal(state)
    if why is None:
        return None
    if state.actors.hub is None:
        return error_response(503, "unavailable", why)
    return error_response(409, "collection_accounts_unavailable", why)


async def issue(request: web.Request) -> web.Response:
    state = request.app[STATE]
    refused = _unavailable(state)
    if refused is not None:
        return refused
    found = await ensure_account(request, request[CLAIMS].merchant_id)
    if found is None:
        return error_response(409, "collection_accounts_exhausted", "no account number is free")
    doc, made = found
    return json_response(col.account_view(doc), 201 if made else 200)


async def ensure_account(
    request: web.Request, merchant_id: str
) -> tuple[dict[str, Any], bool] | None:
    """The merchant's active collection account, issued if it has none: (doc, issued now), or
    None when no number is free. The caller checked :func:`_unavailable`."""
    state = request.app[STATE]
    accounts = accounts_of(store(request))
    for salt in range(SALTS):
        number = _candidate(state.secret_key, merchant_id, salt)
        doc = {
            "_id": col.account_id(_code(state), number),
            "merchant_id": merchant_id,
            "status": col.ACTIVE,
            "currency": col.CURRENCY,
            "created_at": now_utc(),
        }
        try:
            await accounts.insert_one(doc)
        except DuplicateKeyError:
            found = await accounts.find_one({"_id": doc["_id"]})
            if found is None or found["merchant_id"] != merchant_id:
                continue  # another merchant's number: the next candidate
            if found["status"] != col.ACTIVE:
                continue  # this merchant's closed account: never reopened
            await _listed(request, str(found["_id"]))  # a first call cut off before this
            return found, False
        await _listed(request, str(doc["_id"]))
        await audit_log(state).append(
            actor(request[CLAIMS]),
            "collection_account.issue",
            f"merchant:{merchant_id}",
            before=None,
            after={"account": doc["_id"]},
        )
        return doc, True
    return None


async def _listed(request: web.Request, account: str) -> None:
    """In the hub's directory, held by the switch's participant (a party look-up finds it)."""
    directory = store(request).directory
    row = {"_id": f"ACCOUNT:{account}", "participant": SWITCH_PARTICIPANT, "at": now_utc()}
    with contextlib.suppress(DuplicateKeyError):  # listed already (only the switch has its code)
        await directory.insert_one(row)


async def _own(request: web.Request) -> dict[str, Any]:
    merchant_id = request[CLAIMS].merchant_id
    found = accounts_of(store(request)).find({"merchant_id": merchant_id}).sort("created_at", -1)
    docs = [d async for d in found.limit(1)]
    if not docs:
        raise NotFound("no collection account: POST /v1/merchant/collection-account issues one")
    return docs[0]


async def read(request: web.Request) -> web.Response:
    return json_response(col.account_view(await _own(request)))


async def close(request: web.Request) -> web.Response:
    doc = await _own(request)
    if doc["status"] == col.ACTIVE:
        at = now_utc()
        await accounts_of(store(request)).update_one(
            {"_id": doc["_id"], "status": col.ACTIVE},
            {"$set": {"status": col.CLOSED, "closed_at": at}},
        )
        await store(request).directory.delete_one({"_id": f"ACCOUNT:{doc['_id']}"})
        await audit_log(request.app[STATE]).append(
            actor(request[CLAIMS]),
            "collection_account.close",
            f"merchant:{doc['merchant_id']}",
            before={"account": doc["_id"], "status": col.ACTIVE},
            after={"account": doc["_id"], "status": col.CLOSED},
        )
        doc = {**doc, "status": col.CLOSED}
    return json_response(col.account_view(doc))


# --- the switch as the payee of a transfer to a collection account ------------------------------


async def refused(
    state: AppState, hub_store: HubStore, party: dict[str, Any], currency: str
) -> Reply | None:
    """The 422 refusing a transfer to a collection account before anything is reserved, or
    None when the account takes it. ``party`` is a collection account's (``is_collection``)."""
    account_id = str(party.get("id", ""))
    number = account_id.partition(":")[2]
    account = await accounts_of(hub_store).find_one({"_id": account_id})
    why = col.refusal(account, number, currency)
    if why is None:
        return None
    detail = {"field": "party", "reason": why.message}
    return Reply(422, {"error": {"code": why.reason, "message": why.message, "details": [detail]}})


def is_collection(state: AppState, party: dict[str, Any]) -> bool:
    return col.is_collection_account(party, _code(state))


class CollectionPayee:
    """Answers transfers to collection accounts and credits the merchants (see the module)."""

    def __init__(self, state: AppState, hub: HubPort, hub_store: HubStore) -> None:
        self.state = state
        self.hub = hub
        self.store = hub_store
        self.accounts = accounts_of(hub_store)
        self.credits = credits_of(hub_store)

    async def ensure_indexes(self) -> None:
        await self.accounts.create_indexes([IndexModel([("merchant_id", ASCENDING)])])
        await self.credits.create_indexes([IndexModel([("state", ASCENDING)])])

    async def pending(self) -> list[str]:
        """Transfers accepted (or being accepted) whose credit is not stored yet."""
        return [d["_id"] async for d in self.credits.find({"state": ACCEPTING}, {"_id": 1})]

    async def drive(self, doc: dict[str, Any]) -> str:
        """Take one transfer to a collection account as far as it goes now: "committed" (and
        credited), "aborted", "done" or "waiting"."""
        tid = str(doc["_id"])
        account = await self.accounts.find_one({"_id": str(doc["party"]["id"])})
        record = await self.credits.find_one({"_id": tid})
        if doc["state"] == HubState.RESERVED.value:
            if record is None:
                number = str(doc["party"]["id"]).partition(":")[2]
                why = col.refusal(account, number, str(doc["currency"]))
                if why is not None:  # closed since its prepare
                    return await self._answer(tid, False, why.reason)
                assert account is not None
                record = {"_id": tid, "merchant_id": account["merchant_id"], "state": ACCEPTING}
                with contextlib.suppress(DuplicateKeyError):  # another driver's: the same
                    await self.credits.insert_one({**record, "at": now_utc()})
            answered = await self._answer(tid, True, "")
            if answered == "waiting":
                return answered
            doc = await self.store.transfers.find_one({"_id": tid}) or doc
        if doc["state"] == HubState.COMMITTED.value:
            return await self._credit(doc, account)
        if doc["state"] != HubState.RESERVED.value:  # aborted or expired: nothing to credit
            await self.credits.update_one(
                {"_id": tid, "state": ACCEPTING}, {"$set": {"state": VOID}}
            )
            return "aborted"
        return "waiting"

    async def _answer(self, tid: str, accept: bool, reason: str) -> str:
        [reply] = await self.hub.fulfil([Fulfil(tid, SWITCH_PARTICIPANT, accept, reason)])
        if reply.status == 200:
            return "committed" if accept else "aborted"
        return "done" if reply.status == 409 else "waiting"

    async def _credit(self, doc: dict[str, Any], account: dict[str, Any] | None) -> str:
        """Credit the merchant for a COMMITTED transfer (once: the shard's key is the transfer's),
        then mark the record. The merchant is the account's, also if it was closed since."""
        tid = str(doc["_id"])
        record = await self.credits.find_one({"_id": tid})
        if record is not None and record["state"] == CREDITED:
            return "committed"
        if account is None:  # cannot happen: an account is never deleted
            log.error("hub transfer %s committed to an unknown collection account", tid)
            return "waiting"
        payer = await self.store.participants.find_one({"_id": doc["payer"]}) or {}
        item = col.credit_of(doc, account, payer)
        shard = self.state.router.of_merchant(item.merchant_id)
        leg_id = rtp.leg_of(str(doc.get("note") or ""))
        if leg_id is not None:  # quotes a request to pay: it pays that debit leg, if it fits
            paid = await self._pay_leg(shard, item, leg_id)
            if paid == "waiting":
                return paid
            if paid == "paid":
                await self.credits.update_one(
                    {"_id": tid},
                    {"$set": {"state": CREDITED, "payment_id": leg_id, "request_to_pay": True,
                              "credited_at": now_utc()},
                     "$setOnInsert": {"merchant_id": item.merchant_id}},
                    upsert=True,
                )  # fmt: skip
                return "committed"
        try:
            [reply] = await shard.hub_credits([item])
        except Exception as exc:
            log.warning("shard did not answer the credit of hub transfer %s: %s", tid, exc)
            return "waiting"
        if reply.status not in (200, 201):
            log.warning("credit of hub transfer %s not stored yet: %s", tid, reply.body)
            return "waiting"
        await self.credits.update_one(
            {"_id": tid},
            {"$set": {"state": CREDITED, "payment_id": reply.body["id"], "credited_at": now_utc()},
             "$setOnInsert": {"merchant_id": item.merchant_id}},
            upsert=True,
        )  # fmt: skip
        return "committed"

    async def _pay_leg(self, shard: ShardPort, item: HubCreditIn, leg_id: str) -> str:
        """Offer a committed hub transfer to the debit leg it names (switch/hub/requests.py):
        "paid" (by this transfer, now or before), "other" (it does not fit: an ordinary credit
        instead) or "waiting" (the shard did not answer, or the leg's change is not stored yet:
        the recovery pass drives it again)."""
        try:
            [read] = await shard.get_payments([(item.merchant_id, leg_id)])
            if read.status == 404:
                return "other"
            if read.status != 200:
                return "waiting"
            bank = str(item.payer.get("bank_code") or "")
            why = rtp.mismatch(read.body, item.transfer_id, item.amount_minor, bank)
            if why is not None:
                log.info("hub transfer %s does not pay %s: %s", item.transfer_id, leg_id, why)
                return "other"
            if read.body["status"] == "succeeded":
                return "paid"
            refs = ProviderRefs(receipt=item.transfer_id, transaction_date=item.committed_at)
            outcome = ProviderOutcome(Event.SUCCEED, refs, amount_minor=item.amount_minor)
            callback = CallbackIn(leg_id, outcome, None, methods=frozenset({rtp.METHOD}))
            await shard.apply_callbacks([callback])
            [after] = await shard.get_payments([(item.merchant_id, leg_id)])
        except Exception as exc:
            log.warning("shard did not answer about %s (hub transfer %s): %s", leg_id,
                        item.transfer_id, exc)  # fmt: skip
            return "waiting"
        if after.status != 200 or after.body["status"] in ("pending", "processing"):
            return "waiting"
        receipt = (after.body.get("provider") or {}).get("receipt")
        if after.body["status"] == "succeeded" and receipt == item.transfer_id:
            return "paid"
        return "other"  # paid by another transfer meanwhile, or failed: an ordinary credit


ACCOUNT: dict[str, Any] = {
    "type": "object",
    "required": ["object", "id", "bank_code", "account_number", "party", "currency", "status"],
    "properties": {
        "object": {"type": "string", "enum": ["collection_account"]},
        "id": {"type": "string", "description": "<bank code>:<account number>"},
        "bank_code": {"type": "string", "description": "The switch's own bank code"},
        "account_number": {"type": "string", "description": "10 digits, the last a check digit"},
        "party": {"type": "object", "description": "How a bank names it in a hub transfer"},
        "currency": {"type": "string"},
        "status": {"type": "string", "enum": ["active", "closed"]},
        "created_at": {"type": "string"},
    },
}
ROUTE_TABLE = (
    Route(
        "POST",
        "/v1/merchant/collection-account",
        issue,
        TAG,
        "Issue your collection account at the switch (banks pay you through the hub)",
        {
            201: json_answer("Issued", ACCOUNT),
            200: json_answer("Your account, issued already", ACCOUNT),
        },
        body_required=False,
        errors=(409, 503),
    ),
    Route(
        "GET",
        "/v1/merchant/collection-account",
        read,
        TAG,
        "Your collection account",
        {200: json_answer("Your account", ACCOUNT)},
        errors=(404,),
    ),
    Route(
        "POST",
        "/v1/merchant/collection-account/close",
        close,
        TAG,
        "Close your collection account: transfers to it are refused from now on",
        {200: json_answer("Closed", ACCOUNT)},
        body_required=False,
        errors=(404,),
    ),
)
