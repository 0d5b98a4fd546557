"""The SACCO gateway: money into and out of SACCO member accounts, for every SACCO in the
registry (:mod:`connectors.sacco.registry`), whichever way each is reached. This module only
checks an order against the registry and routes it; the two ways live apart:

- API SACCOs (Fineract-shaped core banking): :mod:`connectors.sacco.api_gateway`, one
  :class:`SaccoApiGateway` per SACCO on the common gateway loop (retry policy, breaker, slots).
- File SACCOs (CSV batch files through an outbox, result files back):
  :mod:`connectors.sacco.files_gateway`, with the flush and ingest loops.

Outcomes (:mod:`connectors.sacco.outcomes`): SUCCEED (booked; receipt = the SACCO's transaction id,
receiver_name = the member), QUEUED (a file line written to its batch), DECLINE (a business
rule, or a FAILED result line), REJECTED (unknown member or SACCO, bad request, or nothing sent
because the SACCO was unreachable or its circuit is open), ANSWER_LOST.

``check`` answers a :class:`QueryResult` whose outcome is final (SUCCEED/DECLINE), pending
(event None), pending with ``failure.code == "not_found"`` (the SACCO has no such transaction /
the line was never written: nothing was sent, or for an API SACCO a request may still be in
flight; the shard decides by age), or None (the question itself failed; ask again).
``StatusCheck.provider_ref`` should carry the SACCO code; without it the gateway uses what it
remembers, then asks every API SACCO.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from connectors.sacco import outcomes as out
from connectors.sacco.api import SaccoApiConnector
from connectors.sacco.api_gateway import SaccoApiGateway
from connectors.sacco.files_gateway import Deliver, SaccoFiles
from connectors.sacco.orders import SaccoOrder
from connectors.sacco.outbox import Outbox
from connectors.sacco.registry import Registry, registry_from
from connectors.transport import AiohttpTransport, Transport
from switch.breaker import Breaker
from switch.config import Settings
from switch.messages import ProviderOutcome, QueryResult, StatusCheck, SubmitResult

MAX_REMEMBERED = 200_000  # payment id -> API SACCO hints kept for check()


class SaccoGatewayCore:
    def __init__(
        self,
        registry: Registry,
        transport: Transport,
        outbox_dir: str | Path,
        deliver: Deliver,
        *,
        flush_interval: float = 5.0,
        timeout: float = 10.0,
        retries: int = 3,
        retry_base: float = 0.2,
        concurrency: int = 64,
        breaker_threshold: int = 5,
        breaker_cool_down: float = 10.0,
        outboxes: Mapping[str, Outbox] | None = None,
        owns_transport: bool = False,
    ) -> None:
        self.registry = registry
        self.transport = transport
        self._owns_transport = owns_transport
        # One breaker and one set of slots per API SACCO: a SACCO that is down or slow cannot
        # hold back the others (one transport, one connection pool, for all of them).
        self.api = {
            s.code: SaccoApiGateway(
                SaccoApiConnector(s, timeout),
                transport,
                concurrency,
                retries,
                retry_base,
                Breaker(breaker_threshold, breaker_cool_down),
            )
            for s in registry.of("api")
        }
        self.files = SaccoFiles(
            registry.of("file"), Path(outbox_dir), deliver, flush_interval, outboxes
        )
        self._api_of: dict[str, str] = {}  # payment id -> API SACCO code (memory only)

    async def start(self) -> None:
        await self.files.start()

    async def stop(self) -> None:
        await self.files.stop()
        if self._owns_transport:
            await self.transport.close()

    # --- submit ----------------------------------------------------------------------------

    async def submit(self, orders: list[SaccoOrder]) -> list[SubmitResult]:
        outcomes = await asyncio.gather(*(self._submit_one(o) for o in orders))
        return [SubmitResult(o.payment_id, out) for o, out in zip(orders, outcomes, strict=True)]

    async def _submit_one(self, order: SaccoOrder) -> ProviderOutcome:
        sacco = self.registry.get(order.sacco_code)
        if sacco is None:
            return out.rejected(None, "unknown_sacco", f"no SACCO with code {order.sacco_code!r}")
        if not sacco.member_number_ok(order.member_number):
            return out.rejected(sacco, "invalid_member_number", "member number has the wrong form")
        if order.amount_minor <= 0:
            return out.rejected(sacco, "invalid_amount", "the amount must be positive")
        if sacco.integration == "file":
            return await self.files.submit_one(order)
        self._api_of[order.payment_id] = sacco.code
        if len(self._api_of) > MAX_REMEMBERED:  # a hint only: check() can ask every SACCO
            self._api_of.pop(next(iter(self._api_of)))
        return await self.api[sacco.code].submit_one(order)

    # --- status ----------------------------------------------------------------------------

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]:
        return list(await asyncio.gather(*(self._check_one(r) for r in requests)))

    async def _check_one(self, req: StatusCheck) -> QueryResult:
        pid = req.payment_id
        named = self.registry.get(req.provider_ref or "")
        file_code = named.code if named else self.files.writer_of(pid)
        if file_code in self.files.sides:
            return out.query_result(pid, self.files.status(file_code, pid))
        if named is not None:
            codes = [named.code]
        elif pid in self._api_of:
            codes = [self._api_of[pid]]
        else:
            codes = list(self.api)
        answers = [await self.api[c].status(pid) for c in codes]
        final = next((a for a in answers if a is not None and a.event is not None), None)
        if final is not None:
            return QueryResult(pid, final)
        asked = [a for a in answers if a is not None]
        if not codes or len(asked) < len(answers):
            return QueryResult(pid, None)  # some SACCO could not be asked: ask again later
        return out.query_result(pid, asked[0])

    # --- member lookup ---------------------------------------------------------------------

    async def lookup(self, sacco_code: str, member_number: str) -> dict[str, str]:
        """The member's name (``name``), or ``error`` in plain words with an ``error_code``:
        unknown_sacco, invalid_member_number, lookup_unsupported (file SACCO),
        account_not_found, provider_unavailable."""
        sacco = self.registry.get(sacco_code)
        if sacco is None:
            return out.lookup_error("unknown_sacco", f"no SACCO with code {sacco_code!r}")
        if not sacco.member_number_ok(member_number):
            message = f"{member_number!r} is not a {sacco.name} member number"
            return out.lookup_error("invalid_member_number", message)
        if sacco.integration == "file":
            message = f"{sacco.name} exchanges files; members cannot be looked up"
            return out.lookup_error("lookup_unsupported", message)
        return await self.api[sacco.code].lookup(member_number)


def sacco_gateway_from(
    settings: Settings,
    deliver: Deliver,
    transport: Transport | None = None,
    registry: Registry | None = None,
) -> SaccoGatewayCore:
    """The gateway as the settings describe it (registry file or the sandbox registry)."""
    return SaccoGatewayCore(
        registry or registry_from(settings.sacco_registry_file),
        transport or AiohttpTransport(),
        settings.sacco_outbox_dir,
        deliver,
        flush_interval=settings.sacco_flush_interval,
        timeout=settings.provider_timeout,
        retries=settings.provider_retries,
        concurrency=settings.provider_concurrency,
        breaker_threshold=settings.breaker_threshold,
        breaker_cool_down=settings.breaker_cool_down,
        owns_transport=transport is None,
    )
