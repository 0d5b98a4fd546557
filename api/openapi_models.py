"""Response shapes of the routes whose handlers build their answers as plain dicts (in
switch/users.py, switch/clients.py, switch/transfers.py, switch/batches.py, actors/shard/ and
the api modules). They exist only for the OpenAPI document: each one names the fields its
builder always writes (required) and leaves room for the optional ones, so a new optional field
does not break clients that validate against the document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from api.models import MetadataValue, Payment, Payout


class OrganisationView(BaseModel):
    id: str
    name: str
    kyc_status: Literal["pending", "verified", "suspended"]


class User(BaseModel):
    """A person (switch.users.public_user)."""

    id: str
    object: Literal["user"]
    email: str
    name: str
    role: Literal["owner", "admin", "developer", "finance", "viewer"]
    merchant_id: str
    totp_enabled: bool
    created_at: str
    organisation: OrganisationView | None = None


class Session(BaseModel):
    """A session token for a person (switch.users.Session.as_body)."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds.")
    scope: str = Field(description="The role's permissions, space-separated.")
    role: str
    mfa: bool = Field(description="True when this sign-in passed two-factor (TOTP).")
    user_id: str
    merchant_id: str


class TotpConfirmed(Session):
    totp_enabled: Literal[True]


class TotpEnrolment(BaseModel):
    secret: str = Field(description="Base32; shown once.")
    otpauth_uri: str
    confirm: str = Field(description="Where to send the first code.")


class Invitation(BaseModel):
    id: str
    object: Literal["invitation"]
    email: str
    role: str
    token: str = Field(description="Shown once: give it to the invited person.")
    expires_at: str


class Client(BaseModel):
    """An API client (switch.clients.public_view): never its secret."""

    id: str
    object: Literal["client"]
    name: str
    scopes: list[str]
    status: Literal["active", "revoked"]
    created_at: str | None
    rotated_at: str | None
    revoked_at: str | None


class ClientWithSecret(Client):
    client_secret: str = Field(description="Shown once; stored only as a hash.")


class ClientList(BaseModel):
    object: Literal["list"]
    data: list[Client]


class MerchantView(BaseModel):
    object: Literal["merchant"]
    id: str
    name: str | None
    webhook_url: str | None
    webhook_endpoint_id: str | None = None  # the endpoint the URL is (api/webhooks.py)
    webhook_secret: str | None = None  # shown once, when this call made that endpoint


class AuditHead(BaseModel):
    seq: int
    hash: str


class AuditPage(BaseModel):
    """Audit records, oldest first; ``head`` (the chain's head) for the operator's auditor."""

    object: Literal["list"]
    data: list[dict[str, Any]] = Field(
        description="Records: seq, at, actor, action, target, before, after, request_id, "
        "prev_hash, hash."
    )
    has_more: bool
    next_after_seq: int | None
    head: AuditHead | None = None


class PaymentRecord(BaseModel):
    """Any payment-like record: a reversal, a SACCO posting, a payment or a payout
    (switch.payments.view)."""

    id: str
    object: Literal["payment", "payout", "reversal", "posting"]
    status: str
    method: str
    amount: str
    currency: Literal["KES"]
    created_at: str
    updated_at: str


class Reversal(PaymentRecord):
    object: Literal["reversal"]
    reverses: str = Field(description="The id of the payment given back.")


class PaymentList(BaseModel):
    object: Literal["list"]
    data: list[Payment | Payout | PaymentRecord]


class Erasure(BaseModel):
    object: Literal["erasure"]
    erased: int = Field(description="Final payments whose personal data was overwritten.")
    batch_items: int = Field(
        description="Payout batch items whose copy of the request (phone, account, names) was "
        "overwritten with them."
    )
    in_flight: int = Field(description="Payments not yet final: ask again once they are.")
    kept: list[str]


class TransferLeg(BaseModel):
    id: str
    object: str
    method: str
    status: str
    amount: str
    provider: dict[str, Any]
    failure: dict[str, Any] | None
    updated_at: str


class Transfer(BaseModel):
    """A transfer (switch.transfers.transfer_view); account numbers and phones masked."""

    id: str
    object: Literal["transfer"]
    status: str = Field(
        description="processing, succeeded, refunding, refunded, refund_failed or failed."
    )
    amount: str
    currency: Literal["KES"]
    source: dict[str, Any]
    destination: dict[str, Any]
    reference: str
    description: str
    metadata: dict[str, MetadataValue]
    created_at: str
    updated_at: str
    legs: dict[str, TransferLeg] = Field(description="debit, credit and refund, once made.")


class AccountLookup(BaseModel):
    """The holder of an account, from PesaLink's directory or the SACCO's core system."""

    object: Literal["account_lookup"]


class BatchCounts(BaseModel):
    lines: int
    valid: int
    invalid: int


class BatchValidation(BaseModel):
    """The dry-run answer (switch.batches.report): every line's verdict, nothing created."""

    object: Literal["payout_batch_validation"]
    valid: bool
    counts: BatchCounts
    totals: dict[str, Any]


class BatchRefused(BaseModel):
    """A batch with any invalid line is refused whole: the error and the per-line report."""

    error: dict[str, Any]
    report: BatchValidation


class Batch(BaseModel):
    """A payout batch (switch.batches.batch_view); ``GET`` adds a page of items."""

    id: str
    object: Literal["payout_batch"]
    state: str
    created_at: str
    updated_at: str
    completed_at: str | None
    counts: dict[str, int]
    totals: dict[str, Any]
    results_url: str


class C2bRegistrationOut(BaseModel):
    shortcode: str
    response_type: Literal["Completed", "Cancelled"]
    accounts: dict[str, Any]
    sacco_code: str | None
    validation_url: str
    confirmation_url: str
    provider: dict[str, Any] = Field(description="Daraja's answer to the URL registration.")


class ProviderBalanceQuery(BaseModel):
    id: str
    status: Literal["requested", "answered", "failed"]
    requested_at: str | None = None
    accounts: list[dict[str, Any]] | None = None
    result_code: str | int | None = None


class HeldList(BaseModel):
    object: Literal["list"]
    data: list[Payment | Payout | PaymentRecord]


class MerchantChange(BaseModel):
    """A merchant's KYC state or limits after an operator's change."""

    object: Literal["merchant"]
    id: str
    reason: str
    kyc_status: Literal["pending", "verified", "suspended"] | None = None
    limits: dict[str, int] | None = Field(None, description="In cents.")
    pending: dict[str, Any] | None = Field(
        None, description="A proposal to verify, waiting for a second operator (202)."
    )


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
    nodes: dict[str, Any]


class RoutingView(BaseModel):
    """A merchant's routing preferences for ``"method": "auto"``."""

    object: Literal["routing_preferences"]
    prefer: list[str]
    avoid: list[str]
    failover: bool


class BenefitProgramme(BaseModel):
    """A benefits programme (api/benefits.py)."""

    id: str
    object: Literal["benefit_programme"]
    name: str
    rail: Literal["mpesa_b2c", "bank_transfer"]
    amount: str
    currency: Literal["KES"]
    reference: str
    name_match_threshold: float
    cycle: str
    created_at: str


class Beneficiary(BaseModel):
    """A beneficiary, as its programme's owner sees it."""

    id: str
    object: Literal["beneficiary"]
    programme_id: str
    national_id: str
    phone: str
    name: str
    amount: str
    payout: dict[str, Any] = Field(description="method, and bank_code and account_number")
    status: Literal["eligible", "suspended", "deceased", "graduated", "not_yet_eligible"]
    eligibility: list[dict[str, Any]] = Field(description="status, effective date, reason")
    version: int
    created_at: str
    updated_at: str


class BeneficiaryList(BaseModel):
    object: Literal["list"]
    data: list[Beneficiary]
    has_more: bool


class BeneficiaryUpload(BaseModel):
    """What a registry upload registered; duplicates refused, each with its line."""

    object: Literal["beneficiary_upload"]
    programme_id: str
    counts: dict[str, int]
    duplicates: list[dict[str, Any]]


class BenefitRun(BaseModel):
    """A disbursement run (api/benefits_runs.py)."""

    id: str
    object: Literal["benefit_run"]
    programme_id: str
    cycle: str
    state: Literal["awaiting_approval", "approved", "paying", "completed"]
    eligibility_as_of: str
    made_by: str
    approved_by: str | None
    planned: dict[str, Any]
    exceptions: int
    paid: int
    failed: int
    in_flight: int
    attempts: int
    batches: list[str]
    report_url: str
    created_at: str


class BenefitRunReport(BaseModel):
    """The auditors' exceptions report of a run, with totals tied to the journal."""

    object: Literal["benefit_run_report"]
    run_id: str
    programme_id: str
    cycle: str
    registered: int
    made_by: str
    approved_by: str | None
    totals: dict[str, Any]
    exceptions: list[dict[str, Any]]


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    RoutingView,
    User,
    Session,
    TotpConfirmed,
    TotpEnrolment,
    Invitation,
    Client,
    ClientWithSecret,
    ClientList,
    MerchantView,
    AuditPage,
    PaymentRecord,
    Reversal,
    PaymentList,
    Erasure,
    Transfer,
    AccountLookup,
    BatchValidation,
    BatchRefused,
    Batch,
    C2bRegistrationOut,
    ProviderBalanceQuery,
    HeldList,
    MerchantChange,
    Health,
    Readiness,
    BenefitProgramme,
    Beneficiary,
    BeneficiaryList,
    BeneficiaryUpload,
    BenefitRun,
    BenefitRunReport,
)
