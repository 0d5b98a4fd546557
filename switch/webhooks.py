"""Webhook endpoints (issue 13 item 4): event-type filters, secrets with a rotation overlap, the
signature header carrying every live secret's signature, the automatic-disable rule, and the
delivery log's records and queries. Pure: the shard's notifier and the api do the I/O.

An endpoint document (``webhook_endpoints``)::

    {_id: "we_...", merchant_id, url, description, events: ["payment.*"], enabled,
     secrets: [{secret, expires_at: datetime | None}], failing_since, disabled_at,
     disabled_reason, created_at, updated_at}

The newest secret (``expires_at`` None) signs; an older one keeps signing until its
``expires_at`` (the overlap after a rotation), so receivers can switch secrets without losing an
event. Standard Webhooks lets ``webhook-signature`` carry several space-separated ``v1,``
signatures; a receiver accepts the event when any one verifies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from switch.payments import HistoryEntry, Payment, iso, view
from switch.signing import webhook_signature

ALL_EVENTS = "*"
MAX_FILTERS = 20
MAX_ENDPOINTS = 16
MAX_DESCRIPTION = 200
EXCERPT_BYTES = 256  # of a receiver's answer, kept in the log; never more
MAX_LOGGED_ATTEMPTS = 10  # per delivery; the count goes on
DELIVERY_STATUSES = ("delivered", "retrying", "failed")
# Events about the endpoints themselves (not payments).
ENDPOINT_TEST = "webhook_endpoint.test"
ENDPOINT_DISABLED = "webhook_endpoint.disabled"

_FILTER = re.compile(r"^(\*|[a-z][a-z_]{0,30}\.(\*|[a-z][a-z_]{0,30}))$")


# --- filters ------------------------------------------------------------------------------------


def filter_problems(filters: Sequence[str]) -> list[str]:
    """Why a list of event-type filters is refused (empty when it is fine). A filter is ``*``
    (every event), ``payment.*`` (every event of one object) or an exact type
    (``payment.succeeded``)."""
    if not filters:
        return ["must name at least one event type, or * for all"]
    if len(filters) > MAX_FILTERS:
        return [f"at most {MAX_FILTERS} filters"]
    return [
        f"{f!r} is not an event type (payment.succeeded), an object's events (payment.*) or *"
        for f in filters
        if not _FILTER.match(f)
    ]


def matches(filters: Iterable[str], event_type: str) -> bool:
    """Whether an endpoint with these filters wants events of this type."""
    obj = event_type.split(".", 1)[0]
    return any(f in (ALL_EVENTS, event_type, f"{obj}.*") for f in filters)


# --- secrets and signatures ---------------------------------------------------------------------


def live_secrets(secrets: Sequence[Mapping[str, Any]], now: datetime) -> list[str]:
    """The secrets that sign now: the current one first, then those still in their overlap."""
    current = [s["secret"] for s in secrets if s.get("expires_at") is None]
    overlapping = [
        s["secret"]
        for s in sorted(secrets, key=lambda s: s["expires_at"] or now, reverse=True)
        if s.get("expires_at") is not None and s["expires_at"] > now
    ]
    return current + overlapping


def rotated(
    secrets: Sequence[Mapping[str, Any]], new_secret: str, now: datetime, overlap: timedelta
) -> list[dict[str, Any]]:
    """The secrets after a rotation: ``new_secret`` signs from now on; the older ones keep
    signing for ``overlap`` at most (zero: they stop at once); expired ones are dropped."""
    until = now + overlap
    kept: list[dict[str, Any]] = []
    for s in secrets:
        expires = s.get("expires_at")
        expires = until if expires is None else min(expires, until)
        if expires > now:
            kept.append({"secret": s["secret"], "expires_at": expires})
    return [{"secret": new_secret, "expires_at": None}, *kept]


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<sig> v1,<sig>``: one Standard Webhooks signature per live secret."""
    return " ".join(webhook_signature(s, msg_id, timestamp, body) for s in secrets)


def signed_headers(
    secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
    }


# --- the endpoint as the dispatcher sees it -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One endpoint, as loaded for delivery."""

    id: str
    url: str
    secrets: tuple[str, ...]
    events: tuple[str, ...]
    enabled: bool
    failing_since: datetime | None = None

    def wants(self, event_type: str) -> bool:
        return self.enabled and matches(self.events, event_type)


def target_of(doc: Mapping[str, Any], now: datetime) -> Target:
    return Target(
        doc["_id"],
        doc["url"],
        tuple(live_secrets(doc.get("secrets", []), now)),
        tuple(doc.get("events", [ALL_EVENTS])),
        bool(doc.get("enabled", True)),
        doc.get("failing_since"),
    )


def legacy_endpoint_id(merchant_id: str) -> str:
    """The id of the endpoint a merchant's single ``webhook_url`` became: one per merchant."""
    return "we_" + merchant_id.removeprefix("mch_")


def legacy_endpoint(merchant: Mapping[str, Any], now: datetime) -> dict[str, Any] | None:
    """The endpoint a merchant's ``webhook_url`` setting becomes (all events, the merchant's
    webhook secret, so receivers verifying with it carry on); None without a URL."""
    url = merchant.get("webhook_url")
    if not url:
        return None
    return {
        "_id": legacy_endpoint_id(merchant["_id"]),
        "merchant_id": merchant["_id"],
        "url": url,
        "description": "the merchant's webhook URL (PATCH /v1/merchant)",
        "events": [ALL_EVENTS],
        "enabled": True,
        "secrets": [{"secret": merchant.get("webhook_secret", ""), "expires_at": None}],
        "failing_since": None,
        "created_at": now,
        "updated_at": now,
    }


# --- automatic disabling ------------------------------------------------------------------------


def should_disable(failing_since: datetime | None, now: datetime, after: timedelta) -> bool:
    """An endpoint that has failed every delivery since ``failing_since`` (no success since) is
    disabled once that is ``after`` ago."""
    return failing_since is not None and now - failing_since >= after


def disabled_event(
    endpoint: Mapping[str, Any], event_id: str, now: datetime, reason: str
) -> dict[str, Any]:
    """The notice other endpoints receive when one is disabled."""
    return {
        "id": event_id,
        "type": ENDPOINT_DISABLED,
        "created_at": iso_z(now),
        "data": {
            "object": "webhook_endpoint",
            "id": endpoint["_id"],
            "url": endpoint.get("url"),
            "reason": reason,
        },
    }


def test_event(endpoint_id: str, event_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": ENDPOINT_TEST,
        "created_at": iso_z(now),
        "data": {"object": "webhook_endpoint", "id": endpoint_id, "test": True},
    }


def iso_z(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the delivery log ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST to one endpoint: the HTTP status (None when nothing came back), how long it
    took, why it failed, and the first bytes of the answer."""

    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    excerpt: str

    @property
    def ok(self) -> bool:
        return self.error is None


def attempt_of(
    at: datetime, status_code: int | None, latency_s: float, body: bytes, error: str | None
) -> Attempt:
    if error is None and status_code is not None and not 200 <= status_code < 300:
        error = f"HTTP {status_code}"
    return Attempt(at, status_code, round(latency_s * 1000), error, excerpt(body))


def excerpt(body: bytes, limit: int = EXCERPT_BYTES) -> str:
    """The start of a receiver's answer, for support; answers are not stored beyond this."""
    return body[:limit].decode("utf-8", "replace")


def delivery_id(event_id: str, endpoint_id: str) -> str:
    return f"{event_id}:{endpoint_id}"


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One attempt to log against the delivery of ``event`` to ``endpoint_id``; ``status`` is
    the delivery's status after it (delivered, retrying, failed). ``first``: the first attempt
    of a shard's delivery (one that succeeds goes into a summary, :func:`summary_doc`);
    ``seed``: the delivery as a summary logged it (a resend of it), the entry's start."""

    merchant_id: str
    endpoint_id: str
    event: Mapping[str, Any]
    body: bytes
    attempt: Attempt
    status: str
    first: bool = False
    seed: Mapping[str, Any] | None = None

    @property
    def summarised(self) -> bool:
        """Delivered at the first try: logged in a summary, not an entry of its own."""
        return self.first and self.status == "delivered"


def _record(a: Attempt) -> dict[str, Any]:
    return {
        "at": a.at,
        "status_code": a.status_code,
        "latency_ms": a.latency_ms,
        "error": a.error,
        "response_excerpt": a.excerpt,
    }


def log_update(entry: LogEntry) -> tuple[dict[str, Any], dict[str, Any]]:
    """The upsert (filter, update) recording one attempt: the last few attempts are kept, the
    count goes on. The event body is kept (for a resend) until the log entry expires."""
    a = entry.attempt
    event = entry.event
    data = event.get("data") or {}
    record = _record(a)
    update = {
        "$setOnInsert": {
            "merchant_id": entry.merchant_id,
            "endpoint_id": entry.endpoint_id,
            "event_id": event["id"],
            "event_type": event["type"],
            "object_id": data.get("id"),
            "body": entry.body.decode(),
            "created_at": a.at,
        },
        "$set": {
            "status": entry.status,
            "last_status_code": a.status_code,
            "last_latency_ms": a.latency_ms,
            "last_error": a.error,
            "updated_at": a.at,
        },
        "$inc": {"attempt_count": 1},
        "$push": {"attempts": {"$each": [record], "$slice": -MAX_LOGGED_ATTEMPTS}},
    }
    return {"_id": delivery_id(event["id"], entry.endpoint_id)}, update


def seed_update(seed: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The upsert that turns a summarised delivery into an entry of its own (before a resend
    of it is logged there), its first attempt kept; a no-op once the entry exists."""
    return {"_id": seed["_id"]}, {"$setOnInsert": {k: v for k, v in seed.items() if k != "_id"}}


# --- summaries: deliveries that succeeded at the first try ---------------------------------------
#
# Most deliveries succeed at once. Each used to be an entry of its own (a document written per
# event and endpoint, with the event's body); now the shard writes one summary per merchant and
# batch of the log, listing them compactly. The api unfolds a summary's items into entries of the
# same shape (:func:`summary_entries`), so the log reads as before; the body is not kept (a resend
# rebuilds the event from the payment, :func:`event_body`), and an entry of its own, once a
# resend makes one, supersedes the item.
#
#     {_id: "wds_...", merchant_id, first_at, created_at (the newest item's at: the TTL index and
#      the newest-first order read it), items: [{event_id, endpoint_id, event_type, object_id,
#      at, status_code, latency_ms, response_excerpt}]}


def summary_doc(doc_id: str, merchant_id: str, entries: Sequence[LogEntry]) -> dict[str, Any]:
    items = []
    for entry in entries:
        a, event = entry.attempt, entry.event
        items.append(
            {
                "event_id": event["id"],
                "endpoint_id": entry.endpoint_id,
                "event_type": event["type"],
                "object_id": (event.get("data") or {}).get("id"),
                "at": a.at,
                "status_code": a.status_code,
                "latency_ms": a.latency_ms,
                "response_excerpt": a.excerpt,
            }
        )
    ats = [i["at"] for i in items]
    return {
        "_id": doc_id,
        "merchant_id": merchant_id,
        "first_at": min(ats),
        "created_at": max(ats),
        "items": items,
    }


def summary_query(
    merchant_id: str,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any] | None:
    """The summaries that may hold deliveries matching the filters (None: none can; every
    summarised delivery is ``delivered``)."""
    if status not in (None, "delivered"):
        return None
    query: dict[str, Any] = {"merchant_id": merchant_id, "items": {"$exists": True}}
    if endpoint_id:
        query["items.endpoint_id"] = endpoint_id
    if event_id:
        query["items.event_id"] = event_id
    if since is not None:
        query["created_at"] = {"$gte": since}
    if until is not None:
        query["first_at"] = {"$lt": until}
    return query


def summary_entries(
    doc: Mapping[str, Any],
    endpoint_id: str | None = None,
    event_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """A summary's deliveries matching the filters, each as the log's entry for it would be
    (without the body)."""
    found = []
    for item in doc.get("items", []):
        at = item["at"]
        if (endpoint_id and item["endpoint_id"] != endpoint_id) or (
            event_id and item["event_id"] != event_id
        ):
            continue
        if (since is not None and at < since) or (until is not None and at >= until):
            continue
        record = {k: item[k] for k in ("at", "status_code", "latency_ms", "response_excerpt")}
        found.append(
            {
                "_id": delivery_id(item["event_id"], item["endpoint_id"]),
                "merchant_id": doc["merchant_id"],
                "endpoint_id": item["endpoint_id"],
                "event_id": item["event_id"],
                "event_type": item["event_type"],
                "object_id": item.get("object_id"),
                "status": "delivered",
                "attempt_count": 1,
                "last_status_code": item["status_code"],
                "last_latency_ms": item["latency_ms"],
                "last_error": None,
                "attempts": [{**record, "error": None}],
                "created_at": at,
                "updated_at": at,
            }
        )
    return found


def first_n(entries: Iterable[Mapping[str, Any]], n: int, newest: bool) -> list[Mapping[str, Any]]:
    """The ``n`` newest (or oldest) entries, by ``created_at``."""
    return sorted(entries, key=lambda e: e["created_at"], reverse=newest)[:n]


def event_seq(event_id: str) -> tuple[str, int] | None:
    """The payment and history seq a payment event's id names (:func:`event_id`)."""
    if not event_id.startswith("evt_"):
        return None
    rest, _, seq = event_id.removeprefix("evt_").rpartition("_")
    return (f"pay_{rest}", int(seq)) if rest and seq.isdigit() else None


# --- payment events ------------------------------------------------------------------------------


def event_id(payment_id: str, seq: int) -> str:
    """Stable across retries and restarts, so receivers can deduplicate on ``webhook-id``."""
    return f"evt_{payment_id.removeprefix('pay_')}_{seq}"


def event_body(payment: Payment, entry: HistoryEntry) -> dict[str, Any]:
    """The event for one history entry: the payment as it was right after that entry."""
    data = view(payment, upto_seq=entry.seq)
    return {
        "id": event_id(payment.id, entry.seq),
        "type": f"{data['object']}.{data['status']}",
        "created_at": iso(entry.at),
        "data": data,
    }


def delivery_query(
    merchant_id: str,
    endpoint_id: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The log query for the filters a merchant may use (its own deliveries only)."""
    query: dict[str, Any] = {"merchant_id": merchant_id}
    if endpoint_id:
        query["endpoint_id"] = endpoint_id
    if event_id:
        query["event_id"] = event_id
    if status:
        query["status"] = status
    window: dict[str, datetime] = {}
    if since is not None:
        window["$gte"] = since
    if until is not None:
        window["$lt"] = until
    if window:
        query["created_at"] = window
    return query


def delivery_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A log entry as the api shows it (the stored event body is not shown: it is the event)."""
    return {
        "object": "webhook_delivery",
        "id": doc["_id"],
        "endpoint_id": doc["endpoint_id"],
        "event_id": doc["event_id"],
        "event_type": doc["event_type"],
        "status": doc["status"],
        "attempt_count": doc.get("attempt_count", 0),
        "last_status_code": doc.get("last_status_code"),
        "last_latency_ms": doc.get("last_latency_ms"),
        "last_error": doc.get("last_error"),
        "attempts": [{**a, "at": iso_z(a["at"])} for a in doc.get("attempts", [])],
        "created_at": iso_z(doc["created_at"]),
        "updated_at": iso_z(doc["updated_at"]),
    }


def endpoint_view(doc: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An endpoint as the api shows it: never its secrets, only when the overlap ends."""
    overlap = [s["expires_at"] for s in doc.get("secrets", []) if s.get("expires_at")]
    live = [e for e in overlap if e > now]
    return {
        "object": "webhook_endpoint",
        "id": doc["_id"],
        "url": doc["url"],
        "description": doc.get("description", ""),
        "events": list(doc.get("events", [ALL_EVENTS])),
        "enabled": bool(doc.get("enabled", True)),
        "disabled_reason": doc.get("disabled_reason"),
        "disabled_at": iso_z(doc["disabled_at"]) if doc.get("disabled_at") else None,
        "failing_since": iso_z(doc["failing_since"]) if doc.get("failing_since") else None,
        "previous_secret_expires_at": iso_z(max(live)) if live else None,
        "created_at": iso_z(doc["created_at"]),
        "updated_at": iso_z(doc["updated_at"]),
    }
