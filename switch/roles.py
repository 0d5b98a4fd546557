"""Roles, scopes and the one table saying which permission each route of the api needs. Pure.

A permission is a scope string. Session tokens (people) carry the permissions of the user's role;
API-client tokens carry the client's scopes. :data:`ROUTES` maps every ``(method, route)`` the
app registers to the permission it needs; a route missing from it is refused, and a unit test
fails when ``create_app`` registers a route this table does not name. Two pseudo-permissions:
:data:`PUBLIC` (no token: sign-up, login, provider callbacks, health and docs) and
:data:`SESSION` (any signed-in person, whatever the role: their own profile, password, TOTP).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal

from switch.providers import providers

PUBLIC: Final = "public"
SESSION: Final = "session"

PAYMENTS_WRITE: Final = "payments:write"
PAYMENTS_READ: Final = "payments:read"
PAYOUTS_WRITE: Final = "payouts:write"
REVERSALS_WRITE: Final = "reversals:write"
PAYOUTS_READ: Final = "payouts:read"
BALANCE_READ: Final = "balance:read"
REPORTS_READ: Final = "reports:read"
C2B_MANAGE: Final = "c2b:manage"
CLIENTS_MANAGE: Final = "clients:manage"
USERS_MANAGE: Final = "users:manage"
AUDIT_READ: Final = "audit:read"
OPERATOR: Final = "operator"
PRIVACY_MANAGE: Final = "privacy:manage"
SETTLEMENT_MANAGE: Final = "settlement:manage"
KYC_MANAGE: Final = "kyc:manage"
WEBHOOKS_MANAGE: Final = "webhooks:manage"
HUB_PARTICIPANT: Final = "hub:participant"

SCOPES: Final[dict[str, str]] = {
    PAYMENTS_WRITE: "create STK Push payments",
    PAYMENTS_READ: "read payments, reversals and their live events",
    PAYOUTS_WRITE: "send B2C payouts (money leaves the merchant's balance)",
    PAYOUTS_READ: "read payouts",
    REVERSALS_WRITE: "reverse a collected payment (money goes back out of the merchant's balance)",
    BALANCE_READ: "read the merchant's balance",
    REPORTS_READ: "read reports and exports",
    C2B_MANAGE: "claim paybill/till accounts for C2B payments",
    CLIENTS_MANAGE: "create, list, rotate and revoke API clients (people only, with TOTP)",
    USERS_MANAGE: "invite people into the organisation (people only, with TOTP)",
    AUDIT_READ: "read the audit trail",
    OPERATOR: "the switch operator's own routes (provider float); never a merchant's",
    PRIVACY_MANAGE: "erase a customer's personal data (people only, with TOTP)",
    SETTLEMENT_MANAGE: "propose or confirm the settlement account, set the settlement schedule "
    "(people only, with TOTP; a second person confirms an account)",
    KYC_MANAGE: "apply for KYC: business details, documents, submission (switch/kyc.py)",
    WEBHOOKS_MANAGE: "manage webhook endpoints and secrets, read the delivery log, resend events",
    HUB_PARTICIPANT: "a hub participant's own calls: look-ups, quotes, transfers it pays, "
    "answers to transfers paid to it (given only by the operator's onboarding, never by "
    "POST /v1/clients)",
}

# What an API client may be given: everything a merchant's software needs, nothing that manages
# people or credentials (those need a person who passed two-factor login).
CLIENT_SCOPES: Final = frozenset(
    {
        PAYMENTS_WRITE,
        PAYMENTS_READ,
        PAYOUTS_WRITE,
        PAYOUTS_READ,
        REVERSALS_WRITE,
        BALANCE_READ,
        REPORTS_READ,
        C2B_MANAGE,
        AUDIT_READ,
        KYC_MANAGE,
        WEBHOOKS_MANAGE,
    }
)
# Permissions that need a session whose login passed TOTP.
MFA_REQUIRED: Final = frozenset({CLIENTS_MANAGE, USERS_MANAGE, PRIVACY_MANAGE, SETTLEMENT_MANAGE})
# Permissions an API client may hold, but a person uses only after a two-factor login: the
# operator's routes (an operator client, or an operator person at the console), and where
# payment notifications go (a merchant made by the CLI has only its client to manage them; a
# person's stolen password alone must not redirect them).
MFA_FOR_PEOPLE: Final = frozenset({OPERATOR, WEBHOOKS_MANAGE})

# Clients made before scopes existed (``python -m switch merchant create``) hold this scope
# string; they keep every merchant scope they could use then.
LEGACY_SCOPE: Final = "payments:read payments:write"
# (KYC is not a payment integration's business: a client gets kyc:manage only when given it.)
MERCHANT_API_SCOPES: Final = " ".join(sorted(CLIENT_SCOPES - {AUDIT_READ, KYC_MANAGE}))

Role = Literal["owner", "admin", "developer", "finance", "viewer", "operator"]
ROLE_NAMES: Final[tuple[Role, ...]] = (
    "owner",
    "admin",
    "developer",
    "finance",
    "viewer",
    "operator",
)

_READS = frozenset({PAYMENTS_READ, PAYOUTS_READ, BALANCE_READ, REPORTS_READ})
ROLES: Final[dict[str, frozenset[str]]] = {
    "owner": CLIENT_SCOPES | {CLIENTS_MANAGE, USERS_MANAGE, PRIVACY_MANAGE, SETTLEMENT_MANAGE},
    "admin": CLIENT_SCOPES | {CLIENTS_MANAGE, USERS_MANAGE, PRIVACY_MANAGE, SETTLEMENT_MANAGE},
    # Builds the integration: test payments, C2B set-up, API clients; moves no money out.
    "developer": _READS | {PAYMENTS_WRITE, C2B_MANAGE, CLIENTS_MANAGE, WEBHOOKS_MANAGE},
    # Runs the money: payouts and reversals, balances and reports; no credentials.
    "finance": _READS | {PAYMENTS_WRITE, PAYOUTS_WRITE, REVERSALS_WRITE, SETTLEMENT_MANAGE},
    "viewer": _READS,
    # The switch operator's people (organisation ``operator``, made by ``python -m switch
    # operator person``; never invited): the operator's routes, with two-factor login.
    "operator": frozenset({OPERATOR}),
}
# Who may invite whom: nobody invites an owner; only an owner invites an admin.
INVITABLE: Final[dict[str, frozenset[str]]] = {
    "owner": frozenset({"admin", "developer", "finance", "viewer"}),
    "admin": frozenset({"developer", "finance", "viewer"}),
}

_PROGRAMME = "/v1/benefits/programmes/{programme_id}"

ROUTES: Final[dict[tuple[str, str], str]] = {
    # OAuth, people and API clients
    ("POST", "/v1/oauth/token"): PUBLIC,
    ("POST", "/v1/users"): PUBLIC,
    ("POST", "/v1/auth/login"): PUBLIC,
    ("GET", "/v1/users/me"): SESSION,
    ("PATCH", "/v1/users/me"): SESSION,
    ("POST", "/v1/users/me/password"): SESSION,
    ("POST", "/v1/users/me/totp"): SESSION,
    ("POST", "/v1/users/me/totp/confirm"): SESSION,
    ("POST", "/v1/invitations"): USERS_MANAGE,
    ("POST", "/v1/clients"): CLIENTS_MANAGE,
    ("GET", "/v1/clients"): CLIENTS_MANAGE,
    ("POST", "/v1/clients/{client_id}/rotate"): CLIENTS_MANAGE,
    ("DELETE", "/v1/clients/{client_id}"): CLIENTS_MANAGE,
    # Webhooks are integration set-up: a merchant's software (an API client with
    # webhooks:manage, e.g. one made by the CLI) or a developer sets them (api/webhooks.py).
    ("PATCH", "/v1/merchant"): WEBHOOKS_MANAGE,
    ("POST", "/v1/webhook-endpoints"): WEBHOOKS_MANAGE,
    ("GET", "/v1/webhook-endpoints"): WEBHOOKS_MANAGE,
    ("GET", "/v1/webhook-endpoints/{endpoint_id}"): WEBHOOKS_MANAGE,
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): WEBHOOKS_MANAGE,
    ("DELETE", "/v1/webhook-endpoints/{endpoint_id}"): WEBHOOKS_MANAGE,
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): WEBHOOKS_MANAGE,
    ("POST", "/v1/webhook-endpoints/{endpoint_id}/test"): WEBHOOKS_MANAGE,
    ("GET", "/v1/webhook-deliveries"): WEBHOOKS_MANAGE,
    ("POST", "/v1/webhook-deliveries/resend"): WEBHOOKS_MANAGE,
    ("PUT", "/v1/merchant/routing"): CLIENTS_MANAGE,
    ("GET", "/v1/audit"): AUDIT_READ,
    # Merchants (api/merchants.py): a merchant's own profile; the operator's onboarding.
    ("GET", "/v1/merchant"): PAYMENTS_READ,
    # A collection account is a way to be paid, claimed like a C2B shortcode
    # (api/hub_collections.py).
    ("POST", "/v1/merchant/collection-account"): C2B_MANAGE,
    ("GET", "/v1/merchant/collection-account"): PAYMENTS_READ,
    ("POST", "/v1/merchant/collection-account/close"): C2B_MANAGE,
    ("POST", "/v1/operator/merchants"): OPERATOR,
    ("GET", "/v1/operator/merchants"): OPERATOR,
    ("GET", "/v1/operator/merchants/{merchant_id}"): OPERATOR,
    ("PATCH", "/v1/operator/merchants/{merchant_id}"): OPERATOR,
    ("POST", "/v1/operator/merchants/{merchant_id}/suspend"): OPERATOR,
    ("POST", "/v1/operator/merchants/{merchant_id}/reactivate"): OPERATOR,
    ("POST", "/v1/operator/merchants/{merchant_id}/close"): OPERATOR,
    # Sub-merchants (api/sub_merchants.py): an aggregator's software onboards and configures
    # them as it takes payments for them (the handlers refuse any merchant not an aggregator).
    ("POST", "/v1/sub-merchants"): PAYMENTS_WRITE,
    ("GET", "/v1/sub-merchants"): PAYMENTS_READ,
    ("GET", "/v1/sub-merchants/{sub_merchant_id}"): PAYMENTS_READ,
    ("PATCH", "/v1/sub-merchants/{sub_merchant_id}"): PAYMENTS_WRITE,
    ("POST", "/v1/sub-merchants/{sub_merchant_id}/suspend"): PAYMENTS_WRITE,
    ("POST", "/v1/sub-merchants/{sub_merchant_id}/reactivate"): PAYMENTS_WRITE,
    # Settlement (api/settlement.py): where settlements pay is set by people with two-factor (a
    # second one confirms); runs move money only to that account, so payouts:write starts one.
    ("GET", "/v1/settlement/account"): PAYOUTS_READ,
    ("PUT", "/v1/settlement/account"): SETTLEMENT_MANAGE,
    ("POST", "/v1/settlement/account/confirm"): SETTLEMENT_MANAGE,
    ("PUT", "/v1/settlement/schedule"): SETTLEMENT_MANAGE,
    ("POST", "/v1/settlements"): PAYOUTS_WRITE,
    ("GET", "/v1/settlements"): PAYOUTS_READ,
    ("GET", "/v1/settlements.csv"): PAYOUTS_READ,
    ("GET", "/v1/settlements/{settlement_id}"): PAYOUTS_READ,
    ("GET", "/v1/settlements/{settlement_id}/report.csv"): PAYOUTS_READ,
    # Payments, payouts, reversals, balance, C2B
    ("POST", "/v1/payments"): PAYMENTS_WRITE,
    ("GET", "/v1/payments"): PAYMENTS_READ,
    ("POST", "/v1/privacy/erasures"): PRIVACY_MANAGE,
    ("GET", "/v1/payments/{payment_id}"): PAYMENTS_READ,
    ("GET", "/v1/payments/{payment_id}/events"): PAYMENTS_READ,
    ("GET", "/v1/events"): PAYMENTS_READ,
    ("GET", "/v1/balance"): BALANCE_READ,
    ("POST", "/v1/sandbox/fund"): PAYMENTS_WRITE,  # sandbox mode only (api/sandbox_funding.py)
    ("POST", "/v1/payouts"): PAYOUTS_WRITE,
    ("GET", "/v1/payouts/{payment_id}"): PAYOUTS_READ,
    ("GET", "/v1/payouts"): PAYOUTS_READ,
    ("GET", "/v1/transfers"): PAYOUTS_READ,
    # A reversal sends collected money back out of the merchant's balance: its own permission,
    # which the developer role (and so any client a developer makes) lacks (issue 10).
    ("POST", "/v1/payments/{payment_id}/reversal"): REVERSALS_WRITE,
    ("GET", "/v1/reversals/{payment_id}"): PAYMENTS_READ,
    ("PUT", "/v1/c2b/registration"): C2B_MANAGE,
    # A QR code asks customers to pay one of the merchant's claimed tills or paybills.
    ("POST", "/v1/qr-codes"): PAYMENTS_WRITE,
    # Invoices and standing orders ask customers for money (as STK Push does); opting a paybill
    # in to Bill Manager is part of its C2B set-up.
    ("PUT", "/v1/invoices/settings"): C2B_MANAGE,
    ("POST", "/v1/invoices"): PAYMENTS_WRITE,
    ("POST", "/v1/invoices/bulk"): PAYMENTS_WRITE,
    ("GET", "/v1/invoices"): PAYMENTS_READ,
    ("GET", "/v1/invoices/{invoice_id}"): PAYMENTS_READ,
    ("POST", "/v1/invoices/{invoice_id}/cancel"): PAYMENTS_WRITE,
    ("POST", "/v1/standing-orders"): PAYMENTS_WRITE,
    ("GET", "/v1/standing-orders"): PAYMENTS_READ,
    ("GET", "/v1/standing-orders/{order_id}"): PAYMENTS_READ,
    ("GET", "/v1/standing-orders/{order_id}/runs"): PAYMENTS_READ,
    ("POST", "/v1/standing-orders/{order_id}/cancel"): PAYMENTS_WRITE,
    # Government collections: registering the paybill is C2B set-up; a reference asks a
    # customer for money as an invoice does; the collections report is a report.
    ("PUT", "/v1/gov/paybill"): C2B_MANAGE,
    ("POST", "/v1/gov/references"): PAYMENTS_WRITE,
    ("GET", "/v1/gov/references"): PAYMENTS_READ,
    ("GET", "/v1/gov/references/{reference_id}"): PAYMENTS_READ,
    ("POST", "/v1/gov/references/{reference_id}/cancel"): PAYMENTS_WRITE,
    ("GET", "/v1/gov/receipts/{number}"): PAYMENTS_READ,
    ("GET", "/v1/gov/collections"): REPORTS_READ,
    # Transfers and bulk payouts move money out like a payout. A lookup shows an account
    # holder's name (personal data), so only those who may send money may ask.
    ("POST", "/v1/transfers"): PAYOUTS_WRITE,
    ("GET", "/v1/transfers/{transfer_id}"): PAYOUTS_READ,
    ("POST", "/v1/lookups"): PAYOUTS_WRITE,
    ("POST", "/v1/payouts/batches"): PAYOUTS_WRITE,
    ("GET", "/v1/payouts/batches/{batch_id}"): PAYOUTS_READ,
    ("GET", "/v1/payouts/batches/{batch_id}/results.csv"): PAYOUTS_READ,
    # Benefit programmes pay out in bulk: their registry (personal data) and runs are for those
    # who may send payouts; a person other than a run's maker approves it (api/benefits_runs.py).
    ("POST", "/v1/benefits/programmes"): PAYOUTS_WRITE,
    ("GET", _PROGRAMME): PAYOUTS_READ,
    ("POST", _PROGRAMME + "/beneficiaries"): PAYOUTS_WRITE,
    ("POST", _PROGRAMME + "/beneficiaries/upload"): PAYOUTS_WRITE,
    ("GET", _PROGRAMME + "/beneficiaries"): PAYOUTS_READ,
    ("GET", _PROGRAMME + "/beneficiaries/{beneficiary_id}"): PAYOUTS_READ,
    ("PATCH", _PROGRAMME + "/beneficiaries/{beneficiary_id}"): PAYOUTS_WRITE,
    ("POST", _PROGRAMME + "/runs"): PAYOUTS_WRITE,
    ("POST", "/v1/benefits/runs/{run_id}/approve"): PAYOUTS_WRITE,
    ("POST", "/v1/benefits/runs/{run_id}/retry"): PAYOUTS_WRITE,
    ("GET", "/v1/benefits/runs/{run_id}"): PAYOUTS_READ,
    ("GET", "/v1/benefits/runs/{run_id}/report"): PAYOUTS_READ,
    ("GET", "/v1/benefits/runs/{run_id}/report.csv"): PAYOUTS_READ,
    # Operator
    ("POST", "/v1/operator/provider-balance"): OPERATOR,
    ("GET", "/v1/operator/provider-balance/{query_id}"): OPERATOR,
    # Any one merchant's payments, payouts and transfers (api/search.py)
    ("GET", "/v1/operator/payments"): OPERATOR,
    ("GET", "/v1/operator/payouts"): OPERATOR,
    ("GET", "/v1/operator/transfers"): OPERATOR,
    # Review queue, KYC and limits, suspicious-activity report (api/reviews.py). A held payment
    # is decided by those who may send payouts (owner, admin, finance), people only.
    ("GET", "/v1/reviews"): PAYOUTS_READ,
    ("POST", "/v1/reviews/{payment_id}/approve"): PAYOUTS_WRITE,
    ("POST", "/v1/reviews/{payment_id}/reject"): PAYOUTS_WRITE,
    ("GET", "/v1/reports/suspicious-activity"): REPORTS_READ,
    # Statements, summaries and exports (api/statements.py, api/exports.py). A download link is
    # its own credential: signed, bound to the export and its merchant, expiring.
    ("GET", "/v1/statements"): REPORTS_READ,
    ("GET", "/v1/reports/summary"): REPORTS_READ,
    ("POST", "/v1/exports"): REPORTS_READ,
    ("GET", "/v1/exports/{export_id}"): REPORTS_READ,
    ("GET", "/v1/exports/{export_id}/download"): PUBLIC,
    ("GET", "/v1/operator/reviews"): OPERATOR,
    ("POST", "/v1/operator/reviews/{payment_id}/approve"): OPERATOR,
    ("POST", "/v1/operator/reviews/{payment_id}/reject"): OPERATOR,
    ("PUT", "/v1/operator/merchants/{merchant_id}/kyc"): OPERATOR,
    ("PUT", "/v1/operator/merchants/{merchant_id}/limits"): OPERATOR,
    ("GET", "/v1/operator/reports/suspicious-activity"): OPERATOR,
    # Onboarding with KYC (api/kyc.py, api/kyc_review.py): the applicant's owners and admins
    # (or a client given kyc:manage) apply; operators review, two of them above the risk
    # threshold, and only they open documents.
    ("POST", "/v1/kyc/applications"): KYC_MANAGE,
    ("GET", "/v1/kyc/applications"): KYC_MANAGE,
    ("GET", "/v1/kyc/applications/{application_id}"): KYC_MANAGE,
    ("PUT", "/v1/kyc/applications/{application_id}"): KYC_MANAGE,
    ("POST", "/v1/kyc/applications/{application_id}/documents"): KYC_MANAGE,
    ("POST", "/v1/kyc/applications/{application_id}/submit"): KYC_MANAGE,
    ("GET", "/v1/operator/kyc/applications"): OPERATOR,
    ("GET", "/v1/operator/kyc/applications/{application_id}"): OPERATOR,
    ("GET", "/v1/operator/kyc/applications/{application_id}/documents/{document_id}"): OPERATOR,
    ("POST", "/v1/operator/kyc/applications/{application_id}/approve"): OPERATOR,
    ("POST", "/v1/operator/kyc/applications/{application_id}/reject"): OPERATOR,
    ("POST", "/v1/operator/kyc/applications/{application_id}/request-changes"): OPERATOR,
    # Reconciliation (api/recon.py, api/recon_breaks.py)
    ("POST", "/v1/operator/recon/pulls"): OPERATOR,
    ("POST", "/v1/operator/recon/statements"): OPERATOR,
    ("POST", "/v1/operator/recon/runs"): OPERATOR,
    ("GET", "/v1/operator/recon/breaks"): OPERATOR,
    ("GET", "/v1/operator/recon/breaks/{break_id}"): OPERATOR,
    ("POST", "/v1/operator/recon/breaks/{break_id}/resolve"): OPERATOR,
    ("POST", "/v1/operator/recon/breaks/{break_id}/approve"): OPERATOR,
    # Interoperability hub (api/hub_operator.py, api/hub.py): the operator onboards and funds
    # participants; only a participant's own client moves money between participants, and the
    # handlers check it is the payer (create) or the payee (accept, reject).
    ("POST", "/v1/operator/hub/participants"): OPERATOR,
    ("GET", "/v1/operator/hub/participants"): OPERATOR,
    ("GET", "/v1/operator/hub/participants/{participant_id}"): OPERATOR,
    ("POST", "/v1/operator/hub/participants/{participant_id}/suspend"): OPERATOR,
    ("POST", "/v1/operator/hub/participants/{participant_id}/reactivate"): OPERATOR,
    ("PUT", "/v1/operator/hub/participants/{participant_id}/limits"): OPERATOR,
    ("PUT", "/v1/operator/hub/participants/{participant_id}/certificate"): OPERATOR,
    ("POST", "/v1/operator/hub/participants/{participant_id}/funds"): OPERATOR,
    ("GET", "/v1/operator/hub/switch"): OPERATOR,
    ("PUT", "/v1/operator/hub/switch"): OPERATOR,
    ("POST", "/v1/operator/hub/windows/close"): OPERATOR,
    ("GET", "/v1/operator/hub/windows"): OPERATOR,
    ("GET", "/v1/operator/hub/windows/{window_id}"): OPERATOR,
    ("POST", "/v1/operator/hub/settlements"): OPERATOR,
    ("GET", "/v1/operator/hub/settlements"): OPERATOR,
    ("GET", "/v1/operator/hub/settlements/{settlement_id}"): OPERATOR,
    ("GET", "/v1/operator/hub/settlements/{settlement_id}/report.csv"): OPERATOR,
    ("GET", "/v1/operator/hub/settlements/{settlement_id}/instruction"): OPERATOR,
    ("GET", "/v1/operator/hub/settlements/{settlement_id}/instruction.csv"): OPERATOR,
    ("POST", "/v1/operator/hub/settlements/{settlement_id}/acknowledge"): OPERATOR,
    ("POST", "/v1/operator/hub/settlements/{settlement_id}/abort"): OPERATOR,
    ("GET", "/v1/hub/participant"): HUB_PARTICIPANT,
    ("POST", "/v1/hub/parties"): HUB_PARTICIPANT,
    ("GET", "/v1/hub/parties/{party_type}/{party_id}"): HUB_PARTICIPANT,
    ("POST", "/v1/hub/quotes"): HUB_PARTICIPANT,
    ("POST", "/v1/hub/transfers"): HUB_PARTICIPANT,
    ("GET", "/v1/hub/transfers/{transfer_id}"): HUB_PARTICIPANT,
    ("POST", "/v1/hub/transfers/{transfer_id}/accept"): HUB_PARTICIPANT,
    ("POST", "/v1/hub/transfers/{transfer_id}/reject"): HUB_PARTICIPANT,
    ("POST", "/v1/hub/iso/pacs.002"): PUBLIC,  # a bank's signature authenticates it
    # Provider callbacks: each carries its own token, checked by its handler.
    # (and every provider's per-payment callbacks, from the registry: see below)
    ("POST", "/callbacks/balance/{query_id}/{token}"): PUBLIC,
    ("POST", "/callbacks/c2b/validation/{shortcode}/{token}"): PUBLIC,
    ("POST", "/callbacks/c2b/confirmation/{shortcode}/{token}"): PUBLIC,
    ("POST", "/callbacks/billmanager/{shortcode}/{token}"): PUBLIC,
    ("POST", "/callbacks/ratiba/{order_id}/{token}"): PUBLIC,
    ("POST", "/callbacks/mpesa/pull"): PUBLIC,  # acknowledged only: it carries nothing we use
    ("POST", "/callbacks/mpesa/recon-refund/{break_id}/{token}"): PUBLIC,  # a suspense refund's
    # Operations and documentation
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/assets"): PUBLIC,
    # The console (api/console): its page and files are public; its data comes from the routes
    # above, with the signed-in person's token. Rail figures are switch-wide, as on /metrics.
    ("GET", "/console/"): PUBLIC,
    ("GET", "/console/assets"): PUBLIC,
    ("GET", "/v1/stats/rails"): PAYMENTS_READ,
}
# Each provider's per-payment callbacks (switch/providers.py): the URL's token is the check.
ROUTES.update(
    {
        ("POST", f"/callbacks/{kind.path}/{{payment_id}}/{{token}}"): PUBLIC
        for spec in providers()
        for kind in spec.callbacks
    }
)
# And the one URL a provider calls for every payment, set on its portal (its handler
# authenticates the body, or asks the provider before believing it).
ROUTES.update(
    {
        ("POST", f"/callbacks/{spec.portal_callback}"): PUBLIC
        for spec in providers()
        if spec.portal_callback
    }
)


def permission_for(method: str, route: str) -> str | None:
    """The permission a route needs; None when the table does not name it (refuse)."""
    return ROUTES.get(("GET" if method == "HEAD" else method, route))


def role_scope(role: str) -> str:
    return " ".join(sorted(ROLES.get(role, frozenset())))


def client_token_scope(stored_scope: str, explicit: bool) -> str:
    """The scope a client's tokens carry. Clients made through ``POST /v1/clients`` hold
    explicit scopes; older ones holding the legacy scope get every merchant API scope."""
    if explicit or stored_scope != LEGACY_SCOPE:
        return stored_scope
    return MERCHANT_API_SCOPES


def grant_refusals(wanted: Iterable[str], held: str) -> list[dict[str, str]]:
    """Why a caller whose token holds ``held`` may not hand out an API client with the scopes
    ``wanted``, by creating it or by rotating it (its new secret carries them all): one detail
    per scope that is not a client scope or that the caller lacks; empty when it may."""
    have = set(held.split())
    details = []
    for scope in sorted(set(wanted)):
        if scope not in CLIENT_SCOPES:
            details.append({"field": "scopes", "reason": f"not a client scope: {scope}"})
        elif scope not in have:
            details.append({"field": "scopes", "reason": f"your role lacks {scope}"})
    return details


def allowed(scope: str, permission: str) -> bool:
    return permission in scope.split()
