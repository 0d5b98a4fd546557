"""Request and response models of the public API. They validate input (unknown fields are
refused) and are the source of the OpenAPI document."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator, model_validator

from routing.operators import operator_of
from switch.money import parse_whole_shillings
from switch.phone import normalise_msisdn

# Daraja limits (../shared/providers/mpesa-daraja.md §4 and §13).
STK_MIN_MINOR = 1 * 100
STK_MAX_MINOR = 250_000 * 100

MetadataValue = str | int | float | bool | None


class PaymentCreate(BaseModel):
    """Collect money from a customer. For ``mpesa_stk`` the customer gets an M-Pesa PIN prompt."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["mpesa_stk"] = Field(description="How to collect: `mpesa_stk` (STK Push).")
    amount: StrictStr = Field(
        description="Whole shillings as a decimal string, 1 to 250000.", examples=["150"]
    )
    currency: Literal["KES"] = Field(description="Always KES.")
    phone: StrictStr = Field(
        description="Payer's phone: 07XXXXXXXX, 01XXXXXXXX, 2547XXXXXXXX or +2547XXXXXXXX. "
        "A Safaricom number for `mpesa_stk`.",
        examples=["0712345678"],
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
        minor = parse_whole_shillings(value)
        if not STK_MIN_MINOR <= minor <= STK_MAX_MINOR:
            raise ValueError("must be between 1 and 250000 shillings")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_msisdn(value)

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if isinstance(item, str) and len(item) > 500:
                raise ValueError(f"value of {key!r} is longer than 500 characters")
        return value

    @model_validator(mode="after")
    def _operator(self) -> PaymentCreate:
        if self.method == "mpesa_stk" and operator_of(self.phone) != "safaricom":
            raise ValueError("phone: must be a Safaricom number for mpesa_stk")
        return self

    @property
    def amount_minor(self) -> int:
        return parse_whole_shillings(self.amount)


# B2C limits (../shared/providers/mpesa-daraja.md §8).
B2C_MIN_MINOR = 10 * 100
B2C_MAX_MINOR = 250_000 * 100


class PayoutCreate(BaseModel):
    """Send money to a phone. The amount plus the fee is reserved from your balance first; a
    payout that would take the balance below zero is refused and nothing is sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["mpesa_b2c"] = Field(description="`mpesa_b2c`: M-Pesa B2C to a phone.")
    amount: StrictStr = Field(description="Whole shillings, 10 to 250000.", examples=["500"])
    currency: Literal["KES"]
    phone: StrictStr = Field(description="Recipient: a Safaricom number, any Kenyan form.")
    command: Literal["BusinessPayment", "SalaryPayment", "PromotionPayment"] = Field(
        "BusinessPayment", description="Daraja's CommandID for the payout."
    )
    reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9 _.-]{1,100}$")] = Field(
        description="Your reference (sent as Daraja's Occasion).", examples=["SAL-2026-11"]
    )
    remarks: Annotated[str, Field(min_length=2, max_length=100)] | None = Field(
        None, description="2 to 100 characters (Daraja's Remarks); defaults to the reference."
    )
    metadata: dict[Annotated[str, Field(max_length=40)], MetadataValue] = Field(
        default_factory=dict, max_length=20
    )

    @field_validator("amount")
    @classmethod
    def _amount(cls, value: str) -> str:
        minor = parse_whole_shillings(value)
        if not B2C_MIN_MINOR <= minor <= B2C_MAX_MINOR:
            raise ValueError("must be between 10 and 250000 shillings")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return normalise_msisdn(value)

    @model_validator(mode="after")
    def _operator(self) -> PayoutCreate:
        if operator_of(self.phone) != "safaricom":
            raise ValueError("phone: must be a Safaricom number for mpesa_b2c")
        return self

    @property
    def amount_minor(self) -> int:
        return parse_whole_shillings(self.amount)


class ProviderInfo(BaseModel):
    name: Literal["mpesa"]
    merchant_request_id: str | None = Field(None, description="STK Push only.")
    checkout_request_id: str | None = Field(None, description="STK Push only.")
    conversation_id: str | None = Field(None, description="Payouts only.")
    receipt: str | None = Field(description="M-Pesa receipt number once paid.")
    result_code: str | None = Field(description="The provider's result code, as sent.")


class FailureInfo(BaseModel):
    code: Literal["declined", "rejected", "provider_unavailable", "timeout", "outcome_unknown"]
    message: str = Field(description="Plain words for your support team.")
    provider_code: str | None


class Balance(BaseModel):
    object: Literal["balance"]
    currency: Literal["KES"]
    available: str = Field(description="Spendable: collections net of fees, less payouts.")
    reserved: str = Field(description="Held for payouts in flight.")


class HistoryItem(BaseModel):
    at: str
    status: str
    state: str = Field(description="The switch's finer internal state.")


class Payment(BaseModel):
    id: str = Field(examples=["pay_s1_01JDX4Q8Z5V6W7X8Y9Z0A1B2C3"])
    object: Literal["payment"]
    status: Literal["pending", "processing", "succeeded", "failed", "expired"]
    method: Literal["mpesa_stk"]
    amount: str
    fee: str = Field(description="The switch's fee, deducted from the amount credited to you.")
    currency: Literal["KES"]
    phone: str = Field(description="Masked, e.g. 2547******78.")
    reference: str
    description: str
    metadata: dict[str, MetadataValue]
    created_at: str
    updated_at: str
    provider: ProviderInfo
    failure: FailureInfo | None
    history: list[HistoryItem]


class Payout(BaseModel):
    id: str
    object: Literal["payout"]
    status: Literal["pending", "processing", "succeeded", "failed"]
    method: Literal["mpesa_b2c"]
    amount: str
    fee: str = Field(description="Charged on top of the amount.")
    currency: Literal["KES"]
    phone: str
    command: str
    reference: str
    description: str = Field(description="The remarks sent to M-Pesa.")
    recipient_name: str | None = Field(description="The recipient's registered name, once paid.")
    metadata: dict[str, MetadataValue]
    created_at: str
    updated_at: str
    provider: ProviderInfo
    failure: FailureInfo | None
    history: list[HistoryItem]


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
    ]
    created_at: str
    data: Payment | Payout
