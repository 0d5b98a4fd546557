"""The SACCO gateway: money into and out of SACCO member accounts, for every SACCO in the
registry (:mod:`connectors.sacco.registry`), whichever way each is reached.

API SACCOs (Fineract-shaped core banking, :mod:`connectors.sacco.api`): the member is looked up
(read calls, retried freely), then ONE money-moving call carries our payment id as
``externalId``. Retry policy (money-safety rule 2, as in :mod:`actors.mpesa_gateway`): the
money-moving call is sent again only when it provably did not take effect (connection never
opened, HTTP 429/503). A timeout, a dropped connection or a 5xx becomes ``answer_lost``; a
"duplicate externalId" answer is resolved by a lookup. :meth:`SaccoGatewayCore.check` asks by
externalId afterwards. Outcomes: SUCCEED (booked; receipt = the SACCO's transaction id,
receiver_name = the member), DECLINE (a business rule: dormant account, insufficient funds, no
loan to disburse, no active loan to repay), REJECTED (unknown member or SACCO, bad request, or
nothing sent because the SACCO was unreachable or its circuit is open), ANSWER_LOST.

Purposes: ``deposit`` and ``withdrawal`` go to the member's savings account,
``loan_disbursement`` to the loan waiting for disbursal, ``loan_repayment`` to the member's
oldest active loan (:meth:`Accounts.loan_to_repay`). An overpayment is sent as it is: the SACCO
books it (the loan becomes Overpaid; ``refs.result_desc`` then says by how much, as read
before the call) or declines it (:mod:`connectors.sacco.api`).

File SACCOs (:mod:`connectors.sacco.files`; every purpose but ``withdrawal``, which needs an
answer before money leaves the member): a line joins the SACCO's pending batch and the
caller waits for the next flush tick (``settings.sacco_flush_interval``): the batch file is
written to the local journal (fsynced) and only then is every line of it answered QUEUED
(conversation_id = the batch id), so a QUEUED line cannot vanish in a crash; the journal is
published to the outbox in the same tick and again at start if a crash came in between. A
line whose submit never got its answer was never written: :meth:`check` then says
``not_found`` (provably unsent). The ingest loop reads result files, delivers their valid lines
as :class:`CallbackIn` items through ``deliver`` and archives a file only after ``deliver``
returned for all of them; rejected lines are logged and stay awaiting a result
(:meth:`awaiting_results`), never guessed.

``check`` answers a :class:`QueryResult` whose outcome is final (SUCCEED/DECLINE), pending
(event None), pending with ``failure.code == "not_found"`` (the SACCO has no such transaction /
the line was never written: nothing was sent, or for an API SACCO a request may still be in
flight; the shard decides by age), or None (the question itself failed; ask again).
``StatusCheck.provider_ref`` should carry the SACCO code; without it the gateway uses what it
remembers, then asks every API SACCO.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from connectors.http import HttpRequest, HttpResponse, NotSent, OutcomeUnknown
from connectors.sacco import files
from connectors.sacco.api import (
    Accounts,
    ApiError,
    Member,
    MemberNotFound,
    Posted,
    SaccoApiConnector,
    Transaction,
    TransactionNotFound,
)
from connectors.sacco.files import Batch, BatchLine, ResultLine
from connectors.sacco.journal import Journal
from connectors.sacco.outbox import FolderOutbox, Outbox
from connectors.sacco.registry import Registry, Sacco, registry_from
from connectors.sacco.tracker import FileTracker, Written
from connectors.transport import AiohttpTransport, Transport
from switch.breaker import Breaker
from switch.config import Settings
from switch.messages import (
    CallbackIn,
    ProviderOutcome,
    QueryResult,
    SaccoOrder,
    StatusCheck,
    SubmitResult,
)
from switch.metrics import PROVIDER_CALLS, PROVIDER_LATENCY
from switch.outcomes import answer_lost
from switch.payments import Failure, ProviderRefs
from switch.rails import RAILS
from switch.retry import backoff
from switch.states import Event

log = logging.getLogger(__name__)
# A result file speaks only of the SACCO payments the switch put in its batch files.
_FILE_METHODS = frozenset(m for m, r in RAILS.items() if r.provider == "sacco")

Deliver = Callable[[list[CallbackIn]], Awaitable[list[str]]]
"""Hands result lines to the payments' shards; one verdict per item (applied, duplicate, ...)."""

T = TypeVar("T")
NOT_FOUND = "not_found"
NO_ACTIVE_LOAN = "no_active_loan"
MAX_REMEMBERED = 200_000  # payment id -> API SACCO hints kept for check()


class _Lost(Exception):
    """A money-moving call that may have taken effect."""


@dataclass(slots=True)
class _FileSide:
    sacco: Sacco
    outbox: Outbox
    journal: Journal
    tracker: FileTracker = field(default_factory=FileTracker)
    pending: dict[str, tuple[BatchLine, asyncio.Future[ProviderOutcome]]] = field(
        default_factory=dict
    )


# --- outcomes in the SACCO's words ------------------------------------------------------------


def rejected(sacco: Sacco | None, code: str, message: str) -> ProviderOutcome:
    who = sacco.name if sacco else "The SACCO gateway"
    failure = Failure("rejected", f"{who} refused the request: {message}", code)
    return ProviderOutcome(Event.REJECTED, failure=failure)


def declined(
    sacco: Sacco, code: str, message: str, refs: ProviderRefs | None = None
) -> ProviderOutcome:
    failure = Failure("declined", f"{sacco.name} declined: {message}", code)
    return ProviderOutcome(Event.DECLINE, refs=refs, failure=failure)


def unavailable(sacco: Sacco, last: str, retry_after: float | None = None) -> ProviderOutcome:
    message = f"{sacco.name} did not take the request ({last}); no money moved"
    failure = Failure("provider_unavailable", message)
    return ProviderOutcome(Event.REJECTED, failure=failure, retry_after=retry_after)


def succeeded(
    receipt: str, amount_minor: int, name: str | None, desc: str | None = None
) -> ProviderOutcome:
    refs = ProviderRefs(
        receipt=receipt, receiver_name=name or None, result_code="0", result_desc=desc
    )
    return ProviderOutcome(Event.SUCCEED, refs=refs, amount_minor=amount_minor)


def not_found(message: str, refs: ProviderRefs | None = None) -> ProviderOutcome:
    return ProviderOutcome(None, refs=refs, failure=Failure(NOT_FOUND, message))


def from_result_line(sacco: Sacco, batch_id: str, line: ResultLine) -> ProviderOutcome:
    """A result-file line as a final outcome."""
    if line.status == "PAID":
        refs = ProviderRefs(
            receipt=line.sacco_reference, conversation_id=batch_id, result_code="PAID"
        )
        return ProviderOutcome(Event.SUCCEED, refs=refs, amount_minor=line.amount_minor)
    refs = ProviderRefs(conversation_id=batch_id, result_code="FAILED", result_desc=line.reason)
    outcome = declined(sacco, "FAILED", line.reason or "no reason given", refs)
    return ProviderOutcome(outcome.event, refs, outcome.failure, line.amount_minor)


def overpayment_note(order: SaccoOrder, accounts: Accounts) -> str | None:
    """For a repayment above the loan balance read before the call: by how much (the SACCO
    holds the excess as a credit balance on the loan). None when not a repayment, not above
    the balance, or the balance is unknown."""
    loan = accounts.loan_to_repay() if order.purpose == "loan_repayment" else None
    owed = loan.outstanding_minor if loan else None
    if owed is None or order.amount_minor <= owed:
        return None
    return f"loan overpaid by KES {files.format_amount(order.amount_minor - owed)}"


def queued_in(batch_id: str) -> ProviderOutcome:
    return ProviderOutcome(Event.QUEUED, refs=ProviderRefs(conversation_id=batch_id))


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
        self.deliver = deliver
        self.flush_interval = flush_interval
        self.retries = retries
        self.retry_base = retry_base
        self._owns_transport = owns_transport
        self._slots = asyncio.Semaphore(concurrency)
        self.connectors = {s.code: SaccoApiConnector(s, timeout) for s in registry.of("api")}
        self.breakers = {
            s.code: Breaker(breaker_threshold, breaker_cool_down) for s in registry.of("api")
        }
        root = Path(outbox_dir)
        chosen = outboxes or {}
        self.file_sides = {
            s.code: _FileSide(
                s, chosen.get(s.code) or FolderOutbox(root / s.code), Journal(root / s.code)
            )
            for s in registry.of("file")
        }
        self._api_of: dict[str, str] = {}  # payment id -> API SACCO code (memory only)
        self._tasks: list[asyncio.Task[None]] = []
        self._flush_lock = asyncio.Lock()
        self._ingest_lock = asyncio.Lock()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Rebuild what was written and settled from the journals, publish anything staged
        but not yet published, then run the flush and ingest loops."""
        for side in self.file_sides.values():
            await self._rebuild(side)
        await self.flush()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._every(self.flush, "flush")),
            loop.create_task(self._every(self.ingest, "ingest")),
        ]

    async def stop(self) -> None:
        # A tick cancelled halfway could take pending lines without answering them, or deliver
        # a result file without recording it: let a running tick finish, then cancel the loops.
        async with self._flush_lock, self._ingest_lock:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = []
        await self.flush()  # whoever waits for a tick gets a written batch, not silence
        if self._owns_transport:
            await self.transport.close()

    async def _every(self, tick: Callable[[], Awaitable[object]], name: str) -> None:
        while True:
            await asyncio.sleep(self.flush_interval)
            try:
                await tick()
            except Exception:  # a loop that dies silently would strand every pending line
                log.exception("SACCO gateway %s tick failed; next tick retries", name)

    async def _rebuild(self, side: _FileSide) -> None:
        tracker = side.tracker = FileTracker()
        for name, data in await side.journal.batches():
            try:
                clashes = tracker.add_batch(files.parse_batch(data))
            except files.FileFormatError as exc:
                log.error("SACCO %s journal batch %s unreadable: %s", side.sacco.code, name, exc)
                continue
            if clashes:
                log.error("SACCO %s: payments in two batches: %s", side.sacco.code, clashes)
        for name, data in await side.journal.results():
            parsed = files.parse_result(data, side.sacco.code, tracker.batches)
            if parsed.batch_id is None:
                log.error("SACCO %s journal result %s unreadable", side.sacco.code, name)
                continue
            new, _ = tracker.fresh(parsed.batch_id, parsed.lines)
            tracker.settle(parsed.batch_id, new)

    # --- submit ----------------------------------------------------------------------------

    async def submit(self, orders: list[SaccoOrder]) -> list[SubmitResult]:
        outcomes = await asyncio.gather(*(self._submit_one(o) for o in orders))
        return [SubmitResult(o.payment_id, out) for o, out in zip(orders, outcomes, strict=True)]

    async def _submit_one(self, order: SaccoOrder) -> ProviderOutcome:
        sacco = self.registry.get(order.sacco_code)
        if sacco is None:
            return rejected(None, "unknown_sacco", f"no SACCO with code {order.sacco_code!r}")
        if not sacco.member_number_ok(order.member_number):
            return rejected(sacco, "invalid_member_number", "member number has the wrong form")
        if order.amount_minor <= 0:
            return rejected(sacco, "invalid_amount", "the amount must be positive")
        if sacco.integration == "file":
            return await self._submit_file(self.file_sides[sacco.code], order)
        self._api_of[order.payment_id] = sacco.code
        if len(self._api_of) > MAX_REMEMBERED:  # a hint only: check() can ask every SACCO
            self._api_of.pop(next(iter(self._api_of)))
        async with self._slots:
            return await self._submit_api(sacco, order)

    # --- API SACCOs ------------------------------------------------------------------------

    async def _submit_api(self, sacco: Sacco, order: SaccoOrder) -> ProviderOutcome:
        if not self.breakers[sacco.code].allow(time.monotonic()):
            return self._circuit_open(sacco)
        conn = self.connectors[sacco.code]
        try:
            member = await self._member(sacco, order.member_number)
            if isinstance(member, MemberNotFound):
                return rejected(sacco, "member_not_found", f"no member {order.member_number}")
            accounts = await self._read(
                sacco, "accounts", conn.accounts_request(member.client_id), conn.parse_accounts
            )
        except _ReadFailed as exc:
            return unavailable(sacco, str(exc))
        try:
            request = self._money_request(conn, order, accounts)
        except ValueError as exc:  # e.g. an id the SACCO cannot take as externalId: not sent
            return rejected(sacco, "invalid_request", str(exc))
        if isinstance(request, ProviderOutcome):
            return request
        return await self._move(sacco, order, request, member, overpayment_note(order, accounts))

    def _money_request(
        self, conn: SaccoApiConnector, order: SaccoOrder, accounts: Accounts
    ) -> HttpRequest | ProviderOutcome:
        sacco, now, note = conn.sacco, datetime.now(UTC), order.reference[:100]
        if order.purpose == "loan_disbursement":
            loan = accounts.loan_to_disburse()
            if loan is None:
                return declined(sacco, "no_loan", "the member has no loan waiting for disbursal")
            return conn.disburse_request(
                loan.account_id, order.amount_minor, order.payment_id, note, now
            )
        if order.purpose == "loan_repayment":
            loan = accounts.loan_to_repay()
            if loan is None:  # nothing sent: the shard may credit the member's savings instead
                return declined(sacco, NO_ACTIVE_LOAN, "the member has no active loan to repay")
            return conn.repayment_request(
                loan.account_id, order.amount_minor, order.payment_id, note, now
            )
        account = accounts.savings_account()
        if account is None:
            return rejected(sacco, "no_savings_account", "the member has no savings account")
        build = conn.deposit_request if order.purpose == "deposit" else conn.withdrawal_request
        return build(account.account_id, order.amount_minor, order.payment_id, note, now)

    async def _move(
        self,
        sacco: Sacco,
        order: SaccoOrder,
        request: HttpRequest,
        member: Member,
        desc: str | None = None,
    ) -> ProviderOutcome:
        """The one money-moving call: resent only when provably not taken."""
        conn, breaker = self.connectors[sacco.code], self.breakers[sacco.code]
        last = "no attempt made"
        for attempt in range(1, self.retries + 2):
            if not breaker.allow(time.monotonic()):
                return self._circuit_open(sacco)
            try:
                resp = await self._send(order.purpose, request)
            except NotSent as exc:
                breaker.failure(time.monotonic())
                last = f"not sent: {exc}"
                await self._pause(attempt)
                continue
            except OutcomeUnknown as exc:
                breaker.failure(time.monotonic())
                return answer_lost(f"{sacco.code} {order.purpose}: {exc}")
            parsed = conn.parse_posted(resp, order.payment_id)
            if isinstance(parsed, Posted):
                breaker.success()
                return succeeded(parsed.transaction_id, order.amount_minor, member.name, desc)
            if parsed.kind == "retriable":
                breaker.failure(time.monotonic())
                last = f"{parsed.http_status} {parsed.message}"
                await self._pause(attempt)
                continue
            return await self._refused(sacco, order, parsed, member)
        return unavailable(sacco, last)

    async def _refused(
        self, sacco: Sacco, order: SaccoOrder, error: ApiError, member: Member
    ) -> ProviderOutcome:
        breaker = self.breakers[sacco.code]
        if error.kind == "unknown":
            breaker.failure(time.monotonic())
            return answer_lost(f"{sacco.code} {error.http_status} {error.code} {error.message}")
        breaker.success()  # the SACCO answered: it is up
        if error.kind == "declined":
            return declined(sacco, error.code, error.message)
        if error.kind == "auth":
            return unavailable(sacco, f"credentials refused: {error.message}")
        if error.kind == "duplicate":
            # The SACCO already holds our externalId: never resend; its record decides.
            found = await self._lookup_outcome(sacco, order.payment_id)
            if found is None or found.event is None:
                return answer_lost(f"{sacco.code} says duplicate externalId; lookup inconclusive")
            return found
        return rejected(sacco, error.code, error.message)

    def _circuit_open(self, sacco: Sacco) -> ProviderOutcome:
        wait = self.breakers[sacco.code].retry_after(time.monotonic())
        return unavailable(
            sacco, f"circuit open after repeated failures; retry in {wait:.0f} s", wait
        )

    async def _read(
        self,
        sacco: Sacco,
        operation: str,
        request: HttpRequest,
        parse: Callable[[HttpResponse], T | ApiError],
    ) -> T:
        """A read-only call: safe to repeat on any transport fault or 5xx."""
        last = "no attempt made"
        breaker = self.breakers[sacco.code]
        for attempt in range(1, self.retries + 2):
            try:
                resp = await self._send(operation, request)
            except (NotSent, OutcomeUnknown) as exc:
                breaker.failure(time.monotonic())
                last = str(exc) or type(exc).__name__
                await self._pause(attempt)
                continue
            parsed = parse(resp)
            if not isinstance(parsed, ApiError):
                breaker.success()
                return parsed
            if parsed.kind in ("retriable", "unknown"):
                breaker.failure(time.monotonic())
                last = f"{parsed.http_status} {parsed.message}"
                await self._pause(attempt)
                continue
            breaker.success()
            raise _ReadFailed(f"{operation}: {parsed.code} {parsed.message}")
        raise _ReadFailed(f"{operation}: {last}")

    async def _member(self, sacco: Sacco, member_number: str) -> Member | MemberNotFound:
        conn = self.connectors[sacco.code]

        def parse(resp: HttpResponse) -> Member | MemberNotFound | ApiError:
            return conn.parse_member(resp, member_number)

        return await self._read(sacco, "member", conn.member_request(member_number), parse)

    async def _find(self, sacco: Sacco, payment_id: str) -> Transaction | TransactionNotFound:
        conn = self.connectors[sacco.code]

        def parse(resp: HttpResponse) -> Transaction | TransactionNotFound | ApiError:
            return conn.parse_lookup(resp, payment_id)

        return await self._read(sacco, "lookup", conn.lookup_request(payment_id), parse)

    async def _lookup_outcome(self, sacco: Sacco, payment_id: str) -> ProviderOutcome | None:
        """What the SACCO has under our externalId; None when it could not be asked."""
        try:
            found = await self._find(sacco, payment_id)
        except _ReadFailed as exc:
            log.info("SACCO %s lookup of %s failed: %s", sacco.code, payment_id, exc)
            return None
        if isinstance(found, TransactionNotFound):
            return not_found(f"{sacco.name} has no transaction {payment_id}")
        return self._from_transaction(sacco, found)

    def _from_transaction(self, sacco: Sacco, txn: Transaction) -> ProviderOutcome:
        if txn.reversed:
            refs = ProviderRefs(receipt=txn.transaction_id, result_desc="reversed")
            return declined(sacco, "reversed", "the transaction was reversed", refs)
        return succeeded(txn.transaction_id, txn.amount_minor, txn.member_name)

    async def _pause(self, attempt: int) -> None:
        if attempt <= self.retries:
            await asyncio.sleep(backoff(attempt, self.retry_base, 5.0))

    async def _send(self, operation: str, request: HttpRequest) -> HttpResponse:
        started, outcome = time.perf_counter(), "error"
        try:
            resp = await self.transport.send(request)
            outcome = str(resp.status)
            return resp
        except NotSent:
            outcome = "not_sent"
            raise
        except OutcomeUnknown:
            outcome = "unknown"
            raise
        finally:
            PROVIDER_CALLS.labels("sacco", operation, outcome).inc()
            PROVIDER_LATENCY.labels("sacco", operation).observe(time.perf_counter() - started)

    # --- file SACCOs: submit and flush -----------------------------------------------------

    async def _submit_file(self, side: _FileSide, order: SaccoOrder) -> ProviderOutcome:
        sacco = side.sacco
        if order.purpose == "withdrawal":
            return rejected(sacco, "unsupported", "withdrawals need a SACCO reached by API")
        settled = side.tracker.settled.get(order.payment_id)
        if settled is not None:
            return from_result_line(sacco, settled.batch_id, settled.result)
        written = side.tracker.written.get(order.payment_id)
        if written is not None:  # never written twice: the first line stands
            return queued_in(written.batch_id)
        waiting = side.pending.get(order.payment_id)
        if waiting is not None:
            return await asyncio.shield(waiting[1])
        try:
            line = BatchLine(
                1, order.payment_id, order.member_number, order.amount_minor, order.purpose,
                " ".join(order.reference.split())[: files.MAX_REFERENCE],
            )  # fmt: skip
        except ValueError as exc:
            return rejected(sacco, "invalid_line", str(exc))
        fut: asyncio.Future[ProviderOutcome] = asyncio.get_running_loop().create_future()
        side.pending[order.payment_id] = (line, fut)
        return await asyncio.shield(fut)

    async def flush(self) -> None:
        """One tick: write every pending line into batch files (answering QUEUED), then
        publish every staged batch to its outbox."""
        async with self._flush_lock:
            for side in self.file_sides.values():
                await self._write_pending(side)
                await self._publish(side)

    async def _write_pending(self, side: _FileSide) -> None:
        taken, side.pending = list(side.pending.values()), {}
        for start in range(0, len(taken), files.MAX_LINES):
            chunk = taken[start : start + files.MAX_LINES]
            batch = self._batch(side.sacco, [line for line, _ in chunk])
            try:
                await side.journal.stage(batch.file_name, files.write_batch(batch))
            except OSError as exc:
                log.error(
                    "SACCO %s: batch %s not written: %s", side.sacco.code, batch.batch_id, exc
                )
                outcome = unavailable(side.sacco, f"the batch file could not be written: {exc}")
            else:
                side.tracker.add_batch(batch)
                outcome = queued_in(batch.batch_id)
            for _, fut in chunk:
                if not fut.done():
                    fut.set_result(outcome)

    @staticmethod
    def _batch(sacco: Sacco, lines: list[BatchLine]) -> Batch:
        now = datetime.now(UTC).replace(microsecond=0)
        batch_id = f"{sacco.code}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
        numbered = tuple(
            BatchLine(i, x.payment_id, x.member_number, x.amount_minor, x.purpose, x.reference)
            for i, x in enumerate(lines, start=1)
        )
        return Batch(batch_id, sacco.code, now, numbered)

    async def _publish(self, side: _FileSide) -> None:
        for name in await side.journal.staged():
            try:
                await side.outbox.put_batch(name, await side.journal.read_staged(name))
                await side.journal.mark_sent(name)
            except OSError as exc:  # written and answered already: the next tick publishes
                log.warning("SACCO %s: batch %s not published yet: %s", side.sacco.code, name, exc)
                return

    # --- file SACCOs: ingest ---------------------------------------------------------------

    async def ingest(self) -> int:
        """One tick: read every waiting result file; returns the number of lines delivered."""
        delivered = 0
        async with self._ingest_lock:
            for side in self.file_sides.values():
                for name in await side.outbox.list_results():
                    count = await self._ingest_one(side, name)
                    if count is None:
                        break  # deliver failed: keep the file, try again next tick
                    delivered += count
        return delivered

    async def _ingest_one(self, side: _FileSide, name: str) -> int | None:
        code = side.sacco.code
        data = await side.outbox.read_result(name)
        parsed = files.parse_result(data, code, side.tracker.batches)
        for error in parsed.errors:
            log.warning("SACCO %s result file %s: %s", code, name, error)
        if parsed.batch_id is None:
            log.error(
                "SACCO %s result file %s unreadable; set aside, lines stay pending", code, name
            )
            await side.outbox.reject_result(name)
            return 0
        new, conflicts = side.tracker.fresh(parsed.batch_id, parsed.lines)
        for conflict in conflicts:
            log.error("SACCO %s result file %s: %s", code, name, conflict)
        if new and not await self._deliver(side, parsed.batch_id, new, name):
            return None
        side.tracker.settle(parsed.batch_id, new)
        digest = hashlib.sha256(data).hexdigest()[:16]
        await side.journal.keep_result(f"{digest}_{name}", data)
        await side.outbox.archive_result(name)
        return len(new)

    async def _deliver(
        self, side: _FileSide, batch_id: str, lines: list[ResultLine], name: str
    ) -> bool:
        items = [
            CallbackIn(
                x.payment_id, from_result_line(side.sacco, batch_id, x), None, methods=_FILE_METHODS
            )
            for x in lines
        ]
        try:
            verdicts = await self.deliver(items)
        except Exception:
            log.exception("SACCO %s result file %s: delivery failed", side.sacco.code, name)
            return False
        if len(verdicts) != len(items):
            log.error(
                "SACCO %s: %d verdicts for %d items", side.sacco.code, len(verdicts), len(items)
            )
            return False
        for item, verdict in zip(items, verdicts, strict=True):
            if verdict in ("mismatch", "unknown_payment"):
                log.error(
                    "SACCO %s result for %s refused: %s", side.sacco.code, item.payment_id, verdict
                )
        return True

    def awaiting_results(self, older_than: float = 0.0) -> dict[str, list[Written]]:
        """Lines written to a file SACCO that still have no result, per SACCO: for reports and
        for chasing the SACCO (never resent: the first line may still be paid)."""
        cutoff = time.time() - older_than
        return {
            code: [w for w in side.tracker.awaiting() if w.written_at <= cutoff]
            for code, side in self.file_sides.items()
        }

    # --- status ----------------------------------------------------------------------------

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]:
        return list(await asyncio.gather(*(self._check_one(r) for r in requests)))

    async def _check_one(self, req: StatusCheck) -> QueryResult:
        pid = req.payment_id
        named = self.registry.get(req.provider_ref or "")
        side = self.file_sides.get(named.code) if named else None
        if side is None and named is None:
            side = next((s for s in self.file_sides.values() if self._knows(s, pid)), None)
        if side is not None:
            return _query_result(pid, self._file_status(side, pid))
        if named is not None:
            codes = [named.code]
        elif pid in self._api_of:
            codes = [self._api_of[pid]]
        else:
            codes = list(self.connectors)
        answers = [await self._lookup_outcome(self.registry[c], pid) for c in codes]
        final = next((a for a in answers if a is not None and a.event is not None), None)
        if final is not None:
            return QueryResult(pid, final)
        asked = [a for a in answers if a is not None]
        if not codes or len(asked) < len(answers):
            return QueryResult(pid, None)  # some SACCO could not be asked: ask again later
        return _query_result(pid, asked[0])

    @staticmethod
    def _knows(side: _FileSide, pid: str) -> bool:
        return pid in side.tracker.written or pid in side.pending

    @staticmethod
    def _file_status(side: _FileSide, pid: str) -> ProviderOutcome:
        settled = side.tracker.settled.get(pid)
        if settled is not None:
            return from_result_line(side.sacco, settled.batch_id, settled.result)
        written = side.tracker.written.get(pid)
        if written is not None:
            return ProviderOutcome(None, refs=ProviderRefs(conversation_id=written.batch_id))
        if pid in side.pending:
            return ProviderOutcome(None)
        return not_found(f"never written to a batch for {side.sacco.name}; nothing was sent")

    # --- member lookup ---------------------------------------------------------------------

    async def lookup(self, sacco_code: str, member_number: str) -> dict[str, str]:
        """The member's name (``name``), or ``error`` in plain words with an ``error_code``:
        unknown_sacco, invalid_member_number, lookup_unsupported (file SACCO),
        account_not_found, provider_unavailable."""
        sacco = self.registry.get(sacco_code)
        if sacco is None:
            return _error("unknown_sacco", f"no SACCO with code {sacco_code!r}")
        if not sacco.member_number_ok(member_number):
            message = f"{member_number!r} is not a {sacco.name} member number"
            return _error("invalid_member_number", message)
        if sacco.integration == "file":
            message = f"{sacco.name} exchanges files; members cannot be looked up"
            return _error("lookup_unsupported", message)
        try:
            found = await self._member(sacco, member_number)
        except _ReadFailed as exc:
            return _error("provider_unavailable", f"{sacco.name} could not be asked ({exc})")
        if isinstance(found, MemberNotFound):
            return _error("account_not_found", f"{sacco.name} has no member {member_number}")
        return {"sacco_code": sacco.code, "member_number": member_number, "name": found.name}


def _query_result(pid: str, outcome: ProviderOutcome) -> QueryResult:
    failure = outcome.failure
    missing = outcome.event is None and failure is not None and failure.code == NOT_FOUND
    return QueryResult(pid, outcome, not_found=missing)


def _error(code: str, message: str) -> dict[str, str]:
    return {"error": message, "error_code": code}


class _ReadFailed(Exception):
    """A read-only call gave no usable answer; nothing moved."""


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
