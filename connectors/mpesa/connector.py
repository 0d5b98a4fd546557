"""The Daraja connector: URLs, headers, STK Push flows. Pure: builds requests, parses answers.

Flows supported so far: OAuth token, M-Pesa Express (STK push), STK push query. Sections cited as
"doc §N" are in ``shared/providers/mpesa-daraja.md``.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.http import HttpRequest, HttpResponse
from connectors.mpesa.transformers import (
    AccessToken,
    ProviderError,
    StkAccepted,
    StkPending,
    StkPushOrder,
    StkResult,
    parse_error,
    parse_stk_callback,
    password,
    result_from_fields,
    timestamp,
)

TOKEN_PATH = "/oauth/v1/generate?grant_type=client_credentials"  # noqa: S105 (a URL path)
STK_PUSH_PATH = "/mpesa/stkpush/v1/processrequest"
STK_QUERY_PATH = "/mpesa/stkpushquery/v1/query"

TOKEN_SAFETY_MARGIN = 60.0  # seconds: refresh before Daraja's clock says the token is dead
DEFAULT_TOKEN_LIFETIME = 3600  # doc §2, used only if an answer omits expires_in
MAX_ACCOUNT_REFERENCE = 12  # doc §4
MAX_TRANSACTION_DESC = 13  # doc §4
TRANSACTION_TYPES = frozenset({"CustomerPayBillOnline", "CustomerBuyGoodsOnline"})
_SHORTCODE = re.compile(r"^\d{5,7}$")  # 5-6 digits in push docs, 5-7 in query docs (doc §4)


@dataclass(frozen=True, slots=True)
class DarajaAccount:
    base_url: str
    consumer_key: str = field(repr=False)
    consumer_secret: str = field(repr=False)
    shortcode: str
    passkey: str = field(repr=False)
    transaction_type: str = "CustomerPayBillOnline"  # or CustomerBuyGoodsOnline
    party_b: str | None = None  # till number for buy goods; defaults to shortcode

    def __post_init__(self) -> None:
        if not _SHORTCODE.match(self.shortcode):
            raise ValueError("shortcode must be 5 to 7 digits")
        if self.transaction_type not in TRANSACTION_TYPES:
            raise ValueError(f"transaction_type must be one of {sorted(TRANSACTION_TYPES)}")

    @property
    def receiver(self) -> str:
        return self.party_b or self.shortcode


class DarajaConnector:
    def __init__(self, account: DarajaAccount, timeout: float = 10.0) -> None:
        self.account = account
        self.timeout = timeout
        self._base = account.base_url.rstrip("/")

    # --- OAuth (doc §2) ------------------------------------------------------------------------

    def token_request(self) -> HttpRequest:
        pair = f"{self.account.consumer_key}:{self.account.consumer_secret}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
        return HttpRequest(
            "GET", self._base + TOKEN_PATH, {"Authorization": auth}, None, self.timeout
        )

    def parse_token(self, resp: HttpResponse, now: float) -> AccessToken | ProviderError:
        if resp.status != 200:
            return parse_error(resp)
        body = resp.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        lifetime = _seconds(body.get("expires_in", DEFAULT_TOKEN_LIFETIME)) if token else None
        if not isinstance(token, str) or not token or lifetime is None:
            # Nothing moves money here, so a garbled 200 is simply worth asking again.
            return ProviderError("retriable", "", "token answer without a usable token", 200)
        return AccessToken(token, now + max(lifetime - TOKEN_SAFETY_MARGIN, 0.0))

    # --- M-Pesa Express (doc §4) ---------------------------------------------------------------

    def stk_push_request(self, token: str, order: StkPushOrder, now: datetime) -> HttpRequest:
        _guard_lengths(order)
        ts = timestamp(now)
        payload = {
            # Numbers and strings mixed exactly as the official request sample (doc §4).
            "BusinessShortCode": int(self.account.shortcode),
            "Password": password(self.account.shortcode, self.account.passkey, ts),
            "Timestamp": ts,
            "TransactionType": self.account.transaction_type,
            "Amount": order.amount,
            "PartyA": order.phone,
            "PartyB": self.account.receiver,
            "PhoneNumber": order.phone,
            "CallBackURL": order.callback_url,
            "AccountReference": order.account_reference,
            "TransactionDesc": order.description,
        }
        return self._post(STK_PUSH_PATH, token, payload)

    def parse_stk_push(self, resp: HttpResponse) -> StkAccepted | ProviderError:
        body = resp.json()
        if resp.status != 200 or not isinstance(body, dict):
            return parse_error(resp)
        checkout = body.get("CheckoutRequestID")
        # ResponseCode is the string "0" on the wire (doc §4); accept a number too.
        if str(body.get("ResponseCode")) != "0" or not isinstance(checkout, str) or not checkout:
            # A 200 that is not a clean acceptance: the push may have gone out.
            return ProviderError("unknown", str(body.get("ResponseCode", "")), _desc(body), 200)
        return StkAccepted(
            merchant_request_id=str(body.get("MerchantRequestID", "")),
            checkout_request_id=checkout,
            customer_message=str(body.get("CustomerMessage", "")),
        )

    def parse_stk_callback(self, body: bytes) -> StkResult:
        """The asynchronous answer to a push; same parser as the query result."""
        return parse_stk_callback(body)

    # --- STK push query (doc §5) ---------------------------------------------------------------

    def stk_query_request(self, token: str, checkout_request_id: str, now: datetime) -> HttpRequest:
        ts = timestamp(now)
        payload = {
            "BusinessShortCode": self.account.shortcode,  # a string in the query sample (doc §5)
            "Password": password(self.account.shortcode, self.account.passkey, ts),
            "Timestamp": ts,
            "CheckoutRequestID": checkout_request_id,
        }
        return self._post(STK_QUERY_PATH, token, payload)

    def parse_stk_query(
        self, resp: HttpResponse, *, checkout_request_id: str | None = None
    ) -> StkResult | StkPending | ProviderError:
        """``checkout_request_id`` (optional) names the pending request when Daraja's does not."""
        body = resp.json()
        if _is_being_processed(resp.status, body):
            # doc §5: the sample's requestId is the CheckoutRequestID; prefer the caller's.
            return StkPending(checkout_request_id or str(body.get("requestId", "")))
        if resp.status != 200 or not isinstance(body, dict):
            return parse_error(resp)
        if "ResultCode" not in body:
            # Accepted but no result yet: not explicitly final, hence pending (house style).
            return StkPending(checkout_request_id or str(body.get("CheckoutRequestID", "")))
        try:
            return result_from_fields(body)
        except ValueError:
            return ProviderError("unknown", "", "query answer without the expected fields", 200)

    def _post(self, path: str, token: str, payload: dict[str, Any]) -> HttpRequest:
        headers = {"Authorization": f"Bearer {token}"}
        return HttpRequest.json("POST", self._base + path, payload, headers, self.timeout)


def _guard_lengths(order: StkPushOrder) -> None:
    # The switch's API validates these earlier; this guard keeps a bad order off the wire.
    if len(order.account_reference) > MAX_ACCOUNT_REFERENCE:
        raise ValueError(f"AccountReference is longer than {MAX_ACCOUNT_REFERENCE} characters")
    if len(order.description) > MAX_TRANSACTION_DESC:
        raise ValueError(f"TransactionDesc is longer than {MAX_TRANSACTION_DESC} characters")


def _is_being_processed(status: int, body: Any) -> bool:
    """HTTP 500 ``500.001.1001 The transaction is being processed`` means pending (doc §5)."""
    return (
        status == 500
        and isinstance(body, dict)
        and body.get("errorCode") == "500.001.1001"
        and "being processed" in str(body.get("errorMessage", "")).lower()
    )


def _seconds(value: Any) -> float | None:
    """``expires_in`` is "3599" in real answers and 3599 in newer docs (doc §2)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _desc(body: dict[str, Any]) -> str:
    desc = body.get("ResponseDescription") or body.get("CustomerMessage") or ""
    return str(desc) or "HTTP 200 without an acceptance"
