"""The Daraja connector: URLs, headers, flows. Pure: builds requests, parses answers.

Flows: OAuth token, M-Pesa Express (STK push) and its query, B2C v3 payouts, Transaction Status,
Reversal, Account Balance, C2B register URL and (sandbox) simulate. Initiator results and C2B
callbacks are parsed by the same functions whether they come from a callback or a replay. "doc §N"
tags name the topic in Safaricom's Daraja documentation (https://developer.safaricom.co.ke/APIs): §2
OAuth, §3 error envelope, §4 STK Push, §5 STK query, §6 C2B, §7 initiator mechanics, §8 B2C, §10
Transaction Status, §11 Reversal, §12 Account Balance, §13 sandbox test data.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.common import seconds
from connectors.http import HttpRequest, HttpResponse
from connectors.mpesa import b2b, c2b, initiator, qr, results
from connectors.mpesa.c2b import C2bAccepted, C2bRegistration, C2bSimulation
from connectors.mpesa.initiator import (
    B2cAccepted,
    B2cOrder,
    BalanceQuery,
    InitiatorAccepted,
    ReversalOrder,
    StatusQuery,
)
from connectors.mpesa.results import B2cResult, InitiatorResult, TransactionStatusResult
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
B2C_PATH = "/mpesa/b2c/v3/paymentrequest"
TRANSACTION_STATUS_PATH = "/mpesa/transactionstatus/v1/query"
REVERSAL_PATH = "/mpesa/reversal/v1/request"
ACCOUNT_BALANCE_PATH = "/mpesa/accountbalance/v1/query"
C2B_REGISTER_PATHS = {1: "/mpesa/c2b/v1/registerurl", 2: "/mpesa/c2b/v2/registerurl"}
C2B_SIMULATE_PATHS = {1: "/mpesa/c2b/v1/simulate", 2: "/mpesa/c2b/v2/simulate"}

TOKEN_SAFETY_MARGIN = 60.0  # seconds: refresh before Daraja's clock says the token is dead
# doc §2, used only if an answer omits expires_in ("3599" in real answers, 3599 in newer docs)
DEFAULT_TOKEN_LIFETIME = 3600
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
    # Initiator APIs (doc §7): the M-Pesa portal API operator and Safaricom's certificate (PEM).
    initiator_name: str | None = None
    initiator_password: str | None = field(default=None, repr=False)
    certificate_pem: bytes | None = field(default=None, repr=False)
    b2c_shortcode: str | None = None  # pays B2C; defaults to shortcode (a "one account")

    def __post_init__(self) -> None:
        if not _SHORTCODE.match(self.shortcode):
            raise ValueError("shortcode must be 5 to 7 digits")
        if self.b2c_shortcode is not None and not _SHORTCODE.match(self.b2c_shortcode):
            raise ValueError("b2c_shortcode must be 5 to 7 digits")
        if self.transaction_type not in TRANSACTION_TYPES:
            raise ValueError(f"transaction_type must be one of {sorted(TRANSACTION_TYPES)}")

    @property
    def receiver(self) -> str:
        return self.party_b or self.shortcode

    @property
    def payer(self) -> str:
        """The shortcode B2C payouts come from."""
        return self.b2c_shortcode or self.shortcode


class DarajaConnector:
    def __init__(self, account: DarajaAccount, timeout: float = 10.0) -> None:
        self.account = account
        self.timeout = timeout
        self._base = account.base_url.rstrip("/")
        self._credential: str | None = None

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
        lifetime = seconds(body.get("expires_in", DEFAULT_TOKEN_LIFETIME)) if token else None
        if not isinstance(token, str) or not token or lifetime is None:
            # Nothing moves money here, so a garbled 200 is simply worth asking again.
            return ProviderError("retriable", "", "token answer without a usable token", 200)
        return AccessToken.lasting(token, lifetime, now, TOKEN_SAFETY_MARGIN)

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

    # --- Initiator APIs: SecurityCredential (doc §7) -------------------------------------------

    def security_credential(self) -> str:
        """Encrypted once per connector: any PKCS#1 v1.5 ciphertext stays valid (doc §7)."""
        if self._credential is None:
            password, pem = self.account.initiator_password, self.account.certificate_pem
            if password is None or pem is None:
                raise ValueError("the account has no initiator_password/certificate_pem")
            self._credential = initiator.security_credential(password, pem)
        return self._credential

    def _initiator(self) -> dict[str, str]:
        if not self.account.initiator_name:
            raise ValueError("the account has no initiator_name")
        return {
            "Initiator": self.account.initiator_name,
            "SecurityCredential": self.security_credential(),
        }

    def parse_initiator_ack(self, resp: HttpResponse) -> InitiatorAccepted | ProviderError:
        """The synchronous answer of B2C, Transaction Status, Reversal and Account Balance."""
        return initiator.parse_initiator_ack(resp)

    def parse_result(self, body: bytes) -> InitiatorResult:
        """Any Result POSTed to a ResultURL (or QueueTimeOutURL), not yet interpreted."""
        return results.parse_result(body)

    # --- B2C v3 (doc §8) -----------------------------------------------------------------------

    def b2c_request(self, token: str, order: B2cOrder) -> HttpRequest:
        who = self._initiator()
        payload: dict[str, Any] = {
            "OriginatorConversationID": order.originator_conversation_id,
            "InitiatorName": who["Initiator"],  # B2C names the field differently (doc §8)
            "SecurityCredential": who["SecurityCredential"],
            "CommandID": order.command_id,
            "Amount": order.amount,
            "PartyA": self.account.payer,
            "PartyB": order.phone,
            "Remarks": order.remarks,
            "QueueTimeOutURL": order.queue_timeout_url,
            "ResultURL": order.result_url,
            "Occassion": order.occasion or "",  # double "s" on v3 (doc §1); "" as in B2B samples
        }
        return self._post(B2C_PATH, token, payload)

    def parse_b2c_ack(self, resp: HttpResponse) -> B2cAccepted | ProviderError:
        """Duplicate OriginatorConversationID comes out as ``kind == "duplicate"``."""
        return initiator.parse_initiator_ack(resp)

    def parse_b2c_result(self, body: bytes) -> B2cResult:
        return results.parse_b2c_result(body)

    # --- B2B and Tax Remittance (doc §9) -------------------------------------------------------

    def b2b_request(self, token: str, order: b2b.B2bOrder) -> HttpRequest:
        """From the account's paying shortcode (as B2C): its Working/MMF account is debited."""
        payload = b2b.b2b_payload(order, self._initiator(), self.account.payer)
        return self._post(order.path, token, payload)

    # --- Dynamic QR (Daraja's Dynamic QR page) -------------------------------------------------

    def qr_request(self, token: str, order: qr.QrOrder) -> HttpRequest:
        return self._post(qr.QR_PATH, token, qr.qr_payload(order))

    # --- Transaction Status (doc §10) ----------------------------------------------------------

    def transaction_status_request(self, token: str, query: StatusQuery) -> HttpRequest:
        payload: dict[str, Any] = {**self._initiator(), "CommandID": "TransactionStatusQuery"}
        if query.transaction_id:
            payload["TransactionID"] = query.transaction_id
        if query.original_conversation_id:
            payload["OriginalConversationID"] = query.original_conversation_id
        payload.update(
            {
                "PartyA": query.party_a or self.account.payer,
                "IdentifierType": query.identifier_type,
                "ResultURL": query.result_url,
                "QueueTimeOutURL": query.queue_timeout_url,
                "Remarks": query.remarks,
                "Occasion": query.occasion,  # one "s" here (doc §10)
            }
        )
        return self._post(TRANSACTION_STATUS_PATH, token, payload)

    def parse_transaction_status(self, body: bytes) -> TransactionStatusResult:
        return results.parse_transaction_status(body)

    # --- Reversal (doc §11) --------------------------------------------------------------------

    def reversal_request(self, token: str, order: ReversalOrder) -> HttpRequest:
        payload = {
            **self._initiator(),
            "CommandID": "TransactionReversal",
            "TransactionID": order.transaction_id,
            "Amount": str(order.amount),  # a string in the doc sample (doc §11)
            "ReceiverParty": order.receiver_party or self.account.shortcode,
            "RecieverIdentifierType": "11",  # sic, "ie" (doc §1); 11 for reversals (doc §7)
            "ResultURL": order.result_url,
            "QueueTimeOutURL": order.queue_timeout_url,
            "Remarks": order.remarks,
            "Occasion": order.occasion,
        }
        return self._post(REVERSAL_PATH, token, payload)

    # --- Account Balance (doc §12) -------------------------------------------------------------

    def account_balance_request(self, token: str, query: BalanceQuery) -> HttpRequest:
        payload = {
            **self._initiator(),
            "CommandID": "AccountBalance",
            "PartyA": query.party_a or self.account.payer,
            "IdentifierType": query.identifier_type,
            "Remarks": query.remarks,
            "QueueTimeOutURL": query.queue_timeout_url,
            "ResultURL": query.result_url,
        }
        return self._post(ACCOUNT_BALANCE_PATH, token, payload)

    # --- C2B (doc §6) --------------------------------------------------------------------------

    def c2b_register_request(
        self, token: str, registration: C2bRegistration, version: int = 2
    ) -> HttpRequest:
        """v2 registrations get masked MSISDNs in callbacks, v1 SHA-256 digests (doc §6)."""
        payload = {
            "ShortCode": registration.shortcode,
            "ResponseType": registration.response_type,
            "ConfirmationURL": registration.confirmation_url,
            "ValidationURL": registration.validation_url,
        }
        return self._post(_versioned(C2B_REGISTER_PATHS, version), token, payload)

    def c2b_simulate_request(
        self, token: str, simulation: C2bSimulation, version: int = 2
    ) -> HttpRequest:
        """Sandbox only: production payments come from real customers (doc §6)."""
        payload: dict[str, Any] = {
            "ShortCode": int(simulation.shortcode),  # numbers, as in the doc sample
            "CommandID": simulation.command_id,
            "Amount": simulation.amount,
            "Msisdn": int(simulation.msisdn),
        }
        if simulation.bill_ref is not None:  # absent for tills (doc §6)
            payload["BillRefNumber"] = simulation.bill_ref
        return self._post(_versioned(C2B_SIMULATE_PATHS, version), token, payload)

    def parse_c2b_ack(self, resp: HttpResponse) -> C2bAccepted | ProviderError:
        return c2b.parse_c2b_ack(resp)

    def _post(self, path: str, token: str, payload: dict[str, Any]) -> HttpRequest:
        headers = {"Authorization": f"Bearer {token}"}
        return HttpRequest.json("POST", self._base + path, payload, headers, self.timeout)


def _versioned(paths: dict[int, str], version: int) -> str:
    if version not in paths:
        raise ValueError(f"version must be one of {sorted(paths)}")
    return paths[version]


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


def _desc(body: dict[str, Any]) -> str:
    desc = body.get("ResponseDescription") or body.get("CustomerMessage") or ""
    return str(desc) or "HTTP 200 without an acceptance"
