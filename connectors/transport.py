"""The one HTTP transport. Connectors describe requests; this sends them.

``MockTransport`` replaces the network in tests, so connector logic runs on recorded payloads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

import aiohttp

from connectors.http import HttpRequest, HttpResponse, NotSent, OutcomeUnknown


class Transport(Protocol):
    async def send(self, request: HttpRequest) -> HttpResponse: ...

    async def close(self) -> None: ...


class AiohttpTransport:
    """Keeps one warm connection pool per process (per provider actor)."""

    allow_redirects = True  # subclasses that must not be led elsewhere turn it off

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _connector(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=300)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=self._connector())
        return self._session

    async def send(self, request: HttpRequest) -> HttpResponse:
        timeout = aiohttp.ClientTimeout(total=request.timeout)
        try:
            async with self._client().request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=timeout,
                allow_redirects=self.allow_redirects,
            ) as resp:
                body = await resp.read()
                return HttpResponse(resp.status, body, dict(resp.headers))
        except aiohttp.ClientConnectorError as exc:
            # The TCP connection never opened: not one byte of the request left us.
            raise NotSent(str(exc)) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise OutcomeUnknown(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class MockTransport:
    """Routes every request to a handler function; records what was sent."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.sent: list[HttpRequest] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.sent.append(request)
        await asyncio.sleep(0)
        return await self._handler(request)

    async def close(self) -> None:
        return None
