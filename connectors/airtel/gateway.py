"""The Airtel Money gateway for one Airtel Open API application: USSD-push collections,
disbursements with the encrypted wallet PIN, and enquiries by our id.

Our payment id is Airtel's ``transaction.id`` on every attempt, so a resend after a proven
non-send is safe and Airtel refuses a second copy (``ESB000041`` / ``DP00900001017``). That
duplicate answer is never resent: it becomes ``answer_lost`` and the status check decides.
The retry policy itself is :mod:`connectors.gateway`'s.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from connectors.airtel import (
    AirtelAccount,
    AirtelConnector,
    CollectionAccepted,
    CollectionOrder,
    DisbursementOrder,
    ProviderError,
    TransactionResult,
    kyc,
)
from connectors.airtel import outcomes as out
from connectors.airtel.kyc import UserAnswer, parse_user
from connectors.airtel.orders import WalletOrder
from connectors.airtel.transformers import parse_error
from connectors.gateway import GatewayCore, Wording
from connectors.http import HttpRequest, HttpResponse
from connectors.transport import AiohttpTransport, Transport
from switch.breaker import Breaker
from switch.config import Settings
from switch.messages import ProviderOutcome, QueryResult, StatusCheck, SubmitResult

COLLECTION_METHOD = "airtel_ussd"
PAYOUT_METHOD = "airtel_payout"


class AirtelGatewayCore(GatewayCore[AirtelConnector]):
    provider = "airtel"
    provider_name = "Airtel Money"
    wording: ClassVar[Wording] = out

    # --- submit ----------------------------------------------------------------------------------

    async def submit(self, orders: list[WalletOrder]) -> list[SubmitResult]:
        return await self._each(orders, self._submit_one)

    async def _submit_one(self, order: WalletOrder) -> ProviderOutcome:
        if order.kind == "payout":
            return await self._payout(order)
        return await self._collect(order)

    async def _collect(self, order: WalletOrder) -> ProviderOutcome:
        try:
            wire = CollectionOrder(
                order.payment_id, order.amount_minor, order.phone, order.reference
            )
        except ValueError as exc:
            return out.invalid_order(str(exc))

        def build(token: str) -> HttpRequest:
            return self.connector.collection_request(token, wire)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            answer = self.connector.parse_collection(resp)
            return out.push_accepted(answer) if isinstance(answer, CollectionAccepted) else answer

        async with self._slots:
            return await self._with_retries("collection", build, parse)

    async def _payout(self, order: WalletOrder) -> ProviderOutcome:
        account = self.connector.account
        if account.pin is None or account.public_key is None:
            return out.invalid_order("payouts need the wallet PIN and Airtel's public key")
        try:
            wire = DisbursementOrder(
                order.payment_id, order.amount_minor, order.phone, order.reference
            )
            self.connector.encrypted_pin()  # a bad key fails here, before anything is sent
        except ValueError as exc:
            return out.invalid_order(str(exc))

        def build(token: str) -> HttpRequest:
            return self.connector.disbursement_request(token, wire)

        def parse(resp: HttpResponse) -> ProviderOutcome | ProviderError:
            answer = self.connector.parse_disbursement(resp, wire.transaction_id)
            return out.payout_answer(answer) if isinstance(answer, TransactionResult) else answer

        async with self._slots:
            return await self._with_retries("disbursement", build, parse)

    # --- name look-up (KYC user enquiry) --------------------------------------------------------

    async def lookup(self, phone: str) -> dict[str, str]:
        """The name Airtel holds for a wallet (``name``), or ``error`` in plain words with an
        ``error_code``: ``not_customer`` (no such wallet), ``invalid_phone`` or
        ``provider_unavailable``."""
        try:
            kyc.path_of(phone)
        except ValueError as exc:
            return {"error": str(exc), "error_code": "invalid_phone"}

        def build(token: str) -> HttpRequest:
            return self.connector.user_request(token, phone)

        def parse(resp: HttpResponse) -> UserAnswer | ProviderError:
            answer = parse_user(resp)
            return parse_error(resp) if answer.verdict == "failed" else answer

        async with self._slots:
            answer = await self._with_retries("kyc", build, parse, idempotent=True)
        if isinstance(answer, ProviderOutcome):
            reason = answer.failure.message if answer.failure else "Airtel Money gave no answer"
            return {"error": reason, "error_code": "provider_unavailable"}
        if answer.verdict == "not_customer":
            return {"error": answer.message, "error_code": "not_customer"}
        return {"name": answer.name}

    # --- status check ----------------------------------------------------------------------------

    async def check(self, requests: list[StatusCheck]) -> list[QueryResult]:
        """Enquire by our id: a collection (``airtel_ussd``) or a disbursement
        (``airtel_payout``). ``outcome`` None: the enquiry itself failed, ask again later;
        ``not_found``: Airtel has no such transaction (yet), the caller judges by its age."""
        return list(await asyncio.gather(*(self._check_one(r) for r in requests)))

    async def _check_one(self, req: StatusCheck) -> QueryResult:
        if req.method == COLLECTION_METHOD:
            kind: out.Kind = "collect"
            build_request = self.connector.collection_enquiry_request
            parse_answer = self.connector.parse_collection_enquiry
        elif req.method == PAYOUT_METHOD:
            kind = "payout"
            build_request = self.connector.disbursement_enquiry_request
            parse_answer = self.connector.parse_disbursement_enquiry
        else:
            return QueryResult(req.payment_id, None)  # not an Airtel payment: nothing to ask

        def build(token: str) -> HttpRequest:
            return build_request(token, req.payment_id)

        def parse(resp: HttpResponse) -> TransactionResult | ProviderError:
            return parse_answer(resp, req.payment_id)

        async with self._slots:
            answer = await self._with_retries(f"{kind}_enquiry", build, parse)
        if isinstance(answer, ProviderOutcome):
            return QueryResult(req.payment_id, None)  # refused, lost or unavailable: no word
        if not answer.found:
            return QueryResult(req.payment_id, ProviderOutcome(None), not_found=True)
        return QueryResult(req.payment_id, out.from_result(answer, kind))


def airtel_account_from(settings: Settings) -> AirtelAccount:
    public_key = None
    if settings.airtel_public_key_file is not None:
        public_key = Path(settings.airtel_public_key_file).read_text(encoding="utf-8")
    return AirtelAccount(
        base_url=settings.airtel_base_url,
        client_id=settings.airtel_client_id,
        client_secret=settings.airtel_client_secret,
        pin=settings.airtel_pin,
        public_key=public_key,
        callback_key=settings.airtel_callback_key or None,
    )


def airtel_gateway_from(
    settings: Settings, transport: Transport | None = None, *, deliver: object = None
) -> AirtelGatewayCore:
    """The gateway for the Airtel application the settings describe."""
    return AirtelGatewayCore(
        AirtelConnector(airtel_account_from(settings), timeout=settings.provider_timeout),
        transport or AiohttpTransport(limit=settings.provider_concurrency),
        concurrency=settings.provider_concurrency,
        retries=settings.provider_retries,
        breaker=Breaker(settings.breaker_threshold, settings.breaker_cool_down),
    )
