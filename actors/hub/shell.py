"""The hub position actor's shell: one queue of commands, taken in batches; each batch decided
by the machine, written in ONE MongoDB transaction (transfers, funds records, journal entries and
the balances they move), then applied to memory, answered, and notified. Nobody is answered
before the commit. A sweep expires unanswered reservations through the same queue, so every
change to a position has one writer, in order.

If a new transfer's id exists in the database although memory did not know it (a duplicate after
a restart), the batch's transaction fails on the primary key: the shell reads those transfers,
teaches the machine, and decides the batch again (nothing of the failed one was applied). Any
other failure answers the batch 503; callers retry with the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, PyMongoError

from actors.hub.machine import CONTROL, Command, HubMachine, Plan, error_reply
from actors.hub.notify import ParticipantNotifier
from actors.writer import reclaim_session
from infra.hub_metrics import POSITION_ALARM, POSITION_USED, TRANSFERS
from infra.hub_store import HubStore, SettlementNotPending
from switch.hub import ledger
from switch.hub import participants as parts
from switch.hub.positions import Position, alarm_level
from switch.hub.transfers import held
from switch.messages import Reply
from switch.payments import now_utc

log = logging.getLogger(__name__)

_EXPIRE = object()  # the sweep's marker in the queue
UNAVAILABLE = Reply(
    503,
    {
        "error": {
            "code": "temporarily_unavailable",
            "message": "the hub could not record this; retry with the same key",
            "details": [],
        }
    },
    retry_after=1,
)


@dataclass
class _Waiting:
    command: Any
    done: asyncio.Future[Reply]


class HubShell:
    def __init__(
        self,
        client: AsyncMongoClient[Any],
        store: HubStore,
        notifier_of: Callable[[Callable[[str], parts.Participant | None]], ParticipantNotifier],
        *,
        window: float = 0.002,
        max_batch: int = 500,
        sweep_interval: float = 1.0,
        gross_from: int = 0,
    ) -> None:
        self.client = client
        self.store = store
        self.machine = HubMachine("", gross_from)
        self.notifier = notifier_of(self.machine.participants.get)
        self.window = window
        self.max_batch = max_batch
        self.sweep_interval = sweep_interval
        self.queue: list[_Waiting] = []
        self.wakeup = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.session: Any = None
        self.batches = 0

    # --- start ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild from MongoDB: participants, their balances, the open reservations."""
        await self.store.ensure_indexes()
        self.machine.window_id = await self.store.open_window()
        self.machine.window_commits = await self.store.window_commits(self.machine.window_id)
        docs = await self.store.all_participants()
        accounts = [a for d in docs for a in parts.accounts(d["_id"], d["currency"]).values()]
        balances = await self.store.balances_of(accounts)
        opened = await self.store.open_transfers()
        holds = held(opened)
        for doc in docs:
            p = parts.from_doc(doc)
            journal = balances.get(ledger.position(p.id, p.currency), 0)
            cover = -balances.get(ledger.settlement(p.id, p.currency), 0)
            reserved, gross = holds.get(p.id, (0, 0))
            at = Position(journal - reserved, reserved, cover, p.net_debit_cap, gross)
            self.machine.load_participant(p, at)
        self.machine.learn(opened)
        for doc in await self.store.funds_records():
            self.machine.funds[doc["_id"]] = (doc["request_hash"], Reply(200, doc["answer"]))
        # A position actor killed mid-commit leaves its transaction open on the balances and
        # transfers it touched: abort it first, or every batch meets WriteConflict for 60 s.
        settings = self.store.participants.database["settings"]
        self.session = await reclaim_session(self.client, settings, "writer-session-hub", "hub")
        self.tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._sweep())]
        log.info("hub started: %d participants, %d open transfers", len(docs), len(opened))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.notifier.stop()
        if self.session is not None:
            await self.session.end_session()

    # --- what the port asks ----------------------------------------------------------------

    async def submit(self, commands: list[Command]) -> list[Reply]:
        loop = asyncio.get_running_loop()
        waiting = [_Waiting(c, loop.create_future()) for c in commands]
        self.queue.extend(waiting)
        self.wakeup.set()
        return list(await asyncio.gather(*(w.done for w in waiting)))

    async def participant_changed(self, participant_id: str) -> None:
        """Re-read a participant the operator created or changed (status, cap, endpoint)."""
        doc = await self.store.participants.find_one({"_id": participant_id})
        if doc is not None:
            self.machine.load_participant(parts.from_doc(doc))
            self._gauge(participant_id)

    async def expire_now(self) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Reply] = loop.create_future()
        self.queue.append(_Waiting(_EXPIRE, done))
        self.wakeup.set()
        await done

    # --- the loop --------------------------------------------------------------------------

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                await self.expire_now()
            except Exception:
                log.exception("hub sweep failed")

    async def _run(self) -> None:
        while True:
            await self.wakeup.wait()
            await asyncio.sleep(self.window)
            size = _batch_size(self.queue, self.max_batch)
            batch, self.queue = self.queue[:size], self.queue[size:]
            if not self.queue:
                self.wakeup.clear()
            try:
                await self._batch(batch)
            except Exception:
                log.exception("hub batch of %d failed", len(batch))
                for w in batch:
                    if not w.done.done():
                        w.done.set_result(UNAVAILABLE)

    async def _batch(self, batch: list[_Waiting]) -> None:
        commands = [w.command for w in batch if w.command is not _EXPIRE]
        sweeps = [w for w in batch if w.command is _EXPIRE]
        missing = self.machine.unknown_fulfils(commands)
        if missing:
            self.machine.learn(await self.store.transfers_by_id(missing))
        now = now_utc()
        if sweeps:
            await self._commit(self.machine.expire(now))
            for w in sweeps:
                w.done.set_result(Reply(200, {}))
        if not commands:
            return
        plan = self.machine.decide(commands, now)
        try:
            await self._commit(plan)
        except SettlementNotPending as exc:  # a control command is a batch of its own
            batch[0].done.set_result(error_reply(409, "settlement_not_pending", str(exc)))
            return
        except (DuplicateKeyError, BulkWriteError, OperationFailure) as exc:
            if not _duplicate(exc):
                raise
            # New ids that exist already: learn them and decide again (nothing was applied).
            self.machine.learn(await self.store.transfers_by_id(t.id for t in plan.inserts))
            plan = self.machine.decide(commands, now)
            await self._commit(plan)
        waiting = [w for w in batch if w.command is not _EXPIRE]
        for w, answer in zip(waiting, plan.answers, strict=True):
            w.done.set_result(answer)

    async def _commit(self, plan: Plan) -> None:
        if not plan.empty():
            await self._write(plan)
        self.machine.apply(plan)
        self.batches += 1
        for t in [*plan.inserts, *(new for _, new in plan.updates.values())]:
            TRANSFERS.labels(t.state.value).inc()
        for pid in plan.positions:
            self._gauge(pid)
        for pid in plan.alarms:
            log.warning("hub participant %s passed its position alarm threshold", pid)
        self.notifier.send(plan.notices)

    async def _write(self, plan: Plan) -> None:
        for attempt in range(5):
            try:
                await self.store.write(
                    self.session,
                    plan.inserts,
                    plan.updates.values(),
                    plan.entries,
                    plan.funds,
                    plan.window,
                    plan.settled,
                )
                return
            except PyMongoError as exc:
                if not exc.has_error_label("TransientTransactionError") or attempt == 4:
                    raise
                await asyncio.sleep(0.002 * (attempt + 1))

    def _gauge(self, pid: str) -> None:
        p = self.machine.participants.get(pid)
        if p is None:
            return
        level = alarm_level(self.machine.positions[pid])
        POSITION_USED.labels(pid).set(level / 10_000)
        POSITION_ALARM.labels(pid).set(1 if level >= p.alarm_bps else 0)


def _batch_size(queue: list[_Waiting], most: int) -> int:
    """How many queued commands make the next batch: a window close or a settlement goes alone
    (its write may fail without failing transfers), the commands before it go first."""
    for i, w in enumerate(queue[:most]):
        if isinstance(w.command, CONTROL):
            return i or 1
    return most


def _duplicate(exc: Exception) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        return any(e.get("code") == 11000 for e in exc.details.get("writeErrors", []))
    return getattr(exc, "code", None) == 11000
