"""What the shard's webhook delivery needs from the world (:class:`WebhookPort`): a merchant's
endpoints, the delivery log (written in batches), the endpoints' failure records and the audit
trail. :class:`MongoWebhooks` is the switch's; actors/shard/memory_store.py has one for tests."""

from __future__ import annotations

from typing import Any, Protocol

from infra.audit import AuditLog
from infra.group_commit import GroupCommit
from infra.storage.mongo import Collections, Doc
from infra.webhook_store import (
    disable_failing,
    endpoints_of,
    mark_failing,
    mark_healthy,
    write_log,
)
from switch.platform import endpoint_owners
from switch.webhooks import LogEntry


class WebhookPort(Protocol):
    async def endpoints(self, merchant_id: str) -> list[Doc]:
        """The merchant's endpoints (its ``webhook_url`` made the first one, once); a
        sub-merchant without endpoints of its own: its aggregator's."""

    async def record(self, entry: LogEntry) -> None:
        """Log one attempt (grouped with others into one write)."""

    async def mark_failing(self, endpoint_id: str, since: Any) -> None:
        """The endpoint has failed every delivery since ``since`` (kept if already set)."""

    async def mark_healthy(self, endpoint_id: str) -> None:
        """A delivery to the endpoint succeeded: its failure record is cleared."""

    async def disable(self, endpoint_id: str, reason: str) -> Doc | None:
        """Disable a failing endpoint; the endpoint when this call did it, else None."""

    async def audit(self, action: str, target: str, before: Any, after: Any) -> None:
        """Append to the audit trail, as the switch itself."""


LOG_WINDOW_S = 0.05


class MongoWebhooks:
    def __init__(self, cols: Collections) -> None:
        self.cols = cols
        # The summary of first-try deliveries is one document per merchant and write
        # (infra/webhook_store.py). Deliveries come in bursts (the payments a tick settled), so a
        # longer window hardly lengthens a summary: 0.25 s left it at 0.30 documents a payment in
        # the bench (8 merchants), as 0.05 s did; the log keeps showing attempts at once.
        self._log: GroupCommit[LogEntry, None] = GroupCommit(self._write, window=LOG_WINDOW_S)
        self._audit = AuditLog(cols.audit)

    def start(self) -> None:
        self._log.start()

    async def stop(self) -> None:
        await self._log.stop()

    async def endpoints(self, merchant_id: str) -> list[Doc]:
        for owner in endpoint_owners(merchant_id):
            found = await endpoints_of(self.cols, owner)
            if found:
                return found
        return []

    async def record(self, entry: LogEntry) -> None:
        await self._log.submit(entry)

    async def _write(self, entries: list[LogEntry]) -> list[None]:
        await write_log(self.cols, entries)
        return [None] * len(entries)

    async def mark_failing(self, endpoint_id: str, since: Any) -> None:
        await mark_failing(self.cols, endpoint_id, since)

    async def mark_healthy(self, endpoint_id: str) -> None:
        await mark_healthy(self.cols, endpoint_id)

    async def disable(self, endpoint_id: str, reason: str) -> Doc | None:
        return await disable_failing(self.cols, endpoint_id, reason)

    async def audit(self, action: str, target: str, before: Any, after: Any) -> None:
        await self._audit.append("switch", action, target, before=before, after=after)
