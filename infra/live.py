"""Live payment events between processes, over Redis pub/sub.

Shards publish each status change after it is persisted, on the channel of its merchant; every
api process keeps one subscriber connection and fans messages out to the streams its clients
follow. Live events are a convenience on top of the durable channel (webhooks, and the payment
itself): a message published while Redis is down is dropped, and a stream that loses its
subscription re-reads the payment when it comes back, so a client still sees the final state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "switch:events:"
# Where ``serve`` and ``demo`` look for Redis when REDIS_URL is unset: the machines this runs on
# have one there, and a user who starts the sandbox expects /v1/events to work without config.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


async def redis_answers(url: str, wait_s: float = 0.5) -> bool:
    """True if a Redis at ``url`` answers PING within ``wait_s`` seconds."""
    client = aioredis.from_url(url, socket_timeout=wait_s, socket_connect_timeout=wait_s)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def resolve_redis_url(
    configured: str | None, answers: Callable[[str], Awaitable[bool]] = redis_answers
) -> str | None:
    """REDIS_URL if set (used as given: a configured Redis that is down is an outage to see, not
    to route around); otherwise the default local Redis if it answers, else None (everything
    Redis carries falls back to in-process, with a log line saying so)."""
    if configured:
        return configured
    if await answers(DEFAULT_REDIS_URL):
        log.info("REDIS_URL unset: using the local Redis at %s", DEFAULT_REDIS_URL)
        return DEFAULT_REDIS_URL
    log.warning(
        "REDIS_URL unset and no Redis answers at %s: live events, rate limits and client "
        "revocation are per process; GET /v1/events answers 501",
        DEFAULT_REDIS_URL,
    )
    return None


def channel(merchant_id: str) -> str:
    return PREFIX + merchant_id


class Publisher:
    """Used by the shards. Never raises: live events must not slow or break a payment."""

    def __init__(self, url: str) -> None:
        # Bounded and blocking, like the limiter's: a burst of commits waits for a connection
        # instead of meeting redis-py's "Too many connections" (and losing the events).
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=32, timeout=2.0, socket_timeout=2, socket_connect_timeout=2
        )
        self._redis = aioredis.Redis.from_pool(pool)

    async def publish(self, events: Iterable[tuple[str, bytes]]) -> int:
        pipe = self._redis.pipeline(transaction=False)
        count = 0
        for merchant_id, body in events:
            pipe.publish(channel(merchant_id), body)
            count += 1
        if not count:
            return 0
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("live events not published (%d): %s", count, exc)
            return 0
        return count

    async def close(self) -> None:
        await self._redis.aclose()


class Hub:
    """One subscriber connection per api process; each follower gets a queue. After a lost
    connection it resubscribes, and puts ``None`` in every queue to say "you may have missed
    something: read the current state"."""

    def __init__(self, url: str, retry_delay: float = 0.5) -> None:
        self._redis = aioredis.from_url(url, socket_connect_timeout=2)
        self._queues: dict[str, set[asyncio.Queue[bytes | None]]] = defaultdict(set)
        self._active: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._retry_delay = retry_delay
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._redis.aclose()

    def follow(self, merchant_id: str) -> asyncio.Queue[bytes | None]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1000)
        self._queues[channel(merchant_id)].add(queue)
        self._changed.set()
        return queue

    async def subscribed(self, merchant_id: str, within: float = 2.0) -> bool:
        """Wait until the merchant's channel is subscribed; events from then on will arrive."""
        try:
            await asyncio.wait_for(self._active[channel(merchant_id)].wait(), within)
        except TimeoutError:
            return False
        return True

    def unfollow(self, merchant_id: str, queue: asyncio.Queue[bytes | None]) -> None:
        followers = self._queues.get(channel(merchant_id))
        if followers is not None:
            followers.discard(queue)
            if not followers:
                del self._queues[channel(merchant_id)]
                self._changed.set()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as exc:
                self.connected.clear()
                for active in self._active.values():
                    active.clear()
                log.warning("live event subscriber lost Redis (%s); reconnecting", exc)
                self._broadcast(None)
                await asyncio.sleep(self._retry_delay)

    async def _listen(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(PREFIX + "_")  # a connection even with no follower
            subscribed: set[str] = set()
            self._changed.set()  # (re)subscribe every followed channel on this connection
            self.connected.set()
            while True:
                subscribed = await self._sync(pubsub, subscribed)
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
                if message and message["type"] == "message":
                    self._deliver(message["channel"].decode(), message["data"])

    async def _sync(self, pubsub: aioredis.client.PubSub, subscribed: set[str]) -> set[str]:
        if not self._changed.is_set():
            return subscribed
        self._changed.clear()
        wanted = set(self._queues)
        if wanted - subscribed:
            await pubsub.subscribe(*(wanted - subscribed))
        if subscribed - wanted:
            await pubsub.unsubscribe(*(subscribed - wanted))
        for name in subscribed - wanted:
            self._active.pop(name, None)
        for name in wanted:
            self._active[name].set()
        return wanted

    def _deliver(self, name: str, data: bytes) -> None:
        for queue in list(self._queues.get(name, ())):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(data)

    def _broadcast(self, item: bytes | None) -> None:
        for followers in self._queues.values():
            for queue in followers:
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(item)
