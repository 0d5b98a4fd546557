"""The shard's answers that are refusals, in the API's error shape (pure)."""

from __future__ import annotations

from switch.messages import Reply
from switch.money import format_minor
from switch.rails import display_name, provider_of, recovered_by


def error_reply(status: int, code: str, message: str, field: str | None = None) -> Reply:
    details = [{"field": field, "reason": message}] if field else []
    return Reply(status, {"error": {"code": code, "message": message, "details": details}})


def overloaded() -> Reply:
    """Refusing at once beats queueing without bound: latency stays flat under overload and the
    client knows to come back (with the same key: nothing was stored)."""
    reply = error_reply(
        503, "overloaded", "the shard is at capacity; nothing was stored. Retry with the same key."
    )
    return Reply(reply.status, reply.body, retry_after=1.0)


def circuit_open(wait: float, provider: str = "") -> Reply:
    """``provider``: whose circuit is open (named by its display name); by default the STK Push
    rail's, the provider the first callers guarded."""
    name = display_name(provider or provider_of(recovered_by("stk_query")))
    reply = error_reply(
        503,
        "provider_unavailable",
        f"{name} is failing and its circuit is open; nothing was stored or sent. Retry in "
        f"{wait:.0f} s with the same Idempotency-Key.",
    )
    return Reply(reply.status, reply.body, retry_after=wait)


def conflict() -> Reply:
    return error_reply(
        409,
        "idempotency_key_reused",
        "this Idempotency-Key was already used with a different request body",
    )


def insufficient_balance(needed: int, available: int) -> Reply:
    reply = error_reply(
        422,
        "insufficient_balance",
        f"this needs {format_minor(needed)} (fee included) and "
        f"{format_minor(max(available, 0))} is available; nothing was sent",
    )
    reply.body["error"]["details"] = [
        {"field": "amount", "reason": "more than the available balance, fee included"}
    ]
    return reply
