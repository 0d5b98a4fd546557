"""Webhook endpoints and the delivery log in MongoDB (rules in :mod:`switch.webhooks`).

A merchant's single ``webhook_url`` (the setting from before endpoints existed, still set by
``PATCH /v1/merchant`` and ``python -m switch merchant create``) becomes its first endpoint, for
all events and with the merchant's webhook secret, the first time its endpoints are read
(:func:`endpoints_of`); the merchant is marked ``webhooks_migrated`` so it happens once.
The delivery log is written in batches (:func:`write_log`; the shards group their attempts with
:class:`actors.webhook_port.MongoWebhooks`): a delivery that succeeded at the first try is an item
of a summary, any other an entry of its own; :func:`find_deliveries` reads both as entries.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne

from infra.storage.mongo import Collections, Doc
from switch.ids import new_id
from switch.payments import now_utc
from switch.signing import new_webhook_secret
from switch.webhooks import (
    LogEntry,
    delivery_query,
    first_n,
    legacy_endpoint,
    legacy_endpoint_id,
    log_update,
    rotated,
    seed_update,
    summary_doc,
    summary_entries,
    summary_query,
)


async def migrate_legacy(cols: Collections, merchant_id: str, merchant: Doc | None = None) -> None:
    """Make the merchant's ``webhook_url`` its first endpoint, once (``merchant``: its document
    as read before a change of the URL, else read now)."""
    if merchant is None:
        merchant = await cols.merchants.find_one(
            {"_id": merchant_id, "webhooks_migrated": {"$ne": True}},
            {"webhook_url": 1, "webhook_secret": 1},
        )
    if merchant is None or merchant.get("webhooks_migrated"):
        return
    doc = legacy_endpoint(merchant, now_utc())
    if doc is not None:
        await cols.webhook_endpoints.update_one(
            {"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True
        )
    await cols.merchants.update_one({"_id": merchant_id}, {"$set": {"webhooks_migrated": True}})


async def endpoints_of(cols: Collections, merchant_id: str) -> list[Doc]:
    await migrate_legacy(cols, merchant_id)
    cursor = cols.webhook_endpoints.find({"merchant_id": merchant_id}).sort("created_at", 1)
    return [d async for d in cursor]


async def create_endpoint(
    cols: Collections, merchant_id: str, url: str, description: str, events: list[str]
) -> tuple[Doc, str]:
    """A new endpoint and its secret (the caller shows it once)."""
    now, secret = now_utc(), new_webhook_secret()
    doc: Doc = {
        "_id": new_id("we"),
        "merchant_id": merchant_id,
        "url": url,
        "description": description,
        "events": events,
        "enabled": True,
        "secrets": [{"secret": secret, "expires_at": None}],
        "failing_since": None,
        "created_at": now,
        "updated_at": now,
    }
    await cols.webhook_endpoints.insert_one(doc)
    return doc, secret


async def set_legacy_url(cols: Collections, merchant: Doc, url: str | None) -> str | None:
    """``PATCH /v1/merchant``: point the merchant's first endpoint at ``url`` (None: delete
    it); ``merchant`` is its document from before the change. Returns the endpoint's secret when
    this call made the endpoint, for showing once."""
    await migrate_legacy(cols, merchant["_id"], merchant)
    endpoint_id = legacy_endpoint_id(merchant["_id"])
    if url is None:
        await cols.webhook_endpoints.delete_one({"_id": endpoint_id})
        return None
    now = now_utc()
    updated = await cols.webhook_endpoints.update_one(
        {"_id": endpoint_id}, {"$set": {"url": url, "updated_at": now}}
    )
    if updated.matched_count:
        return None
    doc = legacy_endpoint({**merchant, "webhook_url": url}, now)
    assert doc is not None
    await cols.webhook_endpoints.update_one(
        {"_id": endpoint_id}, {"$setOnInsert": doc}, upsert=True
    )
    return str(doc["secrets"][0]["secret"])


async def update_endpoint(
    cols: Collections, merchant_id: str, endpoint_id: str, changes: Doc
) -> tuple[Doc, Doc] | None:
    """(before, after), or None when the merchant has no such endpoint. Enabling an endpoint
    clears its failure record, so it gets the full window again."""
    changes = {**changes, "updated_at": now_utc()}
    if changes.get("enabled") is True:
        changes |= {"failing_since": None, "disabled_at": None, "disabled_reason": None}
    before = await cols.webhook_endpoints.find_one_and_update(
        {"_id": endpoint_id, "merchant_id": merchant_id},
        {"$set": changes},
        return_document=ReturnDocument.BEFORE,
    )
    return None if before is None else (before, {**before, **changes})


async def rotate_secret(
    cols: Collections, merchant_id: str, endpoint_id: str, overlap: timedelta
) -> tuple[Doc, str] | None:
    """The endpoint after a rotation and its new secret (shown once)."""
    doc = await cols.webhook_endpoints.find_one({"_id": endpoint_id, "merchant_id": merchant_id})
    if doc is None:
        return None
    secret, now = new_webhook_secret(), now_utc()
    secrets = rotated(doc.get("secrets", []), secret, now, overlap)
    # Only if nobody rotated meanwhile (the secrets we read are the ones we replace).
    done = await cols.webhook_endpoints.find_one_and_update(
        {"_id": endpoint_id, "secrets": doc.get("secrets", [])},
        {"$set": {"secrets": secrets, "updated_at": now}},
        return_document=ReturnDocument.AFTER,
    )
    return None if done is None else (done, secret)


async def mark_failing(cols: Collections, endpoint_id: str, since: datetime) -> None:
    await cols.webhook_endpoints.update_one(
        {"_id": endpoint_id, "failing_since": None}, {"$set": {"failing_since": since}}
    )


async def mark_healthy(cols: Collections, endpoint_id: str) -> None:
    await cols.webhook_endpoints.update_one(
        {"_id": endpoint_id, "failing_since": {"$ne": None}}, {"$set": {"failing_since": None}}
    )


async def disable_failing(cols: Collections, endpoint_id: str, reason: str) -> Doc | None:
    """Disable an endpoint that is still enabled and failing; the endpoint when this call did
    it (so one shard, not each, sends the notice)."""
    now = now_utc()
    return await cols.webhook_endpoints.find_one_and_update(
        {"_id": endpoint_id, "enabled": True, "failing_since": {"$ne": None}},
        {"$set": {"enabled": False, "disabled_at": now, "disabled_reason": reason}},
        return_document=ReturnDocument.AFTER,
    )


async def write_log(cols: Collections, entries: list[LogEntry]) -> None:
    """Record attempts in the delivery log: the deliveries that succeeded at the first try as
    one summary per merchant (switch/webhooks.py), every other attempt as an upsert of its
    delivery's entry, in one ordered bulk write."""
    summarised: dict[str, list[LogEntry]] = {}
    ops: list[UpdateOne] = []
    for entry in entries:
        if entry.summarised:
            summarised.setdefault(entry.merchant_id, []).append(entry)
            continue
        if entry.seed is not None:
            match, update = seed_update(entry.seed)
            ops.append(UpdateOne(match, update, upsert=True))
        match, update = log_update(entry)
        ops.append(UpdateOne(match, update, upsert=True))
    if summarised:
        docs = [summary_doc(new_id("wds"), m, group) for m, group in summarised.items()]
        await cols.webhook_deliveries.insert_many(docs)
    if ops:
        await cols.webhook_deliveries.bulk_write(ops, ordered=True)


async def find_deliveries(
    cols: Collections,
    merchant_id: str,
    limit: int,
    newest: bool = True,
    *,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    with_body: bool = False,
) -> list[Doc]:
    """The first ``limit`` log entries matching the filters, newest (or oldest) first: the
    entries of their own and the summarised deliveries unfolded into entries (one superseded by
    an entry of its own is left out). ``with_body``: only entries that kept the event's body,
    besides the summarised ones (which never do)."""
    query = delivery_query(merchant_id, endpoint_id, event_id, status, since, until)
    query.setdefault("endpoint_id", {"$exists": True})  # not a summary
    if with_body:
        query["body"] = {"$exists": True}
    order = DESCENDING if newest else ASCENDING
    cursor = cols.webhook_deliveries.find(query).sort("created_at", order).limit(limit)
    rows: list[Doc] = [d async for d in cursor]
    found = summary_query(merchant_id, endpoint_id, event_id, status, since, until)
    if found is None:
        return rows
    items: dict[str, Doc] = {}
    # A summary's items are no newer than its created_at and no older than its first_at: read
    # in that order, the summaries past the limit-th entry so far cannot hold a nearer one.
    edge = "created_at" if newest else "first_at"
    async for doc in cols.webhook_deliveries.find(found).sort(edge, order):
        chosen = first_n([*rows, *items.values()], limit, newest)
        if len(chosen) >= limit and (
            doc[edge] < chosen[-1]["created_at"] if newest else doc[edge] > chosen[-1]["created_at"]
        ):
            break
        items |= {e["_id"]: e for e in summary_entries(doc, endpoint_id, event_id, since, until)}
    if items:
        own = cols.webhook_deliveries.find({"_id": {"$in": list(items)}}, {"_id": 1})
        async for d in own:
            items.pop(d["_id"], None)
    return [dict(e) for e in first_n([*rows, *items.values()], limit, newest)]
