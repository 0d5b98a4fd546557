"""API clients of a merchant (create, list, rotate, revoke) and token generations, the check that
makes a rotated or revoked client's self-contained tokens stop at once.

Each token subject (a
client id, or a user id for session tokens) has a generation, kept in the ``token_generations``
collection (absent means 0). Tokens carry the generation they were minted under; rotating or
revoking a client, or changing a password, raises it. Every api process holds
:class:`switch.clients.Generations` in memory and refuses a token whose generation is below the one
it knows, so the check costs no database read per request. The api processes learn of a raise three
ways (:class:`GenerationFeed`): the process making the change applies it at once; it publishes
``{subject, gen}`` on the Redis channel ``switch:tokens:generations``, which every process follows
(milliseconds); and every process re-reads the whole (small) collection after each (re)subscription
and every :data:`REFRESH_WITH_REDIS` seconds, or every :data:`REFRESH_WITHOUT_REDIS` seconds when
no Redis is configured. That last one bounds how long another process may accept a revoked token
when a message is lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import orjson
import redis.asyncio as aioredis
from pymongo import ReturnDocument
from redis.exceptions import RedisError

from infra.storage.mongo import Collections
from switch.clients import Doc, Generations, new_secret
from switch.ids import new_id
from switch.payments import now_utc
from switch.signing import hash_client_secret

log = logging.getLogger(__name__)


async def current_generation(cols: Collections, subject: str) -> int:
    doc = await cols.token_generations.find_one({"_id": subject})
    return int(doc["gen"]) if doc else 0


async def bump_generation(cols: Collections, subject: str) -> int:
    """Raise the subject's generation; every token minted before stops being accepted."""
    doc = await cols.token_generations.find_one_and_update(
        {"_id": subject},
        {"$inc": {"gen": 1}, "$set": {"at": now_utc()}},
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert doc is not None
    return int(doc["gen"])


async def load_generations(cols: Collections) -> dict[str, int]:
    return {d["_id"]: int(d["gen"]) async for d in cols.token_generations.find({})}


CHANNEL = "switch:tokens:generations"
REFRESH_WITH_REDIS = 30.0
REFRESH_WITHOUT_REDIS = 2.0


class GenerationFeed:
    """Keeps one process's :class:`Generations` current (publish, subscribe, periodic reload)."""

    def __init__(
        self,
        generations: Generations,
        cols: Collections,
        redis_url: str | None,
        refresh: float | None = None,
    ) -> None:
        self.generations = generations
        self._cols = cols
        self._url = redis_url
        self._refresh = refresh or (REFRESH_WITH_REDIS if redis_url else REFRESH_WITHOUT_REDIS)
        self._redis: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        await self.reload()
        self._tasks.append(asyncio.create_task(self._reload_forever()))
        if self._url:
            self._redis = aioredis.from_url(self._url, socket_connect_timeout=2, socket_timeout=2)
            self._tasks.append(asyncio.create_task(self._listen_forever()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._redis is not None:
            await self._redis.aclose()

    async def reload(self) -> None:
        self.generations.merge(await load_generations(self._cols))

    async def announce(self, subject: str, gen: int) -> None:
        """Apply here at once, then tell the other processes (best effort: see the reload)."""
        self.generations.raise_to(subject, gen)
        if self._redis is None:
            return
        try:
            await self._redis.publish(CHANNEL, orjson.dumps({"s": subject, "g": gen}))
        except (RedisError, OSError) as exc:
            log.warning("token generation not published (others reload it): %s", exc)

    def _apply(self, data: bytes) -> None:
        try:
            message = orjson.loads(data)
            self.generations.raise_to(str(message["s"]), int(message["g"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a malformed token generation message")

    async def _reload_forever(self) -> None:
        while True:
            await asyncio.sleep(self._refresh)
            try:
                await self.reload()
            except Exception as exc:  # the database may be briefly away; keep what we know
                log.warning("token generations not reloaded: %s", exc)

    async def _listen_forever(self) -> None:
        assert self._redis is not None
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    await self.reload()  # whatever was announced while we were not listening
                    self.subscribed.set()
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message and message["type"] == "message":
                            self._apply(message["data"])
            except (RedisError, OSError) as exc:
                self.subscribed.clear()
                log.warning("token generation feed lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(0.5)
            except Exception as exc:
                self.subscribed.clear()
                log.warning("token generation feed: %s; resubscribing", exc)
                await asyncio.sleep(0.5)


async def create_client(
    cols: Collections, merchant_id: str, name: str, scopes: Iterable[str], created_by: str
) -> tuple[Doc, str]:
    """The stored client and its secret (returned once, stored only as a hash)."""
    ordered = sorted(set(scopes))
    secret = new_secret()
    doc = {
        "_id": new_id("cli"),
        "merchant_id": merchant_id,
        "name": name,
        "secret_hash": hash_client_secret(secret),
        "scope": " ".join(ordered),
        "scopes": ordered,  # present only on clients with explicit scopes (see roles)
        "status": "active",
        "created_by": created_by,
        "created_at": now_utc(),
    }
    await cols.clients.insert_one(doc)
    return doc, secret


async def list_clients(cols: Collections, merchant_id: str) -> list[Doc]:
    docs = [d async for d in cols.clients.find({"merchant_id": merchant_id})]
    return sorted(docs, key=lambda d: (d.get("created_at") is None, d.get("created_at"), d["_id"]))


async def find_active_client(cols: Collections, merchant_id: str, client_id: str) -> Doc | None:
    return await cols.clients.find_one(
        {"_id": client_id, "merchant_id": merchant_id, "status": "active"}
    )


async def rotate_client(cols: Collections, current: Doc, rotated_by: str) -> tuple[Doc, str]:
    """A new secret for the active client ``current`` (as read for the caller's checks); the old
    one and every token minted with it stop at once. Raises LookupError when the client was
    revoked, or its scope changed, since it was read."""
    secret = new_secret()
    doc = await cols.clients.find_one_and_update(
        {
            "_id": current["_id"],
            "merchant_id": current["merchant_id"],
            "status": "active",
            "scope": current.get("scope"),
        },
        {
            "$set": {
                "secret_hash": hash_client_secret(secret),
                "rotated_at": now_utc(),
                "rotated_by": rotated_by,
            }
        },
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        raise LookupError(current["_id"])
    return doc, secret


async def revoke_client(cols: Collections, merchant_id: str, client_id: str) -> Doc:
    """Mark revoked (kept for the record). Raises LookupError when the merchant has no such
    active client."""
    doc = await cols.clients.find_one_and_update(
        {"_id": client_id, "merchant_id": merchant_id, "status": "active"},
        {"$set": {"status": "revoked", "revoked_at": now_utc()}},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        raise LookupError(client_id)
    return doc
