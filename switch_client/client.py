"""The client: one aiohttp session, a client-credentials token renewed before it expires, typed
methods for the merchant's side of the API (README "API")."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, Literal, NotRequired, TypedDict, cast

import aiohttp

from switch_client.errors import ApiError

Metadata = Mapping[str, str | int | float | bool | None]
_RENEW_S = 60.0  # a token is renewed this long before it expires


class Provider(TypedDict, total=False):
    name: str
    receipt: str | None
    result_code: str | None


class Failure(TypedDict):
    code: str
    message: str


class Payment(TypedDict):
    """A payment or payout (``GET /v1/payments/{id}``, ``/v1/payouts/{id}``)."""

    id: str
    object: str
    status: Literal["pending", "processing", "succeeded", "failed", "expired"]
    method: str
    amount: str
    fee: str
    currency: str
    reference: str
    metadata: dict[str, Any]
    created_at: str
    updated_at: str
    provider: Provider
    failure: Failure | None
    history: NotRequired[list[dict[str, Any]]]


class Transfer(TypedDict):
    id: str
    object: str
    status: str
    amount: str
    currency: str
    reference: str
    source: dict[str, Any]
    destination: dict[str, Any]
    created_at: str


class Balance(TypedDict):
    object: str
    currency: str
    available: str
    reserved: str


class Statement(TypedDict):
    object: str
    account: str
    currency: str
    opening_balance: str
    closing_balance: str
    entries: list[dict[str, Any]]


class SwitchClient:
    """Use as ``async with SwitchClient(base_url, client_id, client_secret) as api``; amounts
    are whole shillings as strings (``"150"``), as the API takes them."""

    def __init__(
        self, base_url: str, client_id: str, client_secret: str, *, timeout: float = 30.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        pair = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._basic = {"Authorization": f"Basic {pair}"}  # RFC 7617 (aiohttp's is deprecated)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._token, self._token_until = "", 0.0

    async def __aenter__(self) -> SwitchClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- collections, payouts, transfers ---------------------------------------------------

    async def create_payment(
        self,
        *,
        amount: str,
        phone: str,
        reference: str,
        method: str = "mpesa_stk",
        description: str | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> Payment:
        """Ask the customer to pay (STK Push, Airtel USSD push, or ``auto``); the answer is
        ``pending`` and settles later (webhook, or :meth:`get_payment`)."""
        body = _fields(method=method, amount=amount, currency="KES", phone=phone)
        body |= _fields(reference=reference, description=description, metadata=metadata)
        return cast(Payment, await self._create("/v1/payments", body, idempotency_key))

    async def create_payout(
        self,
        *,
        amount: str,
        reference: str,
        method: str = "auto",
        phone: str | None = None,
        bank: Mapping[str, str] | None = None,
        sacco: Mapping[str, str] | None = None,
        remarks: str | None = None,
        metadata: Metadata | None = None,
        idempotency_key: str | None = None,
    ) -> Payment:
        """Pay out to exactly one of ``phone``, ``bank`` or ``sacco``; amount plus fee is
        reserved from the balance first (``insufficient_balance`` otherwise)."""
        body = _fields(method=method, amount=amount, currency="KES", phone=phone, bank=bank)
        body |= _fields(sacco=sacco, reference=reference, remarks=remarks, metadata=metadata)
        return cast(Payment, await self._create("/v1/payouts", body, idempotency_key))

    async def create_transfer(
        self,
        *,
        amount: str,
        source: Mapping[str, str],
        destination: Mapping[str, str],
        reference: str,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Transfer:
        """Move money between accounts (``{"type": "mpesa", "phone": ...}``, ``bank``,
        ``sacco``); refunded to the source if the credit fails."""
        body = _fields(amount=amount, currency="KES", source=source, destination=destination)
        body |= _fields(reference=reference, description=description)
        return cast(Transfer, await self._create("/v1/transfers", body, idempotency_key))

    async def get_payment(self, payment_id: str) -> Payment:
        return cast(Payment, await self._request("GET", f"/v1/payments/{payment_id}"))

    async def get_payout(self, payout_id: str) -> Payment:
        return cast(Payment, await self._request("GET", f"/v1/payouts/{payout_id}"))

    async def get_transfer(self, transfer_id: str) -> Transfer:
        return cast(Transfer, await self._request("GET", f"/v1/transfers/{transfer_id}"))

    # --- lists (every page, following next_cursor) ------------------------------------------

    def list_payments(self, **filters: str | int) -> AsyncIterator[Payment]:
        """Newest first; filters as the API names them (``status="succeeded"``, ``limit=``)."""
        return cast(AsyncIterator[Payment], self._pages("/v1/payments", filters))

    def list_payouts(self, **filters: str | int) -> AsyncIterator[Payment]:
        return cast(AsyncIterator[Payment], self._pages("/v1/payouts", filters))

    def list_transfers(self, **filters: str | int) -> AsyncIterator[Transfer]:
        return cast(AsyncIterator[Transfer], self._pages("/v1/transfers", filters))

    async def _pages(self, path: str, filters: Mapping[str, str | int]) -> AsyncIterator[Any]:
        params = {k: str(v) for k, v in filters.items()}
        while True:
            page = await self._request("GET", path, params=params)
            for item in page["data"]:
                yield item
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    # --- money held ---------------------------------------------------------------------------

    async def balance(self) -> Balance:
        return cast(Balance, await self._request("GET", "/v1/balance"))

    async def statement(self, since: str, until: str, account: str = "available") -> Statement:
        """The account from the journal between two Nairobi days (``YYYY-MM-DD``, inclusive)."""
        params = {"since": since, "until": until, "account": account, "format": "json"}
        return cast(Statement, await self._request("GET", "/v1/statements", params=params))

    # --- transport ----------------------------------------------------------------------------

    async def _create(self, path: str, body: dict[str, Any], key: str | None) -> Any:
        # A fresh key unless the caller gives one: give the same key to retry without paying
        # twice (the same key and body return the first answer).
        headers = {"Idempotency-Key": key or f"sc-{uuid.uuid4()}"}
        return await self._request("POST", path, json=body, headers=headers)

    async def _request(self, method: str, path: str, **kw: Any) -> Any:
        for attempt in (1, 2):
            headers = {**kw.pop("headers", {}), "Authorization": f"Bearer {await self._bearer()}"}
            async with self._open().request(
                method, self.base_url + path, headers=headers, **kw
            ) as resp:
                body = await resp.json(content_type=None) if resp.content_length != 0 else None
                if resp.status == 401 and attempt == 1:
                    self._token_until = 0.0  # revoked or expired early: one new token
                    kw["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
                    continue
                if resp.status >= 400:
                    raise ApiError.from_answer(resp.status, body, resp.headers.get("Retry-After"))
                return body
        raise AssertionError("unreachable")

    async def _bearer(self) -> str:
        if time.monotonic() < self._token_until:
            return self._token
        form = {"grant_type": "client_credentials"}
        url = f"{self.base_url}/v1/oauth/token"
        async with self._open().post(url, data=form, headers=self._basic) as resp:
            body = await resp.json(content_type=None)
            if resp.status != 200:
                raise ApiError.from_answer(resp.status, body, resp.headers.get("Retry-After"))
        self._token = str(body["access_token"])
        self._token_until = time.monotonic() + float(body["expires_in"]) - _RENEW_S
        return self._token

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use `async with SwitchClient(...)` (or call it inside one)")
        return self._session


def _fields(**values: Any) -> dict[str, Any]:
    """The given fields, without the ones left out (None), as plain JSON values."""
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in values.items() if v is not None}
