"""Network guards at delivery: the webhook URL check that resolves the host, and the transport
that re-checks every address it connects to. The address rules themselves are pure
(:mod:`switch.netguard`)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from connectors.http import HttpRequest, HttpResponse, NotSent
from connectors.transport import AiohttpTransport
from switch.netguard import UnsafeUrl, check_addresses, parse_ip, parse_url

Lookup = Callable[[str, int], Awaitable[list[str]]]


async def system_lookup(host: str, port: int) -> list[str]:
    """The host's addresses from the system resolver (getaddrinfo, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [str(info[4][0]) for info in infos]


async def check_webhook_url(
    url: str, *, allow_private: bool, lookup: Lookup = system_lookup, resolve_within: float = 5.0
) -> str:
    """The URL, unchanged, when the switch may deliver webhooks to it; UnsafeUrl otherwise. The
    host is resolved now; :class:`GuardedTransport` judges it again at every delivery."""
    target = parse_url(url)
    if allow_private:
        return url
    if parse_ip(target.host) is not None:
        check_addresses(target.host, [target.host])
        return url
    try:
        addresses = await asyncio.wait_for(lookup(target.host, target.port), resolve_within)
    except (OSError, TimeoutError, UnicodeError):
        raise UnsafeUrl(f"host {target.host} does not resolve") from None
    check_addresses(target.host, addresses)
    return url


# --- delivery -----------------------------------------------------------------------------------


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to any address we must not call. aiohttp
    connects to the addresses this returns, so the check and the connection agree."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = DefaultResolver()
        results = await self._inner.resolve(host, port, family)
        try:
            check_addresses(host, [r["host"] for r in results])
        except UnsafeUrl as exc:
            raise OSError(errno.EACCES, f"refused: {exc}") from None
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


class GuardedTransport(AiohttpTransport):
    """The webhook transport: every request's URL is checked, names go through
    :class:`GuardedResolver`, redirects are not followed. A refused request raises NotSent
    (nothing left the process), which the dispatcher records as a failed attempt and retries like
    any unreachable endpoint."""

    allow_redirects = False

    def __init__(self, allow_private: bool = False, limit: int = 256) -> None:
        super().__init__(limit)
        self.allow_private = allow_private

    def _connector(self) -> aiohttp.TCPConnector:
        resolver = None if self.allow_private else GuardedResolver()
        return aiohttp.TCPConnector(limit=self._limit, ttl_dns_cache=60, resolver=resolver)

    def _check(self, url: str) -> None:
        try:
            target = parse_url(url)
            # IP literals never reach a resolver, so they are judged here.
            if not self.allow_private and parse_ip(target.host) is not None:
                check_addresses(target.host, [target.host])
        except UnsafeUrl as exc:
            raise NotSent(f"refused: {exc}") from None

    async def send(self, request: HttpRequest) -> HttpResponse:
        self._check(request.url)
        return await super().send(request)
