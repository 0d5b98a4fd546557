"""The PesaLink connector: URLs, headers, signatures, flows. Pure: builds requests, parses answers.

Flows (the wire and where each fact comes from: ``transformers`` module docstring): token, account
(name) lookup, phone directory lookup, credit transfer to an account or to a phone, status
enquiry, result callback. Look the recipient up BEFORE money moves: the lookup's name is what the
transfer carries in ``destination.name`` (signed, and checked by some banks, reason BE01).

Money safety: a transfer carries our ``end_to_end_id`` as ``transfer.reference``; the bank refuses
a second transfer with it (``duplicate``). After a timeout, a lost answer or an ``unknown`` error,
ask :meth:`PesaLinkConnector.status_request`; resend (same reference) only on ``TransferNotFound``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.common import exact_number
from connectors.http import HttpRequest, HttpResponse
from connectors.pesalink import signature
from connectors.pesalink.banks import (
    BANKS,
    DEFAULT_MINIMUM_CENTS,
    check_limits,
    normalise_bank_code,
)
from connectors.pesalink.transformers import (
    CODE_ACCOUNT_INVALID,
    CODE_NOT_FOUND,
    CODE_PHONE_NOT_LINKED,
    COUNTRY,
    CURRENCY,
    EAT,
    REASONS,
    RETRY_LATER_REASONS,
    TRANSFER_TYPE,
    AccessToken,
    AccountInvalid,
    AccountName,
    DirectoryEntry,
    ErrorKind,
    LinkedAccount,
    MalformedCallback,
    PhoneNotLinked,
    ProviderError,
    TransferNotFound,
    TransferOrder,
    TransferResult,
    code_number,
    envelope_data,
    format_amount,
    national_msisdn,
    normalise_msisdn,
    parse_callback,
    parse_error,
    read_only,
    transfer_from_data,
)

TOKEN_PATH = "/authentication/api/v3/authenticate/merchant"  # noqa: S105 (a URL path)
_API = "/v3-apis/transaction-api/v3.0"
ACCOUNT_LOOKUP_PATH = _API + "/pesalink/accountLookup"
PHONE_LOOKUP_PATH = _API + "/pesalink/inquire"
TO_ACCOUNT_PATH = _API + "/remittance/pesalinkacc"  # doc §3.1
TO_PHONE_PATH = _API + "/remittance/pesalinkMobile"  # doc §3.1
STATUS_PATH = _API + "/transactions/details/"  # + the reference, URL-quoted

TOKEN_SAFETY_MARGIN = 60.0  # seconds: refresh before the bank's clock says the token is dead
NOT_LINKED_MESSAGE = "The phone number is not linked to an account on PesaLink."
DEFAULT_TOKEN_LIFETIME = 3600.0  # used only if an answer's expiresIn cannot be read (unverified)


@dataclass(frozen=True, slots=True)
class PesaLinkAccount:
    """Our merchant profile at the participant bank that fronts PesaLink for us."""

    base_url: str
    api_key: str = field(repr=False)
    merchant_code: str
    consumer_secret: str = field(repr=False)
    signing_key_pem: bytes = field(repr=False)  # our RSA private key; the bank has its public
    source_account: str  # debited by every transfer (doc §3.1 source.accountNumber)
    source_name: str
    minimum_cents: int = DEFAULT_MINIMUM_CENTS  # the bank's PesaLink minimum (doc §1)

    def __post_init__(self) -> None:
        if not self.source_account.isalnum():
            raise ValueError("source_account must be letters and digits")
        if not self.source_name.strip():
            raise ValueError("source_name must not be empty")


class PesaLinkConnector:
    def __init__(self, account: PesaLinkAccount, timeout: float = 10.0) -> None:
        self.account = account
        self.timeout = timeout
        self._base = account.base_url.rstrip("/")
        self._key: rsa.RSAPrivateKey | None = None

    # --- token (note 1) ------------------------------------------------------------------------

    def token_request(self) -> HttpRequest:
        payload = {
            "merchantCode": self.account.merchant_code,
            "consumerSecret": self.account.consumer_secret,
        }
        headers = {"Api-Key": self.account.api_key}
        return HttpRequest.json("POST", self._base + TOKEN_PATH, payload, headers, self.timeout)

    def parse_token(self, resp: HttpResponse, now: float) -> AccessToken | ProviderError:
        """``now`` is epoch seconds (``time.time()``)."""
        body = resp.json()
        if resp.status != 200 or not isinstance(body, dict):
            return read_only(parse_error(resp))
        token = body.get("accessToken")
        if not isinstance(token, str) or not token:
            # Nothing moves money here, so a garbled 200 is simply worth asking again.
            return ProviderError("retriable", "", "token answer without an accessToken", 200)
        lifetime = _lifetime(body.get("expiresIn"), body.get("issuedAt"), now)
        return AccessToken.lasting(token, lifetime, now, TOKEN_SAFETY_MARGIN)

    # --- account (name) lookup (note 3) --------------------------------------------------------

    def account_lookup_request(
        self, token: str, bank_code: str, account_number: str
    ) -> HttpRequest:
        """Signed: countryCode + bankCode + accountNumber (our formula, unverified)."""
        payload = {
            "countryCode": COUNTRY,
            "bankCode": normalise_bank_code(bank_code),
            "accountNumber": account_number,
        }
        signed = (payload["countryCode"], payload["bankCode"], account_number)
        return self._post(ACCOUNT_LOOKUP_PATH, token, payload, signed)

    def parse_account_lookup(
        self, resp: HttpResponse, bank_code: str, account_number: str
    ) -> AccountName | AccountInvalid | ProviderError:
        body = resp.json()
        code = normalise_bank_code(bank_code)
        data = envelope_data(body)
        if resp.status == 200 and data is not None:
            name = data.get("accountName")
            if isinstance(name, str) and name.strip():
                return AccountName(code, BANKS[code], account_number, name.strip())
            return ProviderError("retriable", "", "lookup answer without an accountName", 200)
        if _code(body) == CODE_ACCOUNT_INVALID:
            reason = _reason(body)
            if reason in RETRY_LATER_REASONS:
                return ProviderError("retriable", reason, REASONS[reason], resp.status)
            message = REASONS.get(reason, "The account cannot receive PesaLink transfers.")
            return AccountInvalid(code, account_number, reason, message)
        return read_only(parse_error(resp))

    # --- phone directory lookup (note 2) -------------------------------------------------------

    def phone_lookup_request(self, token: str, phone: str) -> HttpRequest:
        """Signed: mobileNumber (our formula, unverified)."""
        mobile = national_msisdn(phone)
        return self._post(PHONE_LOOKUP_PATH, token, {"mobileNumber": mobile}, (mobile,))

    def parse_phone_lookup(
        self, resp: HttpResponse, phone: str
    ) -> DirectoryEntry | PhoneNotLinked | ProviderError:
        msisdn = normalise_msisdn(phone)
        body = resp.json()
        if _code(body) == CODE_PHONE_NOT_LINKED:
            return PhoneNotLinked(msisdn, NOT_LINKED_MESSAGE)
        # v3 wraps the list in the envelope's data; v2 client samples show a bare {"banks": [...]}.
        data = envelope_data(body) or (body if isinstance(body, dict) and "banks" in body else None)
        if resp.status != 200 or data is None:
            return read_only(parse_error(resp))
        accounts = _linked_accounts(data.get("banks"))
        if not accounts:
            return PhoneNotLinked(msisdn, NOT_LINKED_MESSAGE)
        return DirectoryEntry(msisdn, accounts)

    # --- credit transfer (doc §3.1) ------------------------------------------------------------

    def transfer_request(self, token: str, order: TransferOrder, now: datetime) -> HttpRequest:
        """Signed: amount + currencyCode + reference + destination.name + source.accountNumber
        (doc §3.1 for an account; client libraries sign a transfer to a phone the same way)."""
        refused = check_limits(order.amount_cents, minimum_cents=self.account.minimum_cents)
        if refused is not None:
            raise ValueError(refused)  # the switch checks first; this keeps it off the wire
        if now.tzinfo is None:
            raise ValueError("transfer_request() needs a time-zone-aware datetime")
        transfer: dict[str, Any] = {
            "type": TRANSFER_TYPE,
            "amount": format_amount(order.amount_cents),
            "currencyCode": CURRENCY,
            "reference": order.end_to_end_id,
            "date": now.astimezone(EAT).date().isoformat(),  # '2023-10-11' (doc §3.1)
            "description": order.description,
        }
        if order.callback_url is not None:
            transfer["callbackUrl"] = order.callback_url
        payload = {
            "source": {
                "countryCode": COUNTRY,
                "name": self.account.source_name,
                "accountNumber": self.account.source_account,
            },
            "destination": _destination(order),
            "transfer": transfer,
        }
        signed = (
            transfer["amount"],
            CURRENCY,
            order.end_to_end_id,
            order.recipient_name,
            self.account.source_account,
        )
        path = TO_PHONE_PATH if order.mode == "phone" else TO_ACCOUNT_PATH
        return self._post(path, token, payload, signed)

    def parse_transfer(
        self, resp: HttpResponse, order: TransferOrder
    ) -> TransferResult | ProviderError:
        """The synchronous answer: often final already (PesaLink is real time), else pending."""
        data = envelope_data(resp.json())
        if resp.status != 200 or data is None:
            return parse_error(resp)
        return _result_for(data, order.end_to_end_id, unreadable="unknown")

    # --- status enquiry (note 4) ---------------------------------------------------------------

    def status_request(self, token: str, end_to_end_id: str) -> HttpRequest:
        """Signed: the reference (integrators' notes on Jenga's transaction details)."""
        url = self._base + STATUS_PATH + quote(end_to_end_id, safe="")
        headers = self._headers(token, (end_to_end_id,))
        return HttpRequest("GET", url, headers, None, self.timeout)

    def parse_status(
        self, resp: HttpResponse, end_to_end_id: str
    ) -> TransferResult | TransferNotFound | ProviderError:
        body = resp.json()
        if resp.status == 404 and _code(body) == CODE_NOT_FOUND:
            return TransferNotFound(end_to_end_id)
        data = envelope_data(body)
        if resp.status != 200 or data is None:
            return read_only(parse_error(resp))
        return _result_for(data, end_to_end_id, unreadable="retriable")

    # --- result callback (note 5) --------------------------------------------------------------

    def parse_callback(self, body: bytes) -> TransferResult:
        """The bank's POST to ``callbackUrl``; the caller checks it against its stored transfer."""
        return parse_callback(body)

    # --- helpers -------------------------------------------------------------------------------

    def sign(self, *fields: str) -> str:
        if self._key is None:  # parsed once per connector: loading a PEM costs more than signing
            self._key = signature.load_private_key(self.account.signing_key_pem)
        return signature.sign(self._key, signature.signed_string(*fields))

    def _headers(self, token: str, signed: tuple[str, ...]) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "signature": self.sign(*signed)}

    def _post(
        self, path: str, token: str, payload: dict[str, Any], signed: tuple[str, ...]
    ) -> HttpRequest:
        headers = self._headers(token, signed)
        return HttpRequest.json("POST", self._base + path, payload, headers, self.timeout)


def _destination(order: TransferOrder) -> dict[str, str]:
    if order.phone is not None:
        destination = {
            "type": "mobile",
            "countryCode": COUNTRY,
            "name": order.recipient_name,
            "mobileNumber": national_msisdn(order.phone),  # '07XXXXXXXX' (doc §3.1)
        }
        if order.bank_code is not None:  # which of the phone's links; default otherwise (doc §2)
            destination["bankCode"] = order.bank_code
        return destination
    return {
        "type": "bank",
        "countryCode": COUNTRY,
        "name": order.recipient_name,
        "bankCode": order.bank_code or "",
        "accountNumber": order.account_number or "",
    }


def _result_for(
    data: dict[str, Any], end_to_end_id: str, *, unreadable: ErrorKind
) -> TransferResult | ProviderError:
    try:
        result = transfer_from_data(data, end_to_end_id)
    except MalformedCallback as exc:
        return ProviderError(unreadable, "", f"unreadable transfer answer: {exc}", 200)
    if result.end_to_end_id != end_to_end_id:
        # An answer about another transfer proves nothing about ours.
        return ProviderError("unknown", "", "answer names another transfer reference", 200)
    return result


def _linked_accounts(banks: Any) -> tuple[LinkedAccount, ...]:
    if not isinstance(banks, list):
        return ()
    out = []
    for entry in banks:
        if not isinstance(entry, dict):
            continue
        try:
            code = normalise_bank_code(str(entry.get("bankCode", "")))
        except ValueError:
            continue  # a link at a bank we cannot route to is of no use
        mask = entry.get("accountNumber")
        out.append(
            LinkedAccount(
                bank_code=code,
                bank_name=str(entry.get("bankName") or BANKS[code]),
                holder_name=str(entry.get("customerName") or ""),
                account_mask=mask if isinstance(mask, str) and mask else None,
                is_default=entry.get("isDefault") is True,
            )
        )
    return tuple(out)


def _code(body: Any) -> int | None:
    return code_number(body.get("code")) if isinstance(body, dict) else None


def _reason(body: Any) -> str:
    data = body.get("data") if isinstance(body, dict) else None
    reason = data.get("reasonCode") if isinstance(data, dict) else None
    return reason if isinstance(reason, str) else ""


def _lifetime(expires_in: Any, issued_at: Any, now: float) -> float:
    """Seconds the token lives: ``expiresIn`` as seconds, or as an ISO time (then measured from
    ``issuedAt`` if given, so a skewed clock on either side does not matter)."""
    try:
        return float(exact_number(expires_in))  # below zero: the token is stale at once
    except ValueError:
        pass  # not a finite number ("inf" would keep a token forever): an ISO time, or default
    if not isinstance(expires_in, str):
        return DEFAULT_TOKEN_LIFETIME
    try:
        expiry = datetime.fromisoformat(expires_in)
        start = datetime.fromisoformat(issued_at) if isinstance(issued_at, str) else None
    except ValueError:
        return DEFAULT_TOKEN_LIFETIME
    if expiry.tzinfo is None or (start is not None and start.tzinfo is None):
        return DEFAULT_TOKEN_LIFETIME  # a naive time could be in any zone (unverified)
    if start is not None:
        return (expiry - start).total_seconds()
    return expiry.timestamp() - now
