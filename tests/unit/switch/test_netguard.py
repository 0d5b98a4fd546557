"""SSRF guard, callback allow-lists and the caller's address: pure rules, the resolver and the
webhook transport against a local server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from connectors.http import HttpRequest, NotSent
from infra.netguard import GuardedResolver, GuardedTransport, check_webhook_url
from switch.netguard import (
    SAFARICOM_CALLBACK_IPS,
    AllowList,
    UnsafeUrl,
    client_ip,
    display_url,
    parse_ip,
    parse_networks,
    parse_url,
    refusal_reason,
)

REFUSED = [
    "127.0.0.1",
    "127.9.9.9",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # AWS/GCP/Azure instance metadata
    "100.100.100.200",  # Alibaba metadata (shared address space)
    "168.63.129.16",  # Azure wire server: public, still refused
    "0.0.0.0",
    "255.255.255.255",
    "240.0.0.1",
    "224.0.0.1",
    "192.0.2.10",  # documentation range
    "::1",
    "fe80::1",
    "fd00:ec2::254",  # AWS IPv6 metadata
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "ff02::1",
]
ALLOWED = ["8.8.8.8", "196.201.214.200", "41.90.64.1", "2001:4860:4860::8888"]


@pytest.mark.parametrize("address", REFUSED)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    ip = parse_ip(address)
    assert ip is not None
    assert refusal_reason(ip) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    ip = parse_ip(address)
    assert ip is not None
    assert refusal_reason(ip) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/x", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("gopher://example.com:70/", "http or https"),
        ("https://user:pw@example.com/hook", "credentials"),
        ("https:///hook", "host"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "a" * 2100, "2048"),
        ("", "2048"),
    ],
)
def test_urls_that_are_not_http_targets_are_refused(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl, match=reason):
        parse_url(url)


def test_parse_url_fills_the_default_port() -> None:
    assert parse_url("https://Hooks.Example.com./x").port == 443
    assert parse_url("http://hooks.example.com/x").port == 80
    assert parse_url("https://[2001:db8::1]:8443/x").host == "2001:db8::1"


def _lookup(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    async def lookup(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "no such name")
        return answers[host]

    return lookup


async def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    lookup = _lookup({"hooks.evil.test": ["10.0.0.5"], "ok.test": ["41.90.64.1"]})
    with pytest.raises(UnsafeUrl, match=r"hooks\.evil\.test \(10\.0\.0\.5\) is a private"):
        await check_webhook_url("https://hooks.evil.test/x", allow_private=False, lookup=lookup)
    url = "https://ok.test/x?token=1"
    assert await check_webhook_url(url, allow_private=False, lookup=lookup) == url


async def test_one_bad_address_among_good_ones_is_enough_to_refuse() -> None:
    lookup = _lookup({"mixed.test": ["41.90.64.1", "127.0.0.1"]})
    with pytest.raises(UnsafeUrl, match="loopback"):
        await check_webhook_url("https://mixed.test/", allow_private=False, lookup=lookup)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        await check_webhook_url("https://nx.test/", allow_private=False, lookup=_lookup({}))


async def test_ip_literals_are_judged_without_dns() -> None:
    lookup = _lookup({})
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/",
        "http://10.0.0.1/",
    ):
        with pytest.raises(UnsafeUrl):
            await check_webhook_url(url, allow_private=False, lookup=lookup)
    assert await check_webhook_url("https://8.8.8.8/h", allow_private=False, lookup=lookup)


@pytest.mark.parametrize(
    "url", ["http://localhost:8080/", "http://2130706433/", "http://0x7f.1/", "http://127.1/"]
)
async def test_odd_spellings_of_loopback_are_refused_by_the_system_resolver(url: str) -> None:
    # No network needed: these resolve locally (hosts file, inet_aton forms).
    with pytest.raises(UnsafeUrl):
        await check_webhook_url(url, allow_private=False)


async def test_sandbox_allows_private_targets_but_not_other_schemes() -> None:
    lookup = _lookup({})
    url = "http://127.0.0.1:9000/hooks"
    assert await check_webhook_url(url, allow_private=True, lookup=lookup) == url
    with pytest.raises(UnsafeUrl):
        await check_webhook_url("file:///etc/passwd", allow_private=True, lookup=lookup)


def test_display_url_cuts_query_and_credentials() -> None:
    assert display_url("https://h.example/p?token=s3cret") == "https://h.example/p?..."
    assert display_url("https://h.example/p") == "https://h.example/p"
    assert display_url(None) is None


class _Rebinding(AbstractResolver):
    """A name server that answers a public address first, then the metadata address."""

    def __init__(self) -> None:
        self.answers = ["41.90.64.1", "169.254.169.254"]

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self.answers.pop(0)
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
        ]

    async def close(self) -> None:
        return None


async def test_the_resolver_judges_every_answer_so_rebinding_gains_nothing() -> None:
    resolver = GuardedResolver(_Rebinding())
    first = await resolver.resolve("hooks.test", 443)
    assert first[0]["host"] == "41.90.64.1"
    with pytest.raises(OSError, match="refused"):
        await resolver.resolve("hooks.test", 443)


@pytest.fixture
async def local_server() -> AsyncIterator[str]:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(status=204)

    async def bounce(_: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/bounce", bounce)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


def _post(url: str) -> HttpRequest:
    return HttpRequest("POST", url, {"content-type": "application/json"}, b"{}", 2.0)


async def test_the_transport_refuses_private_targets_at_delivery(local_server: str) -> None:
    transport = GuardedTransport(allow_private=False)
    port = local_server.rsplit(":", 1)[1]
    try:
        with pytest.raises(NotSent, match="refused"):
            await transport.send(_post(f"{local_server}/ok"))  # IP literal
        with pytest.raises(NotSent, match="refused"):
            await transport.send(_post(f"http://localhost:{port}/ok"))  # through the resolver
        with pytest.raises(NotSent, match="refused"):
            await transport.send(_post(f"ftp://localhost:{port}/ok"))
    finally:
        await transport.close()


async def test_the_sandbox_transport_delivers_and_never_follows_redirects(
    local_server: str,
) -> None:
    transport = GuardedTransport(allow_private=True)
    try:
        assert (await transport.send(_post(f"{local_server}/ok"))).status == 204
        bounced = await transport.send(_post(f"{local_server}/bounce"))
        assert bounced.status == 302  # a failed delivery, not a request to the metadata service
    finally:
        await transport.close()


def test_allow_list_matches_cidrs_and_mapped_addresses() -> None:
    allow = AllowList.parse("196.201.212.0/22, 10.0.0.7")
    assert allow.allows("196.201.214.200")
    assert allow.allows("::ffff:196.201.213.44")
    assert allow.allows("10.0.0.7")
    assert not allow.allows("10.0.0.8")
    assert not allow.allows("2001:db8::1")
    assert not allow.allows(None)
    assert not allow.allows("not-an-ip")
    assert AllowList.parse("").allows("1.2.3.4")  # empty: everyone
    assert all(AllowList.parse("196.201.212.0/22").allows(ip) for ip in SAFARICOM_CALLBACK_IPS)


def test_parse_networks_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match=r"'300\.1\.1\.1'"):
        parse_networks("10.0.0.0/8,300.1.1.1")
    assert len(parse_networks(["10.0.0.0/8", " ", "::1"])) == 2


def test_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    proxies = AllowList.parse("10.0.0.0/8")
    # No trusted proxy configured: the peer is the caller, whatever the header says.
    assert client_ip("10.0.0.2", "1.2.3.4", AllowList()) == "10.0.0.2"
    # Through our proxy: the last hop that is not a proxy; a forged left part is ignored.
    assert client_ip("10.0.0.2", "6.6.6.6, 41.90.64.1, 10.0.0.3", proxies) == "41.90.64.1"
    # Not through our proxy: the header is the caller's own claim.
    assert client_ip("41.90.64.9", "196.201.214.200", proxies) == "41.90.64.9"
    assert client_ip("10.0.0.2", "garbage", proxies) == "10.0.0.2"
    assert client_ip("10.0.0.2", None, proxies) == "10.0.0.2"
