"""Every route of the api as a row: what it takes and what it answers. :mod:`api.openapi` turns
the rows into OpenAPI operations, adding what every route of a kind shares (the bearer check's
401 and 403, rate limits' 429, a JSON body's 400/413/415/422, the Idempotency-Key header and its
409). Permissions come from :data:`switch.roles.ROUTES`, never from here.

Request bodies are the handlers' own pydantic models; answers the handlers build as dicts are
described in :mod:`api.openapi_models`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from api import openapi_models as out
from api.batches import MAX_PAGE as BATCH_MAX_PAGE
from api.c2b import C2bRegistrationIn
from api.clients import ClientIn
from api.lookups import LookupRequest
from api.merchant_settings import MerchantPatch, RoutingPreferences
from api.models import Balance, PaymentCreate, PayoutCreate
from api.models import Payment as PaymentModel
from api.models import Payout as PayoutModel
from api.payments import ReversalIn
from api.privacy import ErasureIn
from api.reviews import MAX_LIST, KycBody, LimitsBody, ReviewBody
from api.transfers import TransferCreate
from api.users import InvitationIn, LoginIn, PasswordChange, ProfilePatch, SignUp, TotpConfirm
from switch.batches import MAX_ITEMS
from switch.security.audit import MAX_PAGE as AUDIT_MAX_PAGE

REF = "#/components/schemas/{model}"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": REF.format(model=name)}


def schema_of(model: type[BaseModel] | str) -> Schema:
    return ref(model if isinstance(model, str) else model.__name__)


def any_of(*models: type[BaseModel] | str) -> Schema:
    return {"anyOf": [schema_of(m) for m in models]}


@dataclass(frozen=True)
class Answer:
    """One documented answer: its description and, per media type, its schema."""

    description: str
    content: dict[str, Schema] = field(default_factory=dict)
    headers: dict[str, Schema] = field(default_factory=dict)


def json_answer(description: str, schema: type[BaseModel] | str | Schema) -> Answer:
    body = schema if isinstance(schema, dict) else schema_of(schema)
    return Answer(description, {"application/json": body})


def csv_answer(description: str) -> Answer:
    return Answer(description, {"text/csv": {"type": "string"}})


def sse_answer(description: str) -> Answer:
    """SSE frames: ``event`` is the webhook type, ``data`` a WebhookEvent as JSON."""
    return Answer(description, {"text/event-stream": schema_of("WebhookEvent")})


def query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def limit_param(high: int, default: int) -> Schema:
    return query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": high, "default": default},
        f"Page size, 1 to {high}.",
    )


DAY = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
REPORT_DATES = (
    query("since", DAY, "First day (UTC, YYYY-MM-DD, inclusive)."),
    query("until", DAY, "Last day (UTC, YYYY-MM-DD, inclusive)."),
)


@dataclass(frozen=True)
class Op:
    """One route. ``body``: the JSON request model, or media type -> schema; ``idempotency``:
    "required", "optional" (required unless a dry run) or ""."""

    method: str
    path: str
    tag: str
    summary: str
    answers: dict[int, Answer]
    body: type[BaseModel] | dict[str, Schema] | None = None
    body_required: bool = True
    errors: tuple[int, ...] = ()
    params: tuple[Schema, ...] = ()
    idempotency: str = ""
    description: str = ""
    error_texts: dict[int, str] = field(default_factory=dict)


# --- the answers many routes share ------------------------------------------------------------

CALLBACK_ACK = json_answer(
    "Acknowledged, once the change is persisted", {"type": "object", "additionalProperties": True}
)
CALLBACK_BODY: dict[str, Schema] = {
    "application/json": {"type": "object", "description": "The provider's own payload."}
}
CALLBACK_ERRORS = (400, 403, 404)
CALLBACK_TEXTS = {
    400: "Malformed payload, or one that does not match the stored payment",
    403: "The caller's address is not on the provider's allow-list",
    404: "Forged token, or no such payment",
}
MPESA_CALLBACKS = (
    ("stk", "STK Push result (the CallBackURL of one payment)"),
    ("b2c/result", "B2C payout result (ResultURL)"),
    ("b2c/status", "Transaction Status answer about a payout"),
    ("b2c/timeout", "B2C request timed out in M-Pesa's queue (QueueTimeOutURL)"),
    ("c2b/status", "Transaction Status answer about a C2B receipt (checked before any credit)"),
    ("c2b/timeout", "That status query timed out in M-Pesa's queue (QueueTimeOutURL)"),
    ("reversal/result", "Reversal result (ResultURL)"),
    ("reversal/timeout", "Reversal timed out in M-Pesa's queue (QueueTimeOutURL)"),
    ("pesalink", "PesaLink transfer result"),
)


def _callbacks() -> list[Op]:
    ops = [
        Op(
            "POST",
            f"/callbacks/{kind}/{{payment_id}}/{{token}}",
            "Provider callbacks",
            summary,
            {200: CALLBACK_ACK},
            body=CALLBACK_BODY,
            errors=CALLBACK_ERRORS,
            error_texts=CALLBACK_TEXTS,
            description="Called by the provider, not by you: the URL carries a per-payment "
            "token checked without a database read.",
        )
        for kind, summary in MPESA_CALLBACKS
    ]
    ops += [
        Op(
            "POST",
            "/callbacks/balance/{query_id}/{token}",
            "Provider callbacks",
            "M-Pesa Account Balance result",
            {200: CALLBACK_ACK},
            body=CALLBACK_BODY,
            errors=CALLBACK_ERRORS,
            error_texts=CALLBACK_TEXTS,
        ),
        Op(
            "POST",
            "/callbacks/airtel",
            "Provider callbacks",
            "Airtel Money collection result (one URL, set on Airtel's portal)",
            {200: CALLBACK_ACK},
            body=CALLBACK_BODY,
            errors=(*CALLBACK_ERRORS, 401, 503),
            error_texts={
                **CALLBACK_TEXTS,
                401: "The body's hash does not match (callback key configured)",
                503: "Airtel could not confirm the result yet; it retries",
            },
        ),
    ]
    for step in ("validation", "confirmation"):
        ops.append(
            Op(
                "POST",
                f"/callbacks/c2b/{step}/{{shortcode}}/{{token}}",
                "Provider callbacks",
                f"M-Pesa C2B {step}",
                {200: CALLBACK_ACK},
                body=CALLBACK_BODY,
                errors=CALLBACK_ERRORS,
                error_texts=CALLBACK_TEXTS,
            )
        )
    return ops


# --- the routes ---------------------------------------------------------------------------------


def _people() -> list[Op]:
    return [
        Op(
            "POST",
            "/v1/users",
            "People",
            "Sign up (a new organisation, you its owner) or join one by invitation",
            {201: json_answer("The person, signed up", out.User)},
            body=SignUp,
            errors=(403, 404, 409),
        ),
        Op(
            "POST",
            "/v1/auth/login",
            "People",
            "Sign in with email and password (and a TOTP code once enrolled)",
            {200: json_answer("A session token", out.Session)},
            body=LoginIn,
            errors=(401,),
            error_texts={
                401: "Wrong email or password, or a TOTP code is needed",
                429: "Locked out after repeated failures, or too many attempts from here",
            },
        ),
        Op("GET", "/v1/users/me", "People", "Your profile", {200: json_answer("You", out.User)}),
        Op(
            "PATCH",
            "/v1/users/me",
            "People",
            "Change your name",
            {200: json_answer("You, changed", out.User)},
            body=ProfilePatch,
        ),
        Op(
            "POST",
            "/v1/users/me/password",
            "People",
            "Change your password (every other session ends)",
            {200: json_answer("A new session token", out.Session)},
            body=PasswordChange,
        ),
        Op(
            "POST",
            "/v1/users/me/totp",
            "People",
            "Start two-factor enrolment: a TOTP secret, shown once",
            {200: json_answer("The secret and its otpauth URI", out.TotpEnrolment)},
            errors=(409,),
        ),
        Op(
            "POST",
            "/v1/users/me/totp/confirm",
            "People",
            "Confirm two-factor enrolment with the first code",
            {200: json_answer("Enabled; a session that passed two-factor", out.TotpConfirmed)},
            body=TotpConfirm,
            errors=(409,),
        ),
        Op(
            "POST",
            "/v1/invitations",
            "People",
            "Invite a person into your organisation",
            {201: json_answer("The invitation; its token is shown once", out.Invitation)},
            body=InvitationIn,
            errors=(409,),
        ),
    ]


def _clients() -> list[Op]:
    return [
        Op(
            "POST",
            "/v1/clients",
            "API clients",
            "Create an API client; its secret is shown once",
            {201: json_answer("The client and its secret", out.ClientWithSecret)},
            body=ClientIn,
        ),
        Op(
            "GET",
            "/v1/clients",
            "API clients",
            "Your organisation's API clients",
            {200: json_answer("The clients", out.ClientList)},
        ),
        Op(
            "POST",
            "/v1/clients/{client_id}/rotate",
            "API clients",
            "A new secret; the old secret and its tokens stop at once",
            {200: json_answer("The client and its new secret", out.ClientWithSecret)},
            errors=(404,),
        ),
        Op(
            "DELETE",
            "/v1/clients/{client_id}",
            "API clients",
            "Revoke an API client; its tokens stop at once",
            {200: json_answer("The client, revoked", out.Client)},
            errors=(404,),
        ),
        Op(
            "PATCH",
            "/v1/merchant",
            "API clients",
            "Change your webhook URL (checked against server-side request forgery)",
            {200: json_answer("Your merchant", out.MerchantView)},
            body=MerchantPatch,
            errors=(404,),
        ),
        Op(
            "PUT",
            "/v1/merchant/routing",
            "API clients",
            "Set how `auto` chooses a rail: preferred and avoided rails, failover on or off",
            {200: json_answer("Your routing preferences", out.RoutingView)},
            body=RoutingPreferences,
            errors=(404,),
        ),
        Op(
            "GET",
            "/v1/audit",
            "Audit",
            "The audit trail about your organisation, oldest first",
            {200: json_answer("A page of records", out.AuditPage)},
            errors=(422,),
            error_texts={422: "An unknown or invalid query parameter"},
            params=(
                query(
                    "after_seq",
                    {"type": "integer", "minimum": 0, "maximum": 2**62},
                    "Records after this sequence number.",
                ),
                limit_param(AUDIT_MAX_PAGE, 100),
                *(
                    query(
                        name,
                        {"type": "string", "pattern": r"^[A-Za-z0-9_.:@/\-]{1,200}$"},
                        f"Only records with this {name}.",
                    )
                    for name in ("actor", "action", "target")
                ),
            ),
        ),
    ]


SHARD_503 = "A shard is unavailable or at capacity; retry (with the same Idempotency-Key)"


def _payments() -> list[Op]:
    return [
        Op(
            "POST",
            "/v1/payments",
            "Payments",
            "Create a payment (collect money: M-Pesa STK Push or Airtel USSD push)",
            {202: json_answer("Stored; the provider is being asked", PaymentModel)},
            body=PaymentCreate,
            errors=(503,),
            idempotency="required",
            error_texts={
                403: "Not allowed: scope, or the merchant's KYC state or limits",
                429: "Too many requests, or too many payment prompts to this phone",
            },
        ),
        Op(
            "GET",
            "/v1/payments",
            "Payments",
            "A customer's payments, newest first (found by phone through a blind index)",
            {200: json_answer("The payments", out.PaymentList)},
            errors=(422, 501, 503),
            params=(
                query(
                    "phone",
                    {"type": "string", "minLength": 1},
                    "The customer's phone, any Kenyan form.",
                    required=True,
                ),
                limit_param(200, 50),
            ),
            error_texts={
                422: "A missing or invalid phone or limit",
                501: "Personal data sealing is off",
            },
        ),
        Op(
            "GET",
            "/v1/payments/{payment_id}",
            "Payments",
            "Get a payment",
            {200: json_answer("The payment", any_of(PaymentModel, out.PaymentRecord))},
            errors=(404, 503),
        ),
        Op(
            "GET",
            "/v1/payments/{payment_id}/events",
            "Payments",
            "Follow a payment live (Server-Sent Events until its final status)",
            {200: sse_answer("The current state, then each status change")},
            errors=(404, 503),
        ),
        Op(
            "GET",
            "/v1/events",
            "Payments",
            "Every status change of your payments (Server-Sent Events; needs Redis)",
            {200: sse_answer("Status changes as they are persisted")},
            errors=(501,),
            error_texts={501: "No Redis configured"},
        ),
        Op(
            "POST",
            "/v1/payments/{payment_id}/reversal",
            "Payments",
            "Give a succeeded collection back to the payer (whole amount, once)",
            {202: json_answer("The reversal, stored; M-Pesa is being asked", out.Reversal)},
            body=ReversalIn,
            errors=(404, 503),
            idempotency="required",
            error_texts={422: "Invalid fields, or the payment cannot be reversed"},
        ),
        Op(
            "GET",
            "/v1/reversals/{payment_id}",
            "Payments",
            "Get a reversal",
            {200: json_answer("The reversal", out.Reversal)},
            errors=(404, 503),
        ),
        Op(
            "GET",
            "/v1/balance",
            "Payments",
            "Your balance: available and reserved",
            {200: json_answer("The balance", Balance)},
            errors=(503,),
        ),
        Op(
            "POST",
            "/v1/privacy/erasures",
            "Personal data",
            "Erase a customer's personal data (as far as record retention allows)",
            {200: json_answer("What was erased", out.Erasure)},
            body=ErasureIn,
            errors=(501, 503),
            error_texts={501: "Personal data sealing is off"},
        ),
        Op(
            "PUT",
            "/v1/c2b/registration",
            "Payments",
            "Claim a paybill or till's accounts for C2B payments",
            {
                200: json_answer(
                    "Claimed; M-Pesa was given the switch's URLs", out.C2bRegistrationOut
                )
            },
            body=C2bRegistrationIn,
            errors=(409, 502),
            error_texts={
                409: "Another merchant already claims these accounts",
                502: "M-Pesa refused the URL registration",
            },
        ),
    ]


def _payouts() -> list[Op]:
    item = ref("PayoutBatchItem")
    return [
        Op(
            "POST",
            "/v1/payouts",
            "Payouts",
            "Pay out to a phone, a bank account or a SACCO member; amount plus fee reserved",
            {202: json_answer("Reserved and stored; the provider is being asked", PayoutModel)},
            body=PayoutCreate,
            errors=(503,),
            idempotency="required",
            error_texts={
                403: "Not allowed: scope, or the merchant's KYC state or limits",
                422: "Invalid fields, no route, or insufficient_balance",
            },
        ),
        Op(
            "GET",
            "/v1/payouts/{payment_id}",
            "Payouts",
            "Get a payout",
            {200: json_answer("The payout", PayoutModel)},
            errors=(404, 503),
        ),
        Op(
            "POST",
            "/v1/transfers",
            "Payouts",
            "Move money from one account to another (refunded if the credit fails)",
            {202: json_answer("The transfer, started", out.Transfer)},
            body=TransferCreate,
            errors=(503,),
            idempotency="required",
        ),
        Op(
            "GET",
            "/v1/transfers/{transfer_id}",
            "Payouts",
            "Get a transfer",
            {200: json_answer("The transfer", out.Transfer)},
            errors=(404, 503),
        ),
        Op(
            "POST",
            "/v1/lookups",
            "Payouts",
            "Whose account is this? The holder's name before any money moves",
            {200: json_answer("The account holder", out.AccountLookup)},
            body=LookupRequest,
            errors=(503,),
            error_texts={422: "Invalid fields, or no such account"},
        ),
        Op(
            "POST",
            "/v1/payouts/batches",
            "Payouts",
            "Bulk payouts: up to 10,000 payouts as JSON or CSV",
            {
                200: json_answer(
                    "Dry run: every line's verdict, nothing created", out.BatchValidation
                ),
                202: json_answer("The batch, stored; its payouts are being sent", out.Batch),
                422: json_answer(
                    "A line is invalid: nothing was created (the error and the line report)",
                    any_of(out.BatchRefused, "Error"),
                ),
            },
            body={
                "application/json": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["items"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_ITEMS,
                            "items": item,
                        }
                    },
                },
                "text/csv": {
                    "type": "string",
                    "description": "A header row (item_id, method, amount, currency, phone, "
                    "bank_code, account_number, account_name, sacco_code, member_number, "
                    "purpose, command, reference, remarks), then one payout per row.",
                },
            },
            errors=(409, 503),
            params=(
                query(
                    "dry_run",
                    {"type": "string", "enum": ["true", "false", "1", "0"]},
                    "Validate every line and change nothing (no Idempotency-Key needed).",
                ),
            ),
            idempotency="optional",
            error_texts={
                413: "Larger than 5 MiB",
            },
        ),
        Op(
            "GET",
            "/v1/payouts/batches/{batch_id}",
            "Payouts",
            "A batch: counts by status, totals and a page of its items",
            {200: json_answer("The batch", out.Batch)},
            errors=(404, 422, 503),
            params=(
                query(
                    "offset",
                    {"type": "integer", "minimum": 0, "maximum": MAX_ITEMS},
                    "Items to skip.",
                ),
                limit_param(BATCH_MAX_PAGE, 100),
            ),
        ),
        Op(
            "GET",
            "/v1/payouts/batches/{batch_id}/results.csv",
            "Payouts",
            "A batch's results, one row per item",
            {200: csv_answer("The results file")},
            errors=(404, 503),
        ),
    ]


def _reviews() -> list[Op]:
    decided = json_answer("The payment, decided", any_of(PaymentModel, PayoutModel))
    held = json_answer("Held payments, oldest first", out.HeldList)
    ops = [
        Op(
            "GET",
            "/v1/reviews",
            "Compliance",
            "Your held payments",
            {200: held},
            errors=(422,),
            params=(limit_param(MAX_LIST, 100),),
        ),
        Op(
            "GET",
            "/v1/operator/reviews",
            "Operator",
            "Every merchant's held payments",
            {200: held},
            errors=(422,),
            params=(limit_param(MAX_LIST, 100),),
        ),
    ]
    for prefix, tag in (("/v1", "Compliance"), ("/v1/operator", "Operator")):
        for decision in ("approve", "reject"):
            ops.append(
                Op(
                    "POST",
                    f"{prefix}/reviews/{{payment_id}}/{decision}",
                    tag,
                    f"{decision.capitalize()} a held payment"
                    + (" (a reason is required)" if decision == "reject" else ""),
                    {200: decided},
                    body=ReviewBody,
                    body_required=False,
                    errors=(404, 409),
                    error_texts={
                        403: "Not allowed, or not a person signed in",
                        409: "Not held, or this reviewer already approved it",
                    },
                )
            )
    for prefix, tag, whose in (
        ("/v1", "Compliance", "Your"),
        ("/v1/operator", "Operator", "Every merchant's"),
    ):
        ops.append(
            Op(
                "GET",
                f"{prefix}/reports/suspicious-activity",
                tag,
                f"{whose} suspicious-activity report (CSV)",
                {200: csv_answer("Holds, refusals and review decisions, oldest first")},
                errors=(422,),
                params=REPORT_DATES,
            )
        )
    changed = json_answer("The merchant, changed", out.MerchantChange)
    ops += [
        Op(
            "PUT",
            "/v1/operator/merchants/{merchant_id}/kyc",
            "Operator",
            "Set a merchant's KYC state (audited)",
            {200: changed},
            body=KycBody,
            errors=(404,),
        ),
        Op(
            "PUT",
            "/v1/operator/merchants/{merchant_id}/limits",
            "Operator",
            "Set a merchant's own limits (whole shillings; null removes one)",
            {200: changed},
            body=LimitsBody,
            errors=(404,),
        ),
        Op(
            "POST",
            "/v1/operator/provider-balance",
            "Operator",
            "Ask M-Pesa for the provider float (answered at a callback)",
            {202: json_answer("Asked", out.ProviderBalanceQuery)},
            errors=(502,),
            error_texts={502: "M-Pesa did not take the query"},
        ),
        Op(
            "GET",
            "/v1/operator/provider-balance/{query_id}",
            "Operator",
            "A provider-float query and its answer",
            {200: json_answer("The query", out.ProviderBalanceQuery)},
            errors=(404,),
        ),
    ]
    return ops


def _ops() -> list[Op]:
    return [
        Op(
            "GET",
            "/metrics",
            "Operations",
            "Prometheus metrics of the api and its actors",
            {200: Answer("Prometheus text format", {"text/plain": {"type": "string"}})},
        ),
        Op("GET", "/healthz", "Operations", "Alive", {200: json_answer("Alive", out.Health)}),
        Op(
            "GET",
            "/readyz",
            "Operations",
            "Ready: the database and the actors answer",
            {
                200: json_answer("Ready", out.Readiness),
                503: json_answer("Not ready: which check failed", out.Readiness),
            },
        ),
        Op(
            "GET",
            "/openapi.json",
            "Operations",
            "This document",
            {200: json_answer("OpenAPI 3.1", {"type": "object"})},
        ),
        Op(
            "GET",
            "/docs",
            "Operations",
            "Interactive documentation (Swagger UI)",
            {200: Answer("The page", {"text/html": {"type": "string"}})},
        ),
        Op(
            "GET",
            "/docs/assets/{filename}",
            "Operations",
            "Swagger UI's files",
            # aiohttp's static files: its own answers, in whatever type the file has.
            {
                200: Answer("The file", {"*/*": {}}),
                403: Answer("Not a file", {"*/*": {}}),
                404: Answer("No such file", {"*/*": {}}),
            },
        ),
    ]


def operations() -> list[Op]:
    return [
        *_people(),
        *_clients(),
        *_payments(),
        *_payouts(),
        *_reviews(),
        *_callbacks(),
        *_ops(),
    ]


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    SignUp,
    LoginIn,
    ProfilePatch,
    PasswordChange,
    TotpConfirm,
    InvitationIn,
    ClientIn,
    MerchantPatch,
    RoutingPreferences,
    PaymentCreate,
    ReversalIn,
    ErasureIn,
    C2bRegistrationIn,
    PayoutCreate,
    TransferCreate,
    LookupRequest,
    ReviewBody,
    KycBody,
    LimitsBody,
)

# Registered paths that the document spells otherwise (a static directory is one route).
DOCUMENTED_AS = {"/docs/assets": "/docs/assets/{filename}"}
