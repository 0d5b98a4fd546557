"""MongoDB access: the client, the collections and every index, declared in one place.

Writes that move money use write concern ``majority`` with journaling. Documents are addressed
by ``_id`` and written in bulk, because that is what both mongod and the embedded SecantusDB
server do fastest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel, WriteConcern
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

Doc = dict[str, Any]

MONEY_WRITES = WriteConcern(w="majority", j=True)
WEBHOOK_LOG_DAYS = 30

# Deliberately few: every secondary index is paid on each write, and the embedded SecantusDB
# server pays dearly (inserts 12,000/s without, 4,800/s with three). Payments are found by
# ``_id`` (which carries the shard, and is derived from the idempotency key, so the primary key is
# the idempotency guard); what a restarted shard must resume is listed in ``inflight``.
INDEXES: dict[str, list[IndexModel]] = {
    # Look-ups by phone (the keyed blind index of switch/pii.py, for
    # a merchant's support desk and for erasure requests). A measured cost on every insert.
    "payments": [
        IndexModel(
            [("merchant_id", ASCENDING), ("phone_bidx", ASCENDING)], name="phone", sparse=True
        ),
        # Finding payments (GET /v1/payments, /v1/payouts, /v1/transfers; api/search.py): a
        # merchant's payments by creation time. Written once per payment (created_at never
        # changes), so the status updates of the hot path do not touch it; every other filter is
        # applied to the time window this index returns (switch/search.py says why).
        IndexModel(
            [("merchant_id", ASCENDING), ("created_at", DESCENDING)], name="merchant_created"
        ),
    ],
    # The suspicious-activity report reads a merchant's events by time (few writes: holds,
    # refusals and review decisions only).
    "compliance_events": [IndexModel([("merchant_id", ASCENDING), ("at", ASCENDING)], name="cev")],
    "clients": [IndexModel([("merchant_id", ASCENDING)], name="client_merchant")],
    # Webhooks (switch/webhooks.py): a merchant's endpoints; its delivery log by time, each entry
    # expiring WEBHOOK_LOG_DAYS after the event (a TTL index: the log cannot grow without end).
    "webhook_endpoints": [IndexModel([("merchant_id", ASCENDING)], name="endpoint_merchant")],
    "webhook_deliveries": [
        IndexModel([("merchant_id", ASCENDING), ("created_at", DESCENDING)], name="wd_merchant"),
        IndexModel(
            [("created_at", ASCENDING)], name="wd_ttl", expireAfterSeconds=WEBHOOK_LOG_DAYS * 86400
        ),
    ],
    # Statements (api/statements.py): a merchant's journal entries by time. One entry per money
    # movement, written once and never updated.
    # A platform fee's entry is on the aggregator, with the sub-merchant as its counterparty.
    "journal": [
        IndexModel([("merchant_id", ASCENDING), ("at", ASCENDING)], name="journal_at"),
        IndexModel(
            [("counterparty", ASCENDING), ("at", ASCENDING)], name="journal_counterparty_at"
        ),
    ],
    # Bulk payouts (actors/batches.py): a restart resumes the batches not completed. Only batch
    # headers carry ``state`` (their item chunks share the collection), so the index is sparse
    # and small, and it changes only when a batch starts or completes.
    "batches": [IndexModel([("state", ASCENDING)], name="batch_state", sparse=True)],
    # People sign in by email, so it is unique; few writes, so the index costs nothing that
    # matters. Invitations are addressed by the hash of their token, login attempts by a keyed
    # hash of the email, token generations by subject: no further index.
    "users": [
        IndexModel([("email", ASCENDING)], name="user_email", unique=True),
        IndexModel([("merchant_id", ASCENDING)], name="user_merchant"),
    ],
}


@dataclass(frozen=True)
class Collections:
    payments: AsyncCollection[Doc]
    merchants: AsyncCollection[Doc]
    clients: AsyncCollection[Doc]
    webhook_deliveries: AsyncCollection[Doc]
    webhook_endpoints: AsyncCollection[Doc]
    settings: AsyncCollection[Doc]
    inflight: AsyncCollection[Doc]
    journal: AsyncCollection[Doc]
    balances: AsyncCollection[Doc]
    c2b_routes: AsyncCollection[Doc]
    c2b_unmatched: AsyncCollection[Doc]
    # _id = M-Pesa receipt -> the merchant it was routed to: one receipt, one merchant, ever.
    c2b_receipts: AsyncCollection[Doc]
    provider_balances: AsyncCollection[Doc]
    batches: AsyncCollection[Doc]
    keys: AsyncCollection[Doc]  # wrapped data keys (switch/pii.py)
    users: AsyncCollection[Doc]
    invitations: AsyncCollection[Doc]
    login_attempts: AsyncCollection[Doc]
    token_generations: AsyncCollection[Doc]
    audit: AsyncCollection[Doc]  # hash-chained audit trail, _id = seq (switch/security/audit.py)
    compliance_events: AsyncCollection[Doc]  # holds, refusals, reviews (actors/compliance.py)


def connect(uri: str) -> AsyncMongoClient[Doc]:
    return AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=10_000)


def collections(client: AsyncMongoClient[Doc], db_name: str) -> Collections:
    db: AsyncDatabase[Doc] = client.get_database(db_name, write_concern=MONEY_WRITES)
    return Collections(
        payments=db["payments"],
        merchants=db["merchants"],
        clients=db["clients"],
        webhook_deliveries=db["webhook_deliveries"],
        webhook_endpoints=db["webhook_endpoints"],
        settings=db["settings"],
        inflight=db["inflight"],
        journal=db["journal"],
        balances=db["balances"],
        c2b_routes=db["c2b_routes"],
        c2b_unmatched=db["c2b_unmatched"],
        c2b_receipts=db["c2b_receipts"],
        provider_balances=db["provider_balances"],
        batches=db["batches"],
        keys=db["keys"],
        users=db["users"],
        invitations=db["invitations"],
        login_attempts=db["login_attempts"],
        token_generations=db["token_generations"],
        audit=db["audit"],
        compliance_events=db["compliance_events"],
    )


async def ensure_indexes(client: AsyncMongoClient[Doc], db_name: str) -> None:
    db = client[db_name]
    for name, models in INDEXES.items():
        await db[name].create_indexes(models)
