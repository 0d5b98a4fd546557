"""The Airtel Money Open API (Kenya) connector: URLs, headers, flows. Pure: builds requests,
parses answers.

Flows: OAuth client credentials (doc §2), USSD-push collection (§4) and its enquiry (§5), the
collection callback with its optional hash (§6), refund (§7), v1 disbursement with the encrypted
PIN and its enquiry (§8), the encryption-key lookup (§8) and the KYC user enquiry (§9, the
name before a payout: ``kyc``). The same parser reads a collection's
callback and its enquiry. Sections cited as "doc §N": see ``transformers``.

Not covered: the v2 signed endpoints (``x-signature``/``x-key``; whether Kenya requires them is
unverified, doc §8) and balance (doc §9).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from connectors.airtel import kyc, security
from connectors.airtel.security import HASH_FORMS, PIN_PADDINGS, HashForm, PinPadding
from connectors.airtel.transformers import (
    ACCEPTED_PUSH_CODES,
    COUNTRY,
    CURRENCY,
    NOT_FOUND_CODES,
    STATUSES,
    AccessToken,
    CallbackHashMismatch,
    CollectionAccepted,
    CollectionOrder,
    DisbursementOrder,
    EncryptionKey,
    Envelope,
    Outcome,
    ProviderError,
    RefundResult,
    TransactionResult,
    callback_envelope,
    code_kind,
    envelope,
    not_found,
    parse_callback,
    parse_error,
    result_from_fields,
)
from connectors.common import seconds
from connectors.http import HttpRequest, HttpResponse

UAT_BASE_URL = "https://openapiuat.airtel.africa"  # doc §1
PRODUCTION_BASE_URL = "https://openapi.airtel.africa"  # doc §1 (no Kenya-specific host found)

TOKEN_PATH = "/auth/oauth2/token"  # noqa: S105 (a URL path)
COLLECTION_PATH = "/merchant/v1/payments/"  # the trailing slash every SDK sends (doc §1)
COLLECTION_ENQUIRY_PATH = "/standard/v1/payments/"
REFUND_PATH = "/standard/v1/payments/refund"
DISBURSEMENT_PATH = "/standard/v1/disbursements/"
DISBURSEMENT_ENQUIRY_PATH = "/standard/v1/disbursements/"
ENCRYPTION_KEYS_PATH = "/v1/rsa/encryption-keys"

DEFAULT_TOKEN_LIFETIME = 180  # seconds (doc §2), used only if an answer omits expires_in
TOKEN_SAFETY_MARGIN = 20.0  # seconds, at most a quarter of the lifetime: tokens live 3 minutes
_PIN = re.compile(r"^\d{4}$")
_REFUND_SUCCESS = frozenset({"SUCCESS", "TS"})  # doc §7 sample: "SUCCESS"
_REFUND_FAILURE = frozenset({"TF", "TE", "FAILED"})


@dataclass(frozen=True, slots=True)
class AirtelAccount:
    base_url: str
    client_id: str
    client_secret: str = field(repr=False)
    # Disbursements (doc §8): the merchant wallet's PIN and Airtel's RSA public key (Base64 DER
    # as issued, or PEM), with the padding that key version expects.
    pin: str | None = field(default=None, repr=False)
    public_key: str | None = field(default=None, repr=False)
    pin_padding: PinPadding = "pkcs1v15"
    # Callback authentication (doc §6): the "private key" of the application settings. When set,
    # every callback must carry a matching ``hash``.
    callback_key: str | None = field(default=None, repr=False)
    hash_form: HashForm = "fixed_order"

    def __post_init__(self) -> None:
        if self.pin is not None and not _PIN.match(self.pin):
            raise ValueError("pin must be 4 digits")
        if self.pin_padding not in PIN_PADDINGS:
            raise ValueError(f"pin_padding must be one of {list(PIN_PADDINGS)}")
        if self.hash_form not in HASH_FORMS:
            raise ValueError(f"hash_form must be one of {list(HASH_FORMS)}")
        if self.callback_key is not None and not self.callback_key:
            raise ValueError("callback_key must not be empty (use None to turn hashes off)")


class AirtelConnector:
    def __init__(self, account: AirtelAccount, timeout: float = 10.0) -> None:
        self.account = account
        self.timeout = timeout
        self._base = account.base_url.rstrip("/")
        self._pin: str | None = None

    # --- OAuth (doc §2) ------------------------------------------------------------------------

    def token_request(self) -> HttpRequest:
        payload = {
            "client_id": self.account.client_id,
            "client_secret": self.account.client_secret,
            "grant_type": "client_credentials",
        }
        return HttpRequest.json(
            "POST", self._base + TOKEN_PATH, payload, {"Accept": "*/*"}, self.timeout
        )

    def parse_token(self, resp: HttpResponse, now: float) -> AccessToken | ProviderError:
        """``now`` is epoch seconds; the token is cached by the caller until ``expires_at``."""
        if resp.status != 200:
            return parse_error(resp)
        body = resp.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        lifetime = seconds(body.get("expires_in", DEFAULT_TOKEN_LIFETIME)) if token else None
        if not isinstance(token, str) or not token or lifetime is None:
            # Nothing moves money here, so a garbled 200 is simply worth asking again.
            return ProviderError("retriable", "", "token answer without a usable token", 200)
        return AccessToken.lasting(token, lifetime, now, min(TOKEN_SAFETY_MARGIN, lifetime / 4))

    # --- Collection: USSD push (doc §4) --------------------------------------------------------

    def collection_request(self, token: str, order: CollectionOrder) -> HttpRequest:
        payload = {
            "reference": order.reference,
            # country/currency are optional per portal copies; every SDK sends them (doc §4).
            "subscriber": {"country": COUNTRY, "currency": CURRENCY, "msisdn": order.msisdn},
            "transaction": {
                "amount": order.amount,
                "country": COUNTRY,
                "currency": CURRENCY,
                "id": order.transaction_id,
            },
        }
        return self._post(COLLECTION_PATH, token, payload)

    def parse_collection(self, resp: HttpResponse) -> CollectionAccepted | ProviderError:
        """The push's synchronous answer. An acceptance is never a payment (doc §4, §10)."""
        env = envelope(resp)
        if resp.status != 200 or not env.success:
            return parse_error(resp)
        if not _push_accepted(env):
            # success=true with a code that is not "in process": the prompt may have gone out.
            message = env.message or "HTTP 200 without an acceptance"
            return ProviderError("unknown", env.code, message, 200)
        txn = env.transaction or {}
        echo = txn.get("id")
        return CollectionAccepted(
            transaction_id=echo if isinstance(echo, str) and echo else None,
            push_status=str(txn.get("status") or ""),
            response_code=env.response_code,
            message=env.message,
        )

    # --- Collection enquiry (doc §5) -----------------------------------------------------------

    def collection_enquiry_request(self, token: str, transaction_id: str) -> HttpRequest:
        return self._get(COLLECTION_ENQUIRY_PATH + quote(transaction_id, safe=""), token)

    def parse_collection_enquiry(
        self, resp: HttpResponse, transaction_id: str
    ) -> TransactionResult | ProviderError:
        """TS/TF/TE are final, TIP/TA pending; "not found" is a pending result with
        ``found=False`` (the caller judges by the age of the request)."""
        return _enquiry(resp, transaction_id)

    # --- Collection callback (doc §6) ----------------------------------------------------------

    def parse_callback(self, body: bytes) -> TransactionResult:
        """The POST Airtel makes to the portal-configured callback URL.

        With ``callback_key`` set, the ``hash`` must be present and match, else
        :class:`CallbackHashMismatch` (never trust an unauthenticated result then).
        """
        key = self.account.callback_key
        if key is not None:
            txn, received = callback_envelope(body)
            if received is None:
                raise CallbackHashMismatch("callback authentication is on but there is no hash")
            if not security.hash_matches(txn, received, key, self.account.hash_form):
                raise CallbackHashMismatch("callback hash does not match its payload")
        return parse_callback(body)

    # --- Refund (doc §7) -----------------------------------------------------------------------

    def refund_request(self, token: str, airtel_money_id: str) -> HttpRequest:
        if not airtel_money_id:
            raise ValueError("airtel_money_id is required: refunds are keyed by it (doc §7)")
        return self._post(REFUND_PATH, token, {"transaction": {"airtel_money_id": airtel_money_id}})

    def parse_refund(
        self, resp: HttpResponse, airtel_money_id: str
    ) -> RefundResult | ProviderError:
        env = envelope(resp)
        if resp.status != 200 or env.transaction is None or _duplicate(env):
            error = parse_error(resp)
            if "already refunded" in error.message.lower():
                # Airtel's answer to a second refund is unverified; the simulator says "already
                # refunded". Like a duplicate id, it means: the first one went through.
                return ProviderError("duplicate", error.code, error.message, error.http_status)
            return error
        status = str(env.transaction.get("status") or "").strip()
        outcome, message = _refund_outcome(env, status)
        return RefundResult(
            airtel_money_id=airtel_money_id,
            outcome=outcome,
            status=status,
            response_code=env.response_code,
            message=message,
            provider_message=env.message,
        )

    # --- Disbursement v1 (doc §8) --------------------------------------------------------------

    def encrypted_pin(self) -> str:
        """Encrypted once per connector: any ciphertext of the PIN stays valid (doc §8)."""
        if self._pin is None:
            pin, key = self.account.pin, self.account.public_key
            if pin is None or key is None:
                raise ValueError("the account has no pin/public_key for disbursements")
            self._pin = security.encrypt_pin(pin, key, self.account.pin_padding)
        return self._pin

    def disbursement_request(self, token: str, order: DisbursementOrder) -> HttpRequest:
        payload = {
            "payee": {"msisdn": order.msisdn},
            "reference": order.reference,
            "pin": self.encrypted_pin(),
            "transaction": {"amount": order.amount, "id": order.transaction_id},
        }
        return self._post(DISBURSEMENT_PATH, token, payload)

    def parse_disbursement(
        self, resp: HttpResponse, transaction_id: str
    ) -> TransactionResult | ProviderError:
        """Payouts usually complete synchronously: TS + DP00900001001 (doc §8); a TIP/TA or an
        ambiguous code is pending (enquire); a duplicate id is ``ProviderError(duplicate)``."""
        env = envelope(resp)
        txn = env.transaction
        if resp.status != 200 or txn is None or not txn.get("status") or _duplicate(env):
            return parse_error(resp)
        return _result(env, txn, transaction_id)

    def disbursement_enquiry_request(self, token: str, transaction_id: str) -> HttpRequest:
        return self._get(DISBURSEMENT_ENQUIRY_PATH + quote(transaction_id, safe=""), token)

    def parse_disbursement_enquiry(
        self, resp: HttpResponse, transaction_id: str
    ) -> TransactionResult | ProviderError:
        return _enquiry(resp, transaction_id)

    # --- Encryption keys (doc §8, unverified for KE) -------------------------------------------

    def encryption_keys_request(self, token: str) -> HttpRequest:
        return self._get(ENCRYPTION_KEYS_PATH, token)

    def parse_encryption_keys(self, resp: HttpResponse) -> EncryptionKey | ProviderError:
        env = envelope(resp)
        data = env.data or {}
        key = data.get("key")
        if resp.status != 200 or not isinstance(key, str) or not key:
            return parse_error(resp)
        return EncryptionKey(str(data.get("key_id") or ""), key, str(data.get("valid_upto") or ""))

    # --- KYC user enquiry (doc §9; connectors/airtel/kyc.py) -----------------------------------

    def user_request(self, token: str, phone: str) -> HttpRequest:
        return self._get(kyc.path_of(phone), token)

    # --- helpers -------------------------------------------------------------------------------

    def _headers(self, token: str) -> dict[str, str]:
        # X-Country and X-Currency are required on every product call (doc §1).
        return {
            "Accept": "*/*",
            "Authorization": f"Bearer {token}",
            "X-Country": COUNTRY,
            "X-Currency": CURRENCY,
        }

    def _post(self, path: str, token: str, payload: dict[str, Any]) -> HttpRequest:
        return HttpRequest.json(
            "POST", self._base + path, payload, self._headers(token), self.timeout
        )

    def _get(self, path: str, token: str) -> HttpRequest:
        return HttpRequest("GET", self._base + path, self._headers(token), None, self.timeout)


def _push_accepted(env: Envelope) -> bool:
    """success=true and "in process" (doc §4); older answers omit response_code (doc §3)."""
    if env.response_code:
        return env.response_code in ACCEPTED_PUSH_CODES
    return env.result_code in ("", "ESB000010")


def _duplicate(env: Envelope) -> bool:
    return "duplicate" in (code_kind(env.response_code), code_kind(env.result_code))


def _enquiry(resp: HttpResponse, transaction_id: str) -> TransactionResult | ProviderError:
    env = envelope(resp)
    if env.has(NOT_FOUND_CODES) and resp.status in (200, 400, 404):
        return not_found(transaction_id, env.response_code or env.result_code, env.message)
    if resp.status != 200 or env.transaction is None:
        return parse_error(resp)
    return _result(env, env.transaction, transaction_id)


def _result(
    env: Envelope, txn: dict[str, Any], transaction_id: str
) -> TransactionResult | ProviderError:
    echo = txn.get("id")
    if isinstance(echo, str) and echo and echo != transaction_id:
        message = f"Airtel answered about another transaction ({echo})"
        return ProviderError("unknown", env.code, message, env.http_status)
    return result_from_fields(
        txn, response_code=env.response_code or None, fallback_id=transaction_id
    )


def _refund_outcome(env: Envelope, status: str) -> tuple[Outcome, str]:
    """Treat ``success`` and the status together (doc §7: one portal copy pairs
    ``success: false`` with ``message: SUCCESS``).

    The doc sample answers ``success: true``, status ``SUCCESS`` and response code
    ``DP00800001006``; no refund callback or enquiry is documented, so that answer is the only
    word there is: it counts as a completed refund (*unverified*).
    """
    norm = status.upper().rstrip(".")
    code = STATUSES.get(env.response_code)
    if code is not None and code[0] == "failed":
        return code
    if norm in _REFUND_FAILURE:
        return "failed", "Airtel Money refused the refund."
    if env.success and norm in _REFUND_SUCCESS:
        return "succeeded", "Refunded: Airtel Money returned the full amount to the customer."
    return "pending", "Airtel Money has not confirmed the refund."
