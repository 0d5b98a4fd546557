"""Merchants and their API clients. A merchant has a webhook URL and secret; a client has an id,
a secret (shown once, stored hashed) and scopes."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from infra.storage.mongo import Collections
from switch.errors import ValidationFailed
from switch.ids import new_id, random_token
from switch.payments import now_utc
from switch.signing import hash_client_secret, new_webhook_secret

DEFAULT_SCOPE = "payments:read payments:write"
_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$")


@dataclass(frozen=True)
class NewMerchant:
    merchant_id: str
    client_id: str
    client_secret: str
    webhook_secret: str
    name: str
    webhook_url: str | None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def check_merchant(name: str, webhook_url: str | None) -> None:
    details = []
    if not 1 <= len(name.strip()) <= 120:
        details.append({"field": "name", "reason": "must be 1 to 120 characters"})
    if webhook_url is not None and not _URL.match(webhook_url):
        details.append({"field": "webhook_url", "reason": "must be an http(s) URL"})
    if details:
        raise ValidationFailed("invalid merchant", details)


OPERATOR = "operator"  # the merchant id of the switch operator's own clients


async def create_operator_client(cols: Collections) -> dict[str, str]:
    """A client for the switch's operator (scope ``operator``): provider float, not payments."""
    client_id, secret = new_id("cli"), "sec_" + random_token(24)
    await cols.clients.insert_one(
        {
            "_id": client_id,
            "merchant_id": OPERATOR,
            "secret_hash": hash_client_secret(secret),
            "scope": "operator",
            "status": "active",
            "created_at": now_utc(),
        }
    )
    return {"client_id": client_id, "client_secret": secret, "scope": "operator"}


async def create_merchant(
    cols: Collections, name: str, webhook_url: str | None, kyc_status: str = "verified"
) -> NewMerchant:
    """A merchant onboarded by the operator (``python -m switch merchant create``): the operator
    is the KYC authority and has checked the business, so it starts ``verified``. Self-service
    sign-ups (POST /v1/users) start ``pending`` instead (switch/users.py)."""
    check_merchant(name, webhook_url)
    created = NewMerchant(
        merchant_id=new_id("mch"),
        client_id=new_id("cli"),
        client_secret="sec_" + random_token(24),
        webhook_secret=new_webhook_secret(),
        name=name.strip(),
        webhook_url=webhook_url,
    )
    at = now_utc()
    await cols.merchants.insert_one(
        {
            "_id": created.merchant_id,
            "name": created.name,
            "webhook_url": webhook_url,
            "webhook_secret": created.webhook_secret,
            "status": "active",
            "kyc_status": kyc_status,
            "created_at": at,
        }
    )
    await cols.clients.insert_one(
        {
            "_id": created.client_id,
            "merchant_id": created.merchant_id,
            "secret_hash": hash_client_secret(created.client_secret),
            "scope": DEFAULT_SCOPE,
            "status": "active",
            "created_at": at,
        }
    )
    return created
