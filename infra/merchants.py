"""Merchants in MongoDB: the one service the operator routes (api/merchants.py), aggregators
(api/sub_merchants.py) and the command line (``python -m switch merchant ...``) all use, so a
merchant is made, changed, suspended or closed the same way whoever asks, and every change is
audited. What a valid merchant is stays pure in :mod:`switch.merchants` and
:mod:`switch.platform`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import ReturnDocument

from infra.audit import AuditLog
from infra.storage.mongo import Collections, Doc
from switch import ledger
from switch.errors import ClientError, NotFound, ValidationFailed
from switch.ids import new_id, random_token, ulid
from switch.merchants import (
    ACTIONS,
    DEFAULT_SCOPE,
    MAX_PAGE,
    OPERATOR,
    NewMerchant,
    check_changes,
    check_merchant,
    status_refusal,
)
from switch.payments import now_utc
from switch.platform import PlatformFee, aggregator_status_refusal, sub_merchant_id
from switch.roles import KYC_MANAGE, MERCHANT_API_SCOPES
from switch.signing import hash_client_secret, new_webhook_secret


class Refused(ClientError, status=409, code="conflict"):
    """The merchant's state does not allow the change (named in the message)."""


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
    cols: Collections,
    name: str,
    webhook_url: str | None,
    kyc_status: str = "verified",
    *,
    kind: str = "standard",
    actor: str = "cli:operator",
    audit: AuditLog | None = None,
) -> NewMerchant:
    """A merchant onboarded by the operator (the CLI or ``POST /v1/operator/merchants``): the
    operator is the KYC authority and has checked the business, so it starts ``verified``.
    Self-service sign-ups (POST /v1/users) start ``pending`` instead (infra/users.py)."""
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
    doc = {
        "_id": created.merchant_id,
        "name": created.name,
        "kind": kind,
        "webhook_url": webhook_url,
        "webhook_secret": created.webhook_secret,
        "status": "active",
        "kyc_status": kyc_status,
        "created_at": at,
    }
    await cols.merchants.insert_one(doc)
    client: dict[str, Any] = {
        "_id": created.client_id,
        "merchant_id": created.merchant_id,
        "secret_hash": hash_client_secret(created.client_secret),
        "scope": DEFAULT_SCOPE,
        "status": "active",
        "created_at": at,
    }
    if kind == "aggregator":
        # An aggregator onboards its sub-merchants, KYC included, through the API; a merchant
        # made by the operator has no people to hand its client that scope later.
        scopes = sorted({*MERCHANT_API_SCOPES.split(), KYC_MANAGE})
        client.update(scope=" ".join(scopes), scopes=scopes)
    await cols.clients.insert_one(client)
    await _audit(audit or AuditLog(cols.audit), actor, "merchant.create", doc)
    return created


async def create_sub_merchant(
    cols: Collections,
    parent: Mapping[str, Any],
    name: str,
    webhook_url: str | None,
    fee: PlatformFee,
    actor: str,
    audit: AuditLog,
) -> tuple[Doc, str | None]:
    """A sub-merchant of ``parent`` (an aggregator), with no credentials of its own: its
    aggregator acts on its behalf. It starts ``pending`` (KYC is the operator's), and gets a
    webhook secret only with an endpoint of its own (else its parent's pair applies)."""
    check_merchant(name, webhook_url)
    secret = new_webhook_secret() if webhook_url else None
    doc = {
        "_id": sub_merchant_id(str(parent["_id"]), ulid()),
        "name": name.strip(),
        "kind": "standard",
        "parent_id": parent["_id"],
        "webhook_url": webhook_url,
        "webhook_secret": secret,
        "platform_fee": fee.to_doc(),
        "status": "active",
        "kyc_status": "pending",
        "created_at": now_utc(),
    }
    await cols.merchants.insert_one(doc)
    await _audit(audit, actor, "merchant.create", doc)
    return doc, secret


async def get_merchant(cols: Collections, merchant_id: str, parent_id: str | None = None) -> Doc:
    """The merchant (as stored); with ``parent_id``, only if it is that aggregator's child."""
    query: dict[str, Any] = {"_id": merchant_id}
    if parent_id is not None:
        query["parent_id"] = parent_id
    doc = await cols.merchants.find_one(query)
    if doc is None:
        raise NotFound(f"no merchant {merchant_id}")
    return doc


async def list_merchants(
    cols: Collections, limit: int, after: str | None, query: Mapping[str, Any]
) -> tuple[list[Doc], str | None]:
    """A page of merchants in id order (ids are ULIDs: creation order) after ``after``, and
    where the next page starts (None: nothing left)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValidationFailed(
            "invalid query", [{"field": "limit", "reason": f"must be 1 to {MAX_PAGE}"}]
        )
    found = dict(query)
    if after:
        found["_id"] = {"$gt": after}
    cursor = cols.merchants.find(found, {"webhook_secret": 0}).sort("_id", 1).limit(limit + 1)
    docs = [d async for d in cursor]
    more = len(docs) > limit
    return docs[:limit], (str(docs[limit - 1]["_id"]) if more else None)


async def update_merchant(
    cols: Collections,
    merchant_id: str,
    changes: Mapping[str, Any],
    actor: str,
    audit: AuditLog,
    parent_id: str | None = None,
) -> Doc:
    """Set ``changes`` (already validated by the caller's model) on the merchant; audited
    with the values before and after. A new webhook URL on a merchant with no secret of its
    own (a sub-merchant that used its parent's) gets one."""
    check_changes(changes)
    current = await get_merchant(cols, merchant_id, parent_id)
    update = dict(changes)
    if update.get("webhook_url") and not current.get("webhook_secret"):
        update["webhook_secret"] = new_webhook_secret()
    if "webhook_url" in update and update["webhook_url"] is None and current.get("parent_id"):
        update["webhook_secret"] = None  # back to the parent's pair
    before = await cols.merchants.find_one_and_update(
        {"_id": merchant_id},
        {"$set": {**update, "updated_at": now_utc()}},
        return_document=ReturnDocument.BEFORE,
    )
    if before is None:
        raise NotFound(f"no merchant {merchant_id}")
    shown = [k for k in update if k != "webhook_secret"]
    await audit.append(
        actor,
        "merchant.update",
        f"merchant:{merchant_id}",
        before={k: before.get(k) for k in shown},
        after={k: update[k] for k in shown},
    )
    return {**before, **update}


async def held_minor(cols: Collections, merchant_id: str) -> int:
    """What the merchant holds: available plus reserved, as committed."""
    names = [ledger.available(merchant_id), ledger.reserved(merchant_id)]
    return sum([int(d["balance"]) async for d in cols.balances.find({"_id": {"$in": names}})])


async def change_status(
    cols: Collections,
    merchant_id: str,
    action: str,
    reason: str,
    actor: str,
    audit: AuditLog,
    parent_id: str | None = None,
) -> Doc:
    """Suspend, reactivate or close a merchant (switch/merchants.py says which may follow
    which); guarded by the status read, so two concurrent changes cannot both apply. With
    ``parent_id`` the aggregator acts on its own sub-merchant: it may not close one, nor lift
    a suspension the operator made (switch/platform.py, ``aggregator_status_refusal``)."""
    current = await get_merchant(cols, merchant_id, parent_id)
    was = str(current.get("status", "active"))
    by = "aggregator" if parent_id is not None else "operator"
    refused = (
        aggregator_status_refusal(action, current) if parent_id is not None else None
    ) or status_refusal(action, was, await held_minor(cols, merchant_id))
    if refused is not None:
        raise Refused(refused)
    status = ACTIONS[action][0]
    changed = await cols.merchants.find_one_and_update(
        {"_id": merchant_id, "status": current.get("status")},
        {
            "$set": {
                "status": status,
                "status_reason": reason,
                "status_by": by,
                "updated_at": now_utc(),
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    if changed is None:
        raise Refused("the merchant changed meanwhile; read it again")
    await audit.append(
        actor,
        f"merchant.{action}",
        f"merchant:{merchant_id}",
        before={"status": was},
        after={"status": status, "reason": reason, "by": by},
    )
    return changed


async def _audit(audit: AuditLog, actor: str, action: str, doc: Mapping[str, Any]) -> None:
    shown = {k: v for k, v in doc.items() if k not in ("webhook_secret", "created_at")}
    await audit.append(actor, action, f"merchant:{doc['_id']}", after=shown)
