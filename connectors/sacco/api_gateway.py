"""One SACCO reached by its core-banking API (Fineract shaped, :mod:`connectors.sacco.api`), on
the common gateway loop (:class:`connectors.gateway.GatewayLoop`: retry policy, circuit breaker,
slots, provider-call metrics). Fineract authenticates every request with HTTP Basic
credentials, so there is no access token to keep: the loop's token is empty and a refused
credential is an answer (``auth``), not a stale token to refresh.

A payment is two reads, then ONE money-moving call that carries our payment id as
``externalId``: the member is looked up by number, then their accounts; the call goes to the
savings account (``deposit``, ``withdrawal``), the loan waiting for disbursal
(``loan_disbursement``) or the oldest active loan (``loan_repayment``). An overpayment is sent
as it is: the SACCO books it (``refs.result_desc`` then says by how much, as read before the
call) or declines it.

Retry policy (money-safety rule 2, :mod:`connectors.gateway`): reads move nothing, so they are
resent on any fault (``idempotent``); the money-moving call is resent only when it provably did
not take effect (connection never opened, HTTP 429/503). A timeout, a dropped connection or a
5xx becomes ``answer_lost``. A "duplicate externalId" answer is never resent: the SACCO's record,
asked by externalId, decides. Every call, reads included, passes this SACCO's circuit breaker:
while it is open, a status or member lookup is not sent either (answered "ask again later" /
``provider_unavailable``), as for the other providers. Outcomes read as
:mod:`connectors.sacco.outcomes` says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

from connectors.gateway import GatewayLoop, ProviderFault, Step
from connectors.http import HttpRequest, HttpResponse
from connectors.sacco import outcomes as out
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
from connectors.sacco.orders import SaccoOrder
from connectors.sacco.registry import Sacco
from switch.messages import ProviderOutcome
from switch.payments import ProviderRefs

log = logging.getLogger(__name__)
T = TypeVar("T")

# Refusals that are answers in Fineract's words: never resent, nothing happened.
_ANSWERS: dict[str, Step] = {"declined": "refuse", "auth": "refuse"}
# What a read may resend after; any other refusal ends the read (the SACCO answered).
_READ_RETRY = frozenset({"retriable", "unknown"})


@dataclass(frozen=True, slots=True)
class _Duplicate:
    """The SACCO already holds our externalId: look it up, never resend."""


class SaccoApiGateway(GatewayLoop[SaccoApiConnector]):
    """One API SACCO: its connector, its breaker, its slots; the transport may be shared."""

    provider: ClassVar[str] = "sacco"
    provider_name: ClassVar[str] = "SACCO"

    @property
    def sacco(self) -> Sacco:
        return self.connector.sacco

    # --- the loop in this SACCO's words ----------------------------------------------------

    def _rejected(self, code: str, message: str) -> ProviderOutcome:
        return out.rejected(self.sacco, code, message)

    def _unavailable(self, last_error: str, retry_after: float | None = None) -> ProviderOutcome:
        return out.unavailable(self.sacco, last_error, retry_after)

    def _lost(self, detail: str) -> ProviderOutcome:
        return out.answer_lost(self.sacco, detail)

    def _step(self, fault: ProviderFault) -> Step:
        return _ANSWERS.get(fault.kind) or super()._step(fault)

    def _refused(self, fault: ProviderFault) -> ProviderOutcome:
        if fault.kind == "declined":  # a business rule: dormant account, insufficient funds
            return out.declined(self.sacco, fault.code, fault.message)
        if fault.kind == "auth":  # our credentials: nothing was done, and resending won't help
            return self._unavailable(f"credentials refused: {fault.message}")
        return super()._refused(fault)

    # --- submit ----------------------------------------------------------------------------

    async def submit_one(self, order: SaccoOrder) -> ProviderOutcome:
        """An order already checked against the registry (SACCO, member number, amount)."""
        async with self._slots:
            return await self._submit(order)

    async def _submit(self, order: SaccoOrder) -> ProviderOutcome:
        conn = self.connector
        member = await self._member(order.member_number)
        if isinstance(member, ProviderOutcome):
            return member
        if isinstance(member, MemberNotFound):
            return self._rejected("member_not_found", f"no member {order.member_number}")
        request = self.connector.accounts_request(member.client_id)
        accounts = await self._read("accounts", request, conn.parse_accounts)
        if isinstance(accounts, ProviderOutcome):
            return accounts
        try:
            money = self._money_request(order, accounts)
        except ValueError as exc:  # e.g. an id the SACCO cannot take as externalId: not sent
            return self._rejected("invalid_request", str(exc))
        if isinstance(money, ProviderOutcome):
            return money
        return await self._move(order, money, member, out.overpayment_note(order, accounts))

    def _money_request(
        self, order: SaccoOrder, accounts: Accounts
    ) -> HttpRequest | ProviderOutcome:
        conn, sacco = self.connector, self.sacco
        now, note = datetime.now(UTC), order.reference[:100]
        if order.purpose == "loan_disbursement":
            loan = accounts.loan_to_disburse()
            if loan is None:
                return out.declined(
                    sacco, "no_loan", "the member has no loan waiting for disbursal"
                )
            return conn.disburse_request(
                loan.account_id, order.amount_minor, order.payment_id, note, now
            )
        if order.purpose == "loan_repayment":
            loan = accounts.loan_to_repay()
            if loan is None:  # nothing sent: the shard may credit the member's savings instead
                message = "the member has no active loan to repay"
                return out.declined(sacco, out.NO_ACTIVE_LOAN, message)
            return conn.repayment_request(
                loan.account_id, order.amount_minor, order.payment_id, note, now
            )
        account = accounts.savings_account()
        if account is None:
            return self._rejected("no_savings_account", "the member has no savings account")
        build = conn.deposit_request if order.purpose == "deposit" else conn.withdrawal_request
        return build(account.account_id, order.amount_minor, order.payment_id, note, now)

    async def _move(
        self, order: SaccoOrder, request: HttpRequest, member: Member, desc: str | None
    ) -> ProviderOutcome:
        """The one money-moving call, through the loop: resent only when provably not taken."""

        def parse(resp: HttpResponse) -> ProviderOutcome | _Duplicate | ApiError:
            got = self.connector.parse_posted(resp, order.payment_id)
            if isinstance(got, Posted):
                return out.succeeded(got.transaction_id, order.amount_minor, member.name, desc)
            return _Duplicate() if got.kind == "duplicate" else got

        answer: ProviderOutcome | _Duplicate
        answer = await self._with_retries(order.purpose, lambda _token: request, parse)
        if not isinstance(answer, _Duplicate):
            return answer
        found = await self.status(order.payment_id)
        if found is None or found.event is None:
            return self._lost("says duplicate externalId; lookup inconclusive")
        return found

    # --- reads -----------------------------------------------------------------------------

    async def _read(
        self,
        operation: str,
        request: HttpRequest,
        parse: Callable[[HttpResponse], T | ApiError],
    ) -> T | ProviderOutcome:
        """A read-only call, resent on any fault; when it gets no usable answer, the outcome
        ``unavailable`` (nothing was sent that moves money)."""

        def answer(resp: HttpResponse) -> T | ProviderOutcome | ApiError:
            got = parse(resp)
            if isinstance(got, ApiError) and got.kind not in _READ_RETRY:
                return self._unavailable(f"{operation}: {got.code} {got.message}")
            return got

        return await self._with_retries(operation, lambda _token: request, answer, idempotent=True)

    async def _member(self, member_number: str) -> Member | MemberNotFound | ProviderOutcome:
        conn = self.connector

        def parse(resp: HttpResponse) -> Member | MemberNotFound | ApiError:
            return conn.parse_member(resp, member_number)

        return await self._read("member", conn.member_request(member_number), parse)

    async def status(self, payment_id: str) -> ProviderOutcome | None:
        """What the SACCO has under our externalId (``not_found`` when nothing); None when it
        could not be asked."""
        conn = self.connector

        def parse(resp: HttpResponse) -> Transaction | TransactionNotFound | ApiError:
            return conn.parse_lookup(resp, payment_id)

        found: Transaction | TransactionNotFound | ProviderOutcome
        found = await self._read("lookup", conn.lookup_request(payment_id), parse)
        if isinstance(found, ProviderOutcome):
            reason = found.failure.message if found.failure else "no answer"
            log.info("SACCO %s lookup of %s failed: %s", self.sacco.code, payment_id, reason)
            return None
        if isinstance(found, TransactionNotFound):
            return out.not_found(f"{self.sacco.name} has no transaction {payment_id}")
        return self._from_transaction(found)

    def _from_transaction(self, txn: Transaction) -> ProviderOutcome:
        if txn.reversed:
            refs = ProviderRefs(receipt=txn.transaction_id, result_desc="reversed")
            return out.declined(self.sacco, "reversed", "the transaction was reversed", refs)
        return out.succeeded(txn.transaction_id, txn.amount_minor, txn.member_name)

    async def lookup(self, member_number: str) -> dict[str, str]:
        """The member's name (``name``), or ``error`` with ``error_code`` account_not_found or
        provider_unavailable."""
        sacco = self.sacco
        found = await self._member(member_number)
        if isinstance(found, ProviderOutcome):
            reason = found.failure.message if found.failure else "no answer"
            return out.lookup_error("provider_unavailable", reason)
        if isinstance(found, MemberNotFound):
            message = f"{sacco.name} has no member {member_number}"
            return out.lookup_error("account_not_found", message)
        return {"sacco_code": sacco.code, "member_number": member_number, "name": found.name}
