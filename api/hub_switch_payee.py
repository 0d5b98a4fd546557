"""The switch as a hub participant and payee (issue 14, item 6): a bank sends to an M-Pesa or
Airtel wallet or a SACCO member account, parties no participant holds but the switch's rails
reach (:mod:`switch.hub.reach`).

At start every api process makes sure the switch's participant (:data:`SWITCH_PARTICIPANT`,
no endpoint: its notices are not sent, it answers in-process) and its **hub float merchant**
exist. The float merchant is an ordinary merchant whose balance pays these payouts; it is funded
as any merchant balance is (in production by the operator from what the hub's settlements pay
the switch, since each committed transfer to the switch leaves the switch owed by the scheme;
in sandbox by ``/v1/sandbox/fund``).

A bank's transfer to such a party is reserved on its position as usual (the position actor
decides; the switch's reservation lasts ``SWITCH_HUB_SWITCH_PAYEE_TTL``, longer than any
payout's recovery). Then :class:`SwitchPayee` drives it: it creates the payout on the float
merchant with an Idempotency-Key derived from the hub transfer id (one transfer, one payout,
however often it is driven), waits for the payout's own outcome, and answers the hub as the
payee: accept (commit) when it succeeded, reject (abort, the reservation released) when it
failed or was refused. An unknown outcome waits: the payout's recovery (callbacks, Transaction
Status) settles it, and a periodic pass drives every reserved transfer to the switch again, in
any api process, after a restart too. The hub answers a second accept or reject of a final
transfer with 409 and moves nothing, so two drivers never commit twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import web
from pymongo.errors import DuplicateKeyError

from actors.hub.machine import Fulfil
from actors.hub.port import HubPort
from api.background import stop_task
from api.hub_collections import CollectionPayee, is_collection
from api.state import STATE, AppState
from infra.hub_store import HubStore
from infra.leases import Leases
from infra.merchants import create_merchant
from routing.operators import operator_of
from switch.hub import reach
from switch.hub.participants import CURRENCY, DEFAULT_ALARM_BPS
from switch.hub.states import HubState
from switch.idempotency import scoped_key
from switch.ids import payment_id_for, random_token
from switch.messages import CreatePayment, Reply
from switch.payments import now_utc
from switch.rails import rail

log = logging.getLogger(__name__)
FLOAT_NAME = "Hub float"
POLL_S = 0.2  # how often a driver reads its payout while it waits in this pass
WAIT_S = 20.0  # then the payout's recovery and the next pass take over


def payout_for(state: AppState, party: dict[str, Any]) -> reach.SwitchPayout | None:
    """The payout that reaches a hub party ``{"type", "id"}``, None when the switch's rails do
    not reach it. ``id`` is normalised already (an MSISDN '2547...', ``CODE:member``)."""
    kind, value = party.get("type"), str(party.get("id", ""))
    if kind == "MSISDN":
        return reach.wallet(value, operator_of(value))
    if kind == "SACCO":
        code, _, member = value.partition(":")
        sacco = state.saccos.get(code)
        return reach.sacco_member(
            code, member, {code: sacco is not None and sacco.member_number_ok(member)}
        )
    return None


async def ensure_switch_participant(state: AppState, store: HubStore) -> str:
    """Make the switch's participant and its float merchant if missing; the float merchant's id.
    Idempotent, and safe in several api processes at once: the participant is an upsert of a
    fixed id; two processes may each make a float merchant, only the first one recorded is used
    (the other stays an empty merchant nobody pays from)."""
    doc = {
        "name": reach.SWITCH_NAME,
        "kind": "wallet",
        "endpoint_url": "",  # it answers in-process: no notices are sent to it
        "webhook_secret": "",
        "status": "active",
        "currency": CURRENCY,
        "net_debit_cap": 0,  # it is only ever a payee
        "alarm_bps": DEFAULT_ALARM_BPS,
        "system": True,
        "created_at": now_utc(),
    }
    if state.settings.hub_switch_bank_code:
        # Its own bank code (for collection accounts), configurable: CBK assigns none to a
        # payment switch that is not a bank, so the default is none (unverified).
        doc["bank_code"] = state.settings.hub_switch_bank_code
    await store.participants.update_one(
        {"_id": reach.SWITCH_PARTICIPANT}, {"$setOnInsert": doc}, upsert=True
    )
    found = await store.participants.find_one({"_id": reach.SWITCH_PARTICIPANT})
    code = state.settings.hub_switch_bank_code
    if found is not None and code and found.get("bank_code") != code:
        try:  # configured after the participant was made (collection accounts need it)
            await store.participants.update_one(
                {"_id": reach.SWITCH_PARTICIPANT}, {"$set": {"bank_code": code}}
            )
        except DuplicateKeyError:
            log.error("bank code %s is another participant's: the switch keeps none", code)
    if found is not None and found.get("float_merchant"):
        return str(found["float_merchant"])
    made = await create_merchant(state.cols, FLOAT_NAME, None, actor="hub:switch")
    await store.participants.update_one(
        {"_id": reach.SWITCH_PARTICIPANT, "float_merchant": {"$exists": False}},
        {"$set": {"float_merchant": made.merchant_id}},
    )
    again = await store.participants.find_one({"_id": reach.SWITCH_PARTICIPANT})
    assert again is not None
    return str(again["float_merchant"])


class SwitchPayee:
    """Drives the hub transfers paid to the switch: payout, then commit or abort."""

    def __init__(self, state: AppState, hub: HubPort, store: HubStore) -> None:
        self.state = state
        self.hub = hub
        self.store = store
        # transfer id -> the float merchant its payout is made on, recorded once before the
        # payout: the operator may name another float merchant later, and an Idempotency-Key
        # is per merchant, so a transfer must never be paid from a second one.
        self.payouts = store.participants.database["hub_switch_payouts"]
        self.driving: set[str] = set()
        self.tasks: set[asyncio.Task[str]] = set()
        self.collections = CollectionPayee(state, hub, store)

    def start(self, transfer_id: str) -> None:
        """Drive a transfer in the background (the bank's request is answered at once)."""
        if transfer_id in self.driving:
            return
        task = asyncio.create_task(self.drive(transfer_id))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drive(self, transfer_id: str) -> str:
        """Take one transfer as far as it can go now: "committed", "aborted", or "waiting"."""
        if transfer_id in self.driving:
            return "waiting"
        self.driving.add(transfer_id)
        try:
            return await self._drive(transfer_id)
        except Exception:
            log.exception("hub transfer %s to the switch: drive failed; retried later", transfer_id)
            return "waiting"
        finally:
            self.driving.discard(transfer_id)

    async def _drive(self, transfer_id: str) -> str:
        doc = await self.store.transfers.find_one({"_id": transfer_id})
        if doc is None or doc["payee"] != reach.SWITCH_PARTICIPANT:
            return "waiting"
        if is_collection(self.state, dict(doc.get("party") or {})):
            return await self.collections.drive(doc)  # a merchant's account: credited
        if doc["state"] != HubState.RESERVED.value:
            return "done"
        payout = payout_for(self.state, dict(doc.get("party") or {}))
        if payout is None:  # checked at prepare; only a SACCO removed since can get here
            return await self._answer(transfer_id, False, "the switch no longer reaches the party")
        merchant = await self._merchant_for(transfer_id)
        created = await self._create(merchant, transfer_id, int(doc["amount"]), payout)
        if created.status >= 500:
            return "waiting"
        if created.status >= 300:
            # Refused (balance, limits, no route)? A refusal of a repeat can come before the
            # shard finds the payout it made the first time (routing answers first, after a
            # restart), so the payout the key names is read before anything is aborted.
            payout_id = self._payout_id(merchant, transfer_id)
            found = await self._read(merchant, payout_id)
            if found.status == 404:
                reason = str(created.body.get("error", {}).get("message", "payout refused"))
                return await self._answer(transfer_id, False, f"payout refused: {reason}"[:200])
            if found.status != 200:
                return "waiting"
            verdict = reach.outcome(str(found.body.get("status", "")))
        else:
            payout_id = str(created.body["id"])
            verdict = reach.outcome(str(created.body["status"]))
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while verdict is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(POLL_S)
            verdict = reach.outcome(await self._status(merchant, payout_id))
        if verdict is None:
            return "waiting"  # the payout's recovery settles it; the next pass comes back
        reason = "" if verdict else f"payout {payout_id} failed"
        return await self._answer(transfer_id, verdict, reason)

    async def _merchant_for(self, transfer_id: str) -> str:
        found = await self.store.participants.find_one(
            {"_id": reach.SWITCH_PARTICIPANT}, {"float_merchant": 1}
        )
        assert found is not None  # made at start
        doc = {"_id": transfer_id, "merchant_id": found["float_merchant"], "at": now_utc()}
        try:
            await self.payouts.insert_one(doc)
        except DuplicateKeyError:
            doc = await self.payouts.find_one({"_id": transfer_id}) or doc
        return str(doc["merchant_id"])

    async def _create(
        self, merchant: str, transfer_id: str, amount: int, payout: reach.SwitchPayout
    ) -> Reply:
        key = reach.payout_key(transfer_id)
        command = CreatePayment(
            merchant_id=merchant,
            idem_key=key,
            request_hash=key,  # the same transfer always makes the same request
            method=payout.method,
            amount_minor=amount,
            phone=payout.phone,
            reference=transfer_id[-12:],
            description=f"Hub transfer {transfer_id[-12:]}",
            metadata={"hub_transfer": transfer_id},
            command=rail(payout.method).default_command,
            destination=payout.destination,
            direction="payout",
        )
        shard = self.state.router.shard_of_merchant(merchant)
        try:
            return await self.state.router.create_payments[shard].call(command)
        except Exception as exc:
            log.warning("shard %d did not answer the hub payout of %s: %s", shard, key, exc)
            return Reply(503, {})

    def _payout_id(self, merchant: str, transfer_id: str) -> str:
        """The id the shard gives the payout of this transfer's key (switch/ids.py)."""
        shard = self.state.router.shard_of_merchant(merchant)
        scoped = scoped_key(merchant, reach.payout_key(transfer_id))
        return payment_id_for(shard, self.state.secret_key, scoped)

    async def _read(self, merchant: str, payout_id: str) -> Reply:
        shard = self.state.router.shard_of_merchant(merchant)
        return await self.state.router.get_payments[shard].call((merchant, payout_id))

    async def _status(self, merchant: str, payout_id: str) -> str:
        reply = await self._read(merchant, payout_id)
        return str(reply.body.get("status", "")) if reply.status == 200 else ""

    async def _answer(self, transfer_id: str, accept: bool, reason: str) -> str:
        command = Fulfil(transfer_id, reach.SWITCH_PARTICIPANT, accept, reason)
        [reply] = await self.hub.fulfil([command])
        if reply.status == 200:
            return "committed" if accept else "aborted"
        if reply.status == 409:
            return "done"  # answered already (another driver): nothing moved this time
        return "waiting"

    async def sweep(self) -> None:
        """Drive every transfer to the switch still reserved (after a restart, a lost task, an
        outcome that came late)."""
        cursor = self.store.transfers.find(
            {"payee": reach.SWITCH_PARTICIPANT, "state": HubState.RESERVED.value}, {"_id": 1}
        )
        ids = [d["_id"] async for d in cursor]
        # Collection credits accepted but not stored yet (their transfers are committed).
        ids += [i for i in await self.collections.pending() if i not in ids]
        await asyncio.gather(*(self.drive(i) for i in ids if i not in self.driving))

    async def run(self, interval: float) -> None:
        """The recovery pass, in one api process at a time (the ``hub_switch_payee`` lease):
        each process drives the transfers it reserved itself, and one more driver is enough
        for the rest."""
        leases, holder = (
            Leases(self.store.transfers.database["leases"]),
            f"hubpay_{random_token(9)}",
        )
        while True:
            await asyncio.sleep(interval)
            try:
                if await leases.take("hub_switch_payee", holder, now_utc(), interval * 3):
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub switch payee pass failed; next in %ss", interval)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self.tasks, return_exceptions=True)


PAYEE = web.AppKey("hub_switch_payee", SwitchPayee)
TASK = web.AppKey("hub_switch_payee_task", asyncio.Task[None])


def payee_of(app: web.Application) -> SwitchPayee | None:
    return app.get(PAYEE)


async def _start(app: web.Application) -> None:
    state = app[STATE]
    if state.actors.hub is None:
        return
    store = HubStore(state.cols.payments.database)
    await store.ensure_indexes()
    await ensure_switch_participant(state, store)
    await state.actors.hub.participant_changed(reach.SWITCH_PARTICIPANT)
    payee = SwitchPayee(state, state.actors.hub, store)
    await payee.collections.ensure_indexes()
    app[PAYEE] = payee
    app[TASK] = asyncio.create_task(
        payee.run(state.settings.hub_switch_check_interval), name="hub-switch-payee"
    )


async def _stop(app: web.Application) -> None:
    if app.get(TASK) is None:
        return
    await stop_task(app[TASK])
    await app[PAYEE].stop()


def install(app: web.Application) -> None:
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
