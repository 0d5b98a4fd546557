"""Request and response models of the public API. They validate input (unknown fields are
refused) and are the source of the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from api.methods import (
    COLLECT,
    COLLECT_FROM_TILL,
    COLLECTING_OPERATORS,
    OPERATORS_OF,
    PAYOUT,
    CollectMethod,
    PaymentMethod,
    PayoutMethod,
    PayoutShownMethod,
    ProviderName,
    destinations_of,
    payout_rails_to,
)
from connectors.pesalink import normalise_bank_code
from routing.operators import OPERATOR_NAMES, Operator, operator_of
from switch.money import parse_whole_shillings
from switch.phone import normalise_msisdn
from switch.rails import RAILS, display_name, takes_command

MetadataValue = str | int | float | bool | None


def _amount_in_limits(value: str, methods: tuple[str, ...]) -> str:
    """The amount must fit at least one of the rails the payment may take (auto) or the one it
    names; the shard checks the chosen rail again."""
    minor = parse_whole_shillings(value)
    rails = [RAILS[m] for m in methods]
    if not any(r.min_minor <= minor <= r.max_minor for r in rails):
        low = min(r.min_minor for r in rails) // 100
        high = max(r.max_minor for r in rails) // 100
        raise ValueError(f"must be between {low} and {high} shillings")
    return value


def _article(text: str) -> str:
    return "an" if text[:1] in "AEIOU" else "a"


# The documentation of the method fields, from the registry's rails (labels, operators).
_COLLECT_METHODS = (
    ", ".join(f"`{m}` ({RAILS[m].label})" for m in (*COLLECT, *COLLECT_FROM_TILL))
    + " or `auto` (by the phone's operator)."
)
_PHONES_FOR = ", ".join(
    f"{_article(name)} {name} number for `{m}`"
    for m in COLLECT
    if (name := " or ".join(OPERATOR_NAMES[cast(Operator, o)] for o in OPERATORS_OF[m]))
)
_COLLECT_PHONES = _PHONES_FOR[:1].upper() + _PHONES_FOR[1:] + "."


def _payout_method(method: str) -> str:
    rail = RAILS[method]
    if not rail.reaches_any_phone:
        return f"`{method}`"
    provider = display_name(rail.provider)
    return (
        f"`{method}` ({provider}, to `{rail.destination}` or to the account a `phone` is linked to)"
    )


_PAYOUT_METHODS = ", ".join(map(_payout_method, PAYOUT)) + ", or `auto` (from the destination)."
# The payout rails that take a command (Daraja's CommandID) and the one sent unless named.
_COMMAND_RAILS = " or ".join(RAILS[m].label for m in PAYOUT if takes_command(m))
Command = Literal["BusinessPayment", "SalaryPayment", "PromotionPayment"]
_DEFAULT_COMMAND = cast(Command, next(c for m in PAYOUT if (c := RAILS[m].default_command)))


def _check_operator(method: str, phone: str) -> None:
    wanted = OPERATORS_OF.get(method, ())
    if wanted and operator_of(phone) not in wanted:
        names = " or ".join(w.capitalize() for w in wanted)
        article = "an" if names[:1] in "AEIOU" else "a"
        raise ValueError(f"phone: must be {article} {names} number for {method}")


class TillAccount(BaseModel):
    """An M-Pesa till (Buy Goods)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    till_number: Annotated[str, Field(pattern=r"^[0-9]{5,7}$")] = Field(examples=["500100"])


class PaymentCreate(BaseModel):
    """Collect money from a customer's wallet: the customer gets a PIN prompt (M-Pesa STK Push
    or Airtel Money USSD push). ``auto`` picks the rail from the phone number's operator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: CollectMethod = Field(description=_COLLECT_METHODS)
    amount: StrictStr = Field(
        description="Whole shillings as a decimal string, 1 to 250000.", examples=["150"]
    )
    currency: Literal["KES"] = Field(description="Always KES.")
    phone: StrictStr | None = Field(
        None,
        description="Payer's phone: 07XXXXXXXX, 01XXXXXXXX, 2547XXXXXXXX or +2547XXXXXXXX. "
        + _COLLECT_PHONES
        + " Required unless the payer is a till.",
        examples=["0712345678"],
    )
    till: TillAccount | None = Field(
        None,
        description="The paying till, whose operator gets a USSD prompt: only for "
        + " and ".join(f"`{m}`" for m in COLLECT_FROM_TILL)
        + ".",
    )
    reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,12}$")] = Field(
        description="Your reference, shown to the customer (M-Pesa AccountReference): "
        "1 to 12 letters or digits.",
        examples=["INV1001"],
    )
    description: Annotated[str, Field(min_length=1, max_length=13)] | None = Field(
        None,
        description="Short text for the prompt (M-Pesa TransactionDesc), at most 13 "
        "characters; defaults to the reference.",
    )
    metadata: dict[Annotated[str, Field(max_length=40)], MetadataValue] = Field(
        default_factory=dict,
        max_length=20,
        description="Up to 20 keys of your own, returned as given.",
    )

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str) -> str:
        return _amount_in_limits(value, COLLECT)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_msisdn(value)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if isinstance(item, str) and len(item) > 500:
                raise ValueError(f"value of {key!r} is longer than 500 characters")
        return value

    @model_validator(mode="after")
    def _operator(self) -> PaymentCreate:
        if self.method in COLLECT_FROM_TILL:
            if self.till is None or self.phone is not None:
                raise ValueError(f"till: {self.method} collects from a till (and takes no phone)")
            return self
        if self.till is not None:
            raise ValueError(f"till: only {' and '.join(COLLECT_FROM_TILL)} collects from a till")
        if self.phone is None:
            raise ValueError("phone: required")
        _check_operator(self.method, self.phone)
        if self.method == "auto" and operator_of(self.phone) not in COLLECTING_OPERATORS:
            names = " and ".join(o.capitalize() for o in COLLECTING_OPERATORS)
            raise ValueError(f"phone: the switch collects from {names} numbers only")
        return self

    @property
    def amount_minor(self) -> int:
        return parse_whole_shillings(self.amount)


class BankAccount(BaseModel):
    """A bank account on PesaLink."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bank_code: StrictStr = Field(
        description="The CBK bank code (1, 01 or 0001 for KCB); the bank must be on PesaLink.",
        examples=["68"],
    )
    account_number: Annotated[str, Field(pattern=r"^[0-9A-Za-z]{5,20}$")] = Field(
        examples=["0150123456789"]
    )
    account_name: Annotated[str, Field(min_length=2, max_length=100)] | None = Field(
        None,
        description="The name you expect; when given, a holder whose name does not match is "
        "refused before any money moves.",
    )

    @field_validator("bank_code")
    @classmethod
    def _bank(cls, value: str) -> str:
        return normalise_bank_code(value)


class SaccoAccount(BaseModel):
    """A SACCO member account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sacco_code: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,12}$")] = Field(examples=["STIMA"])
    member_number: Annotated[str, Field(pattern=r"^[A-Za-z0-9/-]{1,20}$")] = Field(
        examples=["M12345"]
    )
    purpose: Literal["deposit", "loan_disbursement"] = Field(
        "deposit", description="A savings deposit or a loan disbursement."
    )


class PaybillAccount(BaseModel):
    """An M-Pesa paybill and the account in it (Daraja's PartyB and AccountReference)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    business_number: Annotated[str, Field(pattern=r"^[0-9]{5,7}$")] = Field(examples=["888880"])
    account_reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9 _.-]{1,13}$")] = Field(
        description="The account in the paybill, up to 13 characters (Daraja's limit).",
        examples=["INV-2026-118"],
    )


class TaxPayment(BaseModel):
    """Tax paid to KRA against a Payment Registration Number KRA issued (iTax)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prn: Annotated[str, Field(pattern=r"^[A-Z0-9]{6,20}$")] = Field(
        description="KRA's PRN: 6 to 20 capital letters or digits (KRA publishes no format: "
        "unverified).",
        examples=["2026110012345"],
    )


_DESTINATIONS = ("phone", "bank", "sacco", "paybill", "till", "tax")


class PayoutCreate(BaseModel):
    """Send money to a phone, a bank account or a SACCO member account. The amount plus the fee
    is reserved from your balance first; a payout that would take the balance below zero is
    refused and nothing is sent. Give exactly one destination: ``phone``, ``bank``, ``sacco``,
    ``paybill``, ``till`` or ``tax`` (KRA)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: PayoutMethod = Field(description=_PAYOUT_METHODS)
    amount: StrictStr = Field(
        description="Whole shillings, within the rail's limits.", examples=["500"]
    )
    currency: Literal["KES"]
    phone: StrictStr | None = Field(None, description="Recipient's phone, any Kenyan form.")
    bank: BankAccount | None = None
    sacco: SaccoAccount | None = None
    paybill: PaybillAccount | None = None
    till: TillAccount | None = None
    tax: TaxPayment | None = None
    command: Command = Field(
        _DEFAULT_COMMAND, description=f"{_COMMAND_RAILS} only: Daraja's CommandID."
    )
    reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9 _.-]{1,100}$")] = Field(
        description="Your reference (Daraja's Occasion; the bank narration).",
        examples=["SAL-2026-11"],
    )
    remarks: Annotated[str, Field(min_length=2, max_length=100)] | None = Field(
        None, description="2 to 100 characters (Daraja's Remarks); defaults to the reference."
    )
    metadata: dict[Annotated[str, Field(max_length=40)], MetadataValue] = Field(
        default_factory=dict, max_length=20
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else normalise_msisdn(value)

    @model_validator(mode="after")
    def _destination(self) -> PayoutCreate:
        given = [n for n in _DESTINATIONS if getattr(self, n) is not None]
        if len(given) != 1:
            names = ", ".join(_DESTINATIONS[:-1])
            raise ValueError(f"give exactly one destination: {names} or {_DESTINATIONS[-1]}")
        kind = given[0]
        allowed = _DESTINATIONS if self.method == "auto" else destinations_of(self.method)
        if kind not in allowed:
            raise ValueError(f"{kind}: {self.method} pays to {' or '.join(allowed)}")
        if self.phone is not None:
            _check_operator(self.method, self.phone)
        methods: tuple[str, ...] = (self.method,)
        if self.method == "auto":
            methods = payout_rails_to(kind)
        try:
            _amount_in_limits(self.amount, methods)
        except ValueError as exc:
            raise ValueError(f"amount: {exc}") from None
        return self

    @property
    def amount_minor(self) -> int:
        return parse_whole_shillings(self.amount)

    def destination(self) -> dict[str, Any]:
        if self.bank is not None:
            return self.bank.model_dump(exclude_none=True)
        for account in (self.sacco, self.paybill, self.till, self.tax):
            if account is not None:
                return account.model_dump()
        return {}


class ProviderInfo(BaseModel):
    name: ProviderName
    merchant_request_id: str | None = Field(None, description="STK Push only.")
    checkout_request_id: str | None = Field(None, description="STK Push only.")
    conversation_id: str | None = Field(
        None, description="The provider's id of the request (payouts, Airtel, PesaLink, SACCOs)."
    )
    receipt: str | None = Field(description="The provider's receipt or reference once paid.")
    result_code: str | None = Field(description="The provider's result code, as sent.")


class FailureInfo(BaseModel):
    code: Literal[
        "declined",
        "rejected",
        "provider_unavailable",
        "timeout",
        "outcome_unknown",
        "review_rejected",  # a reviewer rejected a held payment (api/reviews.py)
    ]
    message: str = Field(description="Plain words for your support team.")
    provider_code: str | None


class Balance(BaseModel):
    object: Literal["balance"]
    currency: Literal["KES"]
    available: str = Field(description="Spendable: collections net of fees, less payouts.")
    reserved: str = Field(description="Held for payouts in flight.")


class Routing(BaseModel):
    requested: str = Field(description="The method you asked for (`auto` or a rail).")
    method: str = Field(description="The rail that carries the payment.")
    reason: str = Field(description="Why this rail, e.g. failover while a provider is down.")


class HistoryItem(BaseModel):
    at: str
    status: str
    state: str = Field(description="The switch's finer internal state.")


class ReviewApproval(BaseModel):
    by: str = Field(description="`user:<id>` or `operator:<client id>`.")
    at: str


class Review(BaseModel):
    """Present on a payment that screening held for review (switch/reviews.py)."""

    status: Literal["pending", "approved", "rejected"]
    reason: str = Field(description="The deciding rule: sanctions, velocity, large_amount.")
    rules: list[str] = Field(description="Every rule that fired, e.g. `sanctions:TEST-001`.")
    message: str
    approvals_needed: int = Field(description="1, or 2 different people above the threshold.")
    approvals: list[ReviewApproval]
    rejected_by: str | None = None
    rejection_reason: str | None = None


class Payment(BaseModel):
    id: str = Field(examples=["pay_s1_01JDX4Q8Z5V6W7X8Y9Z0A1B2C3"])
    object: Literal["payment"]
    status: Literal["held", "pending", "processing", "succeeded", "failed", "expired"]
    method: PaymentMethod
    amount: str
    fee: str = Field(description="The switch's fee, deducted from the amount credited to you.")
    currency: Literal["KES"]
    phone: str | None = Field(description="Masked, e.g. 2547******78.")
    routing: Routing | None = None
    transfer_id: str | None = Field(None, description="Set when this is a transfer's leg.")
    reference: str
    description: str
    metadata: dict[str, MetadataValue]
    created_at: str
    updated_at: str
    provider: ProviderInfo
    failure: FailureInfo | None
    history: list[HistoryItem]
    review: Review | None = None


class Payout(BaseModel):
    id: str
    object: Literal["payout"]
    status: Literal["held", "pending", "processing", "succeeded", "failed"]
    method: PayoutShownMethod
    amount: str
    fee: str = Field(description="Charged on top of the amount.")
    currency: Literal["KES"]
    phone: str | None = Field(description="Masked; none for bank and SACCO accounts.")
    destination: dict[str, str] | None = Field(
        None, description="The bank or SACCO account, account number masked."
    )
    routing: Routing | None = None
    transfer_id: str | None = Field(None, description="Set when this is a transfer's leg.")
    command: str | None = Field(None, description="M-Pesa B2C only.")
    reference: str
    description: str = Field(description="The remarks sent to the provider.")
    recipient_name: str | None = Field(description="The recipient's registered name, once paid.")
    metadata: dict[str, MetadataValue]
    created_at: str
    updated_at: str
    provider: ProviderInfo
    failure: FailureInfo | None
    history: list[HistoryItem]
    review: Review | None = None


class ErrorDetail(BaseModel):
    field: str
    reason: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail]


class Error(BaseModel):
    error: ErrorBody


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class OAuthError(BaseModel):
    error: str
    error_description: str


class WebhookEvent(BaseModel):
    """The body of a webhook: signed with the Standard Webhooks headers."""

    id: str
    type: Literal[
        "payment.pending",  # only as the first frame of a live stream
        "payment.processing",
        "payment.succeeded",
        "payment.failed",
        "payment.expired",
        "payout.processing",
        "payout.succeeded",
        "payout.failed",
        "payment.held",  # held for review: stored, not sent (api/reviews.py)
        "payout.held",
    ]
    created_at: str
    data: Payment | Payout
