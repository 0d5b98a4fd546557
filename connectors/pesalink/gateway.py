"""The PesaLink gateway for our merchant profile at the participant bank that fronts PesaLink.

A transfer goes in three steps, and money can move only in the last: look the recipient up
(name enquiry on bank code + account number, or the phone directory), refuse it if the account
cannot receive, the phone is not linked or the name the merchant gave does not match the holder,
check the limits, then send the credit transfer with our payment id as the end-to-end id (the
bank refuses a second transfer with it: a duplicate answer is never resent, it becomes
``answer_lost`` and the status check decides). The retry policy is :mod:`connectors.gateway`'s.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from connectors.gateway import GatewayCore, Wording
from connectors.http import HttpRequest, HttpResponse
from connectors.pesalink import (
    AccountInvalid,
    AccountName,
    DirectoryEntry,
    PesaLinkAccount,
    PesaLinkConnector,
    PhoneNotLinked,
    ProviderError,
    TransferNotFound,
    TransferOrder,
    TransferResult,
    bank_name,
    check_limits,
    names_match,
    normalise_bank_code,
    normalise_msisdn,
)
from connectors.pesalink import outcomes as out
from connectors.pesalink.orders import BankOrder
from connectors.pesalink.transformers import MAX_DESCRIPTION, mask_account
from connectors.transport import AiohttpTransport, Transport
from switch.breaker import Breaker
from switch.config import Settings
from switch.messages import ProviderOutcome, QueryResult, StatusCheck, SubmitResult
from switch.states import Event


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a transfer would pay, from the lookup."""

    holder_name: str
    bank_code: str
    bank_name: str
    account_mask: str  # never the full number of a directory link (the directory masks it)
    account_number: str | None  # None for a transfer to a phone: the bank resolves it
    phone: str | None


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The lookup answered: nobody can be paid there (no such account, closed, not linked)."""

    reason: str
    code: str  # account_invalid | phone_not_linked | invalid_request
    provider_code: str | None = None


class PesaLinkGatewayCore(GatewayCore[PesaLinkConnector]):
    provider = "pesalink"
    provider_name = "PesaLink"
    wording: ClassVar[Wording] = out

    # --- submit ----------------------------------------------------------------------------------

    async def submit(self, orders: list[BankOrder]) -> list[SubmitResult]:
        return await self._each(orders, self._submit_one)

    async def _submit_one(self, order: BankOrder) -> ProviderOutcome:
        if not self.connector.account.signing_key_pem:
            return out.refused(NO_KEY)
        async with self._slots:
            found = await self._find(order.bank_code, order.account_number, order.phone)
            if isinstance(found, ProviderOutcome):
                return found
            if isinstance(found, Unreachable):
                return out.refused(found.reason, found.provider_code)
            holder = found.holder_name
            refusal = self._screen(order, found)
            if refusal is not None:
                return out.with_holder(refusal, holder)
            try:
                wire = _transfer(order, found)
            except ValueError as exc:
                return out.refused(str(exc), holder=holder)
            outcome = await self._send_transfer(wire)
            return out.with_holder(outcome, holder)

    def _screen(self, order: BankOrder, found: Recipient) -> ProviderOutcome | None:
        """Our own checks between the lookup and the transfer: the name, then the limits."""
        given = order.recipient_name
        if given is not None and given.strip() and not names_match(given, found.holder_name):
            reason = "the recipient's name does not match the account holder's name at the bank"
            return out.refused(reason, "BE01")
        minimum = self.connector.account.minimum_cents
        over = check_limits(order.amount_minor, minimum_cents=minimum)
        return out.refused(over) if over is not None else None

    async def _send_transfer(self, wire: TransferOrder) -> ProviderOutcome:
        def build(token: str) -> HttpRequest:
            return self.connector.transfer_request(token, wire, datetime.now(UTC))

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            answer = self.connector.parse_transfer(resp, wire)
            return out.transfer_answer(answer) if isinstance(answer, TransferResult) else answer

        return await self._with_retries("transfer", build, parse)

    # --- lookups ---------------------------------------------------------------------------------

    async def lookup(
        self, bank_code: str | None, account_number: str | None, phone: str | None
    ) -> dict[str, str]:
        """Who an account (``bank_code`` + ``account_number``) or a phone would pay: holder
        name, bank code and name, masked account; or an ``error`` (with ``error_code``)."""
        async with self._slots:
            found = await self._find(bank_code, account_number, phone)
        if isinstance(found, Recipient):
            view = {
                "holder_name": found.holder_name,
                "bank_code": found.bank_code,
                "bank_name": found.bank_name,
                "account_mask": found.account_mask,
            }
            return view | ({"phone": found.phone} if found.phone else {})
        if isinstance(found, Unreachable):
            error = {"error": found.reason, "error_code": found.code}
            return error | ({"reason_code": found.provider_code} if found.provider_code else {})
        failure = found.failure
        message = failure.message if failure else "PesaLink gave no answer"
        return {"error": message, "error_code": failure.code if failure else "outcome_unknown"}

    async def _find(
        self, bank_code: str | None, account_number: str | None, phone: str | None
    ) -> Recipient | Unreachable | ProviderOutcome:
        """The lookup; a ProviderOutcome when it could not be made (nothing was sent)."""
        try:
            if phone is not None and account_number is None:
                code = normalise_bank_code(bank_code) if bank_code else None
                return await self._find_phone(normalise_msisdn(phone), code)
            if phone is None and bank_code and account_number:
                return await self._find_account(normalise_bank_code(bank_code), account_number)
        except ValueError as exc:
            return Unreachable(str(exc), "invalid_request")
        reason = "give a bank code and an account number, or a phone number"
        return Unreachable(reason, "invalid_request")

    async def _find_account(
        self, bank: str, account: str
    ) -> Recipient | Unreachable | ProviderOutcome:
        def build(token: str) -> HttpRequest:
            return self.connector.account_lookup_request(token, bank, account)

        def parse(resp: HttpResponse) -> AccountName | AccountInvalid | ProviderError:
            return self.connector.parse_account_lookup(resp, bank, account)

        found: AccountName | AccountInvalid | ProviderOutcome
        found = await self._with_retries("account_lookup", build, parse)
        if isinstance(found, ProviderOutcome):
            return _not_looked_up(found)
        if isinstance(found, AccountInvalid):
            return Unreachable(found.message, "account_invalid", found.reason_code or None)
        name = found.account_name
        return Recipient(name, bank, found.bank_name, mask_account(account), account, None)

    async def _find_phone(
        self, phone: str, bank: str | None
    ) -> Recipient | Unreachable | ProviderOutcome:
        def build(token: str) -> HttpRequest:
            return self.connector.phone_lookup_request(token, phone)

        def parse(resp: HttpResponse) -> DirectoryEntry | PhoneNotLinked | ProviderError:
            return self.connector.parse_phone_lookup(resp, phone)

        found: DirectoryEntry | PhoneNotLinked | ProviderOutcome
        found = await self._with_retries("phone_lookup", build, parse)
        if isinstance(found, ProviderOutcome):
            return _not_looked_up(found)
        if isinstance(found, PhoneNotLinked):
            return Unreachable(found.message, "phone_not_linked")
        links = [a for a in found.accounts if bank is None or a.bank_code == bank]
        if not links:
            where = bank_name(bank) if bank else "that bank"
            reason = f"the phone number is not linked to an account at {where}"
            return Unreachable(reason, "phone_not_linked")
        link = next((a for a in links if a.is_default), links[0])
        if not link.holder_name.strip():
            return Unreachable("the PesaLink directory gave no holder name", "phone_not_linked")
        mask = link.account_mask or ""
        return Recipient(link.holder_name, link.bank_code, link.bank_name, mask, None, phone)

    # --- status check ----------------------------------------------------------------------------

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]:
        """Ask the bank about each transfer by its end-to-end id (our payment id). ``outcome``
        None: the enquiry failed, ask again later; ``not_found``: the bank never recorded it."""
        return list(await asyncio.gather(*(self._check_one(r) for r in requests)))

    async def _check_one(self, req: StatusCheck) -> QueryResult:
        def build(token: str) -> HttpRequest:
            return self.connector.status_request(token, req.payment_id)

        def parse(resp: HttpResponse) -> TransferResult | TransferNotFound | ProviderError:
            return self.connector.parse_status(resp, req.payment_id)

        async with self._slots:
            answer: TransferResult | TransferNotFound | ProviderOutcome
            answer = await self._with_retries("status", build, parse)
        if isinstance(answer, ProviderOutcome):
            return QueryResult(req.payment_id, None)
        if isinstance(answer, TransferNotFound):
            return QueryResult(req.payment_id, ProviderOutcome(None), not_found=True)
        return QueryResult(req.payment_id, out.from_result(answer))


def _not_looked_up(outcome: ProviderOutcome) -> ProviderOutcome:
    """A lookup that failed sent no money: a lost lookup answer is "unavailable", not lost."""
    if outcome.event == Event.ANSWER_LOST:
        return out.unavailable("the name lookup got no answer")
    return outcome


def _transfer(order: BankOrder, to: Recipient) -> TransferOrder:
    # The narration is free text on the recipient's statement; cutting it moves no money.
    description = (order.narration or order.reference)[:MAX_DESCRIPTION]
    if to.phone is not None:
        return TransferOrder.to_phone(
            order.payment_id,
            order.amount_minor,
            to.phone,
            to.holder_name,  # the lookup's name is what the transfer carries (and signs)
            description,
            order.callback_url,
            bank_code=to.bank_code if order.bank_code else None,
        )
    return TransferOrder.to_account(
        order.payment_id,
        order.amount_minor,
        to.bank_code,
        to.account_number or "",
        to.holder_name,
        description,
        order.callback_url,
    )


NO_KEY = (
    "PesaLink is not configured (SWITCH_PESALINK_SIGNING_KEY_FILE: our RSA private key, whose "
    "public half the bank holds)"
)


def pesalink_account_from(settings: Settings) -> PesaLinkAccount:
    key_file = settings.pesalink_signing_key_file
    # No key, no transfer: every order is refused (nothing sent) until one is configured.
    key = Path(key_file).read_bytes() if key_file else b""
    return PesaLinkAccount(
        base_url=settings.pesalink_base_url,
        api_key=settings.pesalink_api_key,
        merchant_code=settings.pesalink_merchant_code,
        consumer_secret=settings.pesalink_consumer_secret,
        signing_key_pem=key,
        source_account=settings.pesalink_source_account,
        source_name=settings.pesalink_source_name,
    )


def pesalink_gateway_from(
    settings: Settings, transport: Transport | None = None, *, deliver: object = None
) -> PesaLinkGatewayCore:
    """The gateway for the bank profile the settings describe."""
    return PesaLinkGatewayCore(
        PesaLinkConnector(pesalink_account_from(settings), timeout=settings.provider_timeout),
        transport or AiohttpTransport(limit=settings.provider_concurrency),
        concurrency=settings.provider_concurrency,
        retries=settings.provider_retries,
        breaker=Breaker(settings.breaker_threshold, settings.breaker_cool_down),
    )
