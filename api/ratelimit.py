"""Rate limits on the api (OWASP API4:2023), on top of :mod:`infra.ratelimit` (GCRA in
Redis when REDIS_URL is set, in this process otherwise).

- After authentication, every request is charged to its token's subject (the API client, or the
  person for a session) and to its merchant, at the route's cost (ENDPOINT_COSTS). Both budgets
  must allow it; the answer carries both policies in ``RateLimit``/``RateLimit-Policy``, and a
  refusal is a 429 with ``Retry-After`` in the usual error body.
- Before authentication, ``POST /v1/oauth/token`` and ``POST /v1/auth/login`` are charged to the
  caller's address (behind a trusted proxy, the address it reports), so guessing secrets costs
  time even across accounts. The per-account lock-out is :mod:`switch.users`' job. Sign-up
  (``POST /v1/users``) has a budget of its own per address, far smaller: each one costs a scrypt
  hash and may create a merchant.
- Payment prompts: :func:`check_prompt_limit`, called by ``POST /v1/payments`` once the body is
  valid, allows a few STK/USSD prompts per customer phone per minute. The phone is keyed by a
  blind index (no number in Redis), and a retry carrying an Idempotency-Key already counted is
  not charged again, so idempotent replays still answer as replays.

Checks run one after the other, so a request refused by its merchant's budget has still spent
its client's units: a refusal is rare and the error is on the cautious side.

Cost: a Redis script call costs the api process ~50-100 us of CPU, so charging every request
twice would cost a busy process a large share of its CPU. :class:`Leases` takes units in small
leases instead (1% of the burst, so one Redis call per ~40 requests of a busy client under the
defaults) and spends them here; small budgets (burst under 200: sign-in, prompts, tight client
limits) lease one unit at a time and stay exact. A lease is charged in full when taken, so it can
only under-admit, by at most one lease per process and key, and unspent units lapse after a
second.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from api.auth import CLAIMS
from api.errors import Handler, error_response
from api.state import AppState
from infra.ratelimit import (
    ENDPOINT_COSTS,
    Decision,
    InProcessLimiter,
    RateLimit,
    RedisLimiter,
    cost_of,
    headers,
)
from infra.redis_batch import TurnPipeline
from switch.config import Settings
from switch.netguard import AllowList, client_ip
from switch.phone import normalise_msisdn
from switch.security.crypto import blind_index, derive_key

log = logging.getLogger(__name__)

Limiter = InProcessLimiter | RedisLimiter
LEASE_SHARE = 100  # a lease is 1/100 of the burst
LEASE_TTL = 1.0  # seconds an unspent lease stays usable

# Routes limited before any token exists, per caller address (cost 1 each: the point is to
# bound guessing, and one address may hold many merchants' integrations behind NAT).
PREAUTH_ROUTES = frozenset({("POST", "/v1/oauth/token"), ("POST", "/v1/auth/login")})
SIGNUP_ROUTE = ("POST", "/v1/users")
SEEN_TTL = 120.0  # seconds a counted prompt's Idempotency-Key is remembered


@dataclass(frozen=True, slots=True)
class Policies:
    client: RateLimit
    merchant: RateLimit
    preauth: RateLimit
    prompts: RateLimit
    signup: RateLimit
    costs: Mapping[str, int] = field(default_factory=lambda: ENDPOINT_COSTS)


def policies_from(settings: Settings) -> Policies:
    """The limits the settings ask for. Pure."""
    return Policies(
        client=RateLimit(settings.rate_client_per_s, settings.rate_client_burst, "client"),
        merchant=RateLimit(settings.rate_merchant_per_s, settings.rate_merchant_burst, "merchant"),
        preauth=RateLimit(settings.rate_preauth_per_s, settings.rate_preauth_burst, "preauth"),
        prompts=RateLimit(
            settings.rate_prompts_per_minute / 60, settings.rate_prompts_burst, "stk-phone"
        ),
        signup=RateLimit(
            settings.rate_signup_per_hour / 3600, settings.rate_signup_burst, "signup"
        ),
    )


Check = tuple[str, RateLimit, int]  # (key, policy, cost)


def checks_for(
    method: str, route: str, subject: str | None, merchant: str | None, ip: str | None, p: Policies
) -> list[Check]:
    """What one request is charged: nothing for public routes other than the sign-in ones. A
    cost above a policy's burst is capped at the burst, so a costly route stays possible. Pure."""
    if subject is not None and merchant is not None:
        cost = cost_of(method, route, p.costs)
        return [
            (f"sub:{subject}", p.client, min(cost, p.client.burst)),
            (f"mch:{merchant}", p.merchant, min(cost, p.merchant.burst)),
        ]
    if (method, route) in PREAUTH_ROUTES:
        return [(f"ip:{ip or 'unknown'}", p.preauth, 1)]
    if (method, route) == SIGNUP_ROUTE:
        return [(f"signup:{ip or 'unknown'}", p.signup, 1)]
    return []


def combined_headers(results: list[tuple[Decision, RateLimit]]) -> dict[str, str]:
    """One header set for several policies: ``RateLimit`` and ``RateLimit-Policy`` list every
    policy (draft-ietf-httpapi-ratelimit-headers: both are lists); ``Retry-After`` is the longest
    wait among the refusals. Pure."""
    out: dict[str, list[str]] = {}
    for decision, limit in results:
        for name, value in headers(decision, limit).items():
            out.setdefault(name, []).append(value)
    joined = {name: ", ".join(values) for name, values in out.items() if name != "Retry-After"}
    if "Retry-After" in out:
        joined["Retry-After"] = str(max(int(v) for v in out["Retry-After"]))
    return joined


def refusal(results: list[tuple[Decision, RateLimit]], what: str) -> web.Response | None:
    """The 429 for a refused check among ``results``; None when all allowed. Pure."""
    refused = [limit.name for decision, limit in results if not decision.allowed]
    if not refused:
        return None
    hdrs = combined_headers(results)
    return error_response(
        429,
        "rate_limited",
        f"too many {what}; retry after {hdrs['Retry-After']} s",
        [{"field": "policy", "reason": f"{name} limit reached"} for name in refused],
        headers=hdrs,
    )


# --- leases -----------------------------------------------------------------------------------


class Leases:
    """Charges a limiter in leases of ``burst // LEASE_SHARE`` units and spends them locally.
    Decisions keep the limiter's meaning: ``remaining`` counts the unspent lease as remaining."""

    def __init__(self, limiter: Limiter, clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = limiter
        self._clock = clock
        self._held: dict[str, tuple[int, float, Decision]] = {}  # key -> (units, until, last)

    async def check(self, key: str, limit: RateLimit, cost: int) -> Decision:
        lease = limit.burst // LEASE_SHARE
        if lease <= cost:
            return await self.limiter.check(key, limit, cost)  # small budgets: exact
        now = self._clock()
        units, until, last = self._held.get(key, (0, 0.0, _NONE))
        if units >= cost and now < until:
            self._held[key] = (units - cost, until, last)
            return Decision(True, last.remaining + units - cost, 0.0, last.reset_after)
        decision = await self.limiter.check(key, limit, lease)
        if not decision.allowed:
            self._held.pop(key, None)
            return await self.limiter.check(key, limit, cost)  # one request may still fit
        if len(self._held) > 50_000:
            self._held = {k: v for k, v in self._held.items() if v[1] > now}
        self._held[key] = (lease - cost, now + LEASE_TTL, decision)
        return Decision(True, decision.remaining + lease - cost, 0.0, decision.reset_after)


_NONE = Decision(True, 0, 0.0, 0.0)


# --- remembering counted prompts ----------------------------------------------------------------


class SeenKeys:
    """Idempotency keys whose prompt was already counted, for ``ttl`` seconds: in Redis (``SET
    NX``) when there is one, in this process otherwise or while Redis fails."""

    def __init__(self, redis: aioredis.Redis | None, prefix: str = "switch:rl:seen:") -> None:
        self._redis = redis
        # The claims of one turn of the loop go in one round trip (infra/redis_batch.py).
        self._turn = TurnPipeline(redis) if redis is not None else None
        self._prefix = prefix
        self._local: dict[str, float] = {}

    async def claim(self, key: str, ttl: float) -> bool:
        """True when ``key`` was not seen (and is now); False for a repeat."""
        if self._turn is not None:
            try:
                ttl_ms = int(ttl * 1000)
                done = await self._turn.call("set", self._prefix + key, b"1", nx=True, px=ttl_ms)
                return bool(done)
            except (RedisError, OSError) as exc:
                log.debug("prompt key memory falls back to this process: %s", exc)
        return self._claim_local(key, ttl)

    def _claim_local(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        if len(self._local) > 100_000:
            self._local = {k: t for k, t in self._local.items() if t > now}
        if self._local.get(key, 0.0) > now:
            return False
        self._local[key] = now + ttl
        return True

    async def release(self, key: str) -> None:
        """Forget a key whose prompt was refused after all, so its retry is charged."""
        self._local.pop(key, None)
        if self._redis is not None:
            try:
                await self._redis.delete(self._prefix + key)
            except (RedisError, OSError) as exc:
                log.debug("could not forget a prompt key: %s", exc)


# --- the per-app runtime ------------------------------------------------------------------------


@dataclass
class RateRuntime:
    enabled: bool
    policies: Policies
    limiter: Limiter
    seen: SeenKeys
    phone_key: bytes
    proxies: AllowList
    redis: aioredis.Redis | None = None

    leases: Leases | None = None

    def __post_init__(self) -> None:
        if self.leases is None:
            self.leases = Leases(self.limiter)

    async def charge(self, checks: list[Check]) -> list[tuple[Decision, RateLimit]]:
        assert self.leases is not None
        results = []
        for key, limit, cost in checks:
            decision = await self.leases.check(key, limit, cost)
            results.append((decision, limit))
            if not decision.allowed:
                break
        return results

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


RATE = web.AppKey("rate_limits", RateRuntime)
_HEADERS = web.RequestKey("rate_limit_headers", dict)


def _redis(settings: Settings) -> aioredis.Redis:
    # Short timeouts: on trouble the limiter fails open to this process rather than wait. A
    # bounded, blocking pool: a burst of requests waits for one of 64 connections instead of
    # opening hundreds (redis-py refuses past 100 and the limiter would fall back).
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url or "",
        max_connections=64,
        timeout=1.0,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
    )
    return aioredis.Redis.from_pool(pool)


def runtime_for(state: AppState) -> RateRuntime:
    """The limiter the state holds (made here when it holds none: Redis when configured)."""
    settings = state.settings
    redis = _redis(settings) if settings.redis_url else None
    if state.limiter is None:
        state.limiter = RedisLimiter(redis) if redis is not None else InProcessLimiter()
    return RateRuntime(
        enabled=settings.rate_limits,
        policies=policies_from(settings),
        limiter=state.limiter,
        seen=SeenKeys(redis),
        phone_key=derive_key(state.secret_key, "switch/ratelimit/phone"),
        proxies=AllowList.parse(settings.trusted_proxies),
        redis=redis,
    )


def install(app: web.Application, state: AppState) -> None:
    """Called by ``create_app``: the runtime, its clean-up and the header hook."""
    runtime = runtime_for(state)
    app[RATE] = runtime

    async def _close(_: web.Application) -> None:
        await runtime.close()

    app.on_cleanup.append(_close)
    app.on_response_prepare.append(_add_headers)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    # A prepare hook, so streamed answers (live events) carry the headers too.
    for name, value in request.get(_HEADERS, {}).items():
        response.headers.setdefault(name, value)


def caller_ip(request: web.Request, proxies: AllowList) -> str | None:
    return client_ip(request.remote, request.headers.get("X-Forwarded-For"), proxies)


@web.middleware
async def ratelimit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    runtime = request.app.get(RATE)
    resource = request.match_info.route.resource
    if runtime is None or not runtime.enabled or resource is None:
        return await handler(request)
    claims = request.get(CLAIMS)
    checks = checks_for(
        request.method,
        resource.canonical,
        claims.client_id if claims else None,
        claims.merchant_id if claims else None,
        caller_ip(request, runtime.proxies) if claims is None else None,
        runtime.policies,
    )
    if not checks:
        return await handler(request)
    results = await runtime.charge(checks)
    refused = refusal(results, "requests")
    if refused is not None:
        return refused
    request[_HEADERS] = combined_headers(results)
    return await handler(request)


async def check_prompt_limit(request: web.Request, phone: str) -> web.Response | None:
    """For ``POST /v1/payments`` with a valid body: None when this phone may get another prompt,
    else the 429 to answer. A request whose Idempotency-Key was already counted passes (it is a
    retry: the shard replays the first answer, no new prompt)."""
    runtime = request.app.get(RATE)
    if runtime is None or not runtime.enabled:
        return None
    try:
        msisdn = normalise_msisdn(phone)
    except ValueError:
        msisdn = phone
    claims = request.get(CLAIMS)
    idem = request.headers.get("Idempotency-Key", "")
    seen = ""
    if idem:
        merchant = claims.merchant_id if claims else "-"
        seen = hashlib.sha256(f"{merchant}\x00{idem}".encode()).hexdigest()[:40]
        if not await runtime.seen.claim(seen, SEEN_TTL):
            return None
    limit = runtime.policies.prompts
    decision = await runtime.limiter.check(
        "phone:" + blind_index(msisdn, runtime.phone_key), limit, 1
    )
    if decision.allowed:
        return None
    if seen:
        await runtime.seen.release(seen)
    return refusal([(decision, limit)], "payment prompts to this phone number")
