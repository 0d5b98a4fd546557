"""Signed webhooks to participants, after the commit, with the switch's own sending and signing
(:func:`infra.webhook_sender.post_event`, Standard Webhooks headers). A participant's endpoint is
its one target; a failing one is retried with the webhook backoff a few times. A lost
notification costs no money: an unanswered transfer expires and releases its reservation.
A participant that chose ISO 20022 gets its notices from :mod:`actors.hub.notify_iso`
instead, with the same retries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson

from actors.hub.machine import Notice
from actors.hub.notify_iso import IsoDelivery
from connectors.transport import Transport
from infra.webhook_sender import post_event
from switch.hub.participants import Participant
from switch.payments import iso, now_utc
from switch.retry import webhook_delay
from switch.webhooks import ALL_EVENTS, Target

log = logging.getLogger(__name__)


class ParticipantNotifier:
    def __init__(
        self,
        transport: Transport,
        participant_of: Callable[[str], Participant | None],
        timeout: float,
        base: float,
        attempts: int = 5,
    ) -> None:
        self._transport = transport
        self._participant_of = participant_of
        self._timeout = timeout
        self._base = base
        self._attempts = attempts
        self._tasks: set[asyncio.Task[None]] = set()
        self.iso = IsoDelivery(transport, participant_of)

    def send(self, notices: list[Notice]) -> None:
        for notice in notices:
            task = asyncio.create_task(self._deliver(notice))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver(self, notice: Notice) -> None:
        body = orjson.dumps(
            {
                "id": notice.event_id,
                "type": notice.type,
                "created_at": iso(now_utc()),
                "data": notice.data,
            }
        )
        for attempt in range(1, self._attempts + 1):
            p = self._participant_of(notice.participant)
            if p is None or not p.endpoint_url:
                return
            if p.format == "iso20022":
                if await self.iso.deliver(notice, p, self._timeout):
                    return
            elif await self._post(notice, p, body, attempt):
                return
            await asyncio.sleep(webhook_delay(attempt, self._base, 60.0))
        log.warning("hub notice %s to %s given up", notice.event_id, notice.participant)

    async def _post(self, notice: Notice, p: Participant, body: bytes, attempt: int) -> bool:
        target = Target(p.id, p.endpoint_url, (p.webhook_secret,), (ALL_EVENTS,), True)
        outcome = await post_event(self._transport, target, notice.event_id, body, self._timeout)
        if not outcome.ok:
            log.info(
                "hub notice %s to %s failed (%s), attempt %d",
                notice.event_id,
                p.id,
                outcome.error or outcome.status_code,
                attempt,
            )
        return outcome.ok
