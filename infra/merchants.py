"""Onboarding by the operator, in MongoDB: a merchant with its first API client, and the
operator's own client. What a valid merchant is stays pure in :mod:`switch.merchants`."""

from __future__ import annotations

from infra.storage.mongo import Collections
from switch.ids import new_id, random_token
from switch.merchants import DEFAULT_SCOPE, OPERATOR, NewMerchant, check_merchant
from switch.payments import now_utc
from switch.signing import hash_client_secret, new_webhook_secret


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
    sign-ups (POST /v1/users) start ``pending`` instead (infra/users.py)."""
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
