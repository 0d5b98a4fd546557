"""Network guards: which addresses the switch may call, and which may call it.

Server-side request forgery (OWASP API7:2023): a merchant chooses its webhook URL, and the switch
then POSTs to it from inside our network. A URL naming (or resolving to) a loopback, private,
link-local, multicast, reserved or cloud-metadata address would let a merchant reach our own
services, so such URLs are refused when set (:func:`infra.netguard.check_webhook_url`) and again
at every delivery (:class:`infra.netguard.GuardedTransport`): the name is resolved by a resolver
that refuses such addresses, and the connection goes to the address it checked, so a DNS answer
that changes between the check and the call (DNS rebinding) gains nothing. Redirects are not
followed: a 3xx is a failed delivery, never a second request to a place nobody checked. Sandbox
mode (``allow_private``) lifts the address rule, because the simulators and test receivers live
on 127.0.0.1; the scheme rule stays. This module holds the rules (pure); infra/netguard.py does
the resolving and connecting.

The other direction: provider callbacks may be restricted to a source-address allow-list per
provider (:class:`AllowList`), and :func:`client_ip` says who is calling when a trusted reverse
proxy sits in front of the api.

Exceptions::

    UnsafeUrl      a webhook URL we will not call (ValueError: bad input, not an outage)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL = 2048
SCHEMES = frozenset({"http", "https"})

# Public addresses that are still someone's control plane. Everything else we refuse is caught
# by "not globally routable" (169.254.169.254 is link-local, fd00:ec2::254 unique-local,
# Alibaba's 100.100.100.200 shared address space).
METADATA: tuple[Network, ...] = (
    ipaddress.ip_network("168.63.129.16/32"),  # Azure wire server
)
# IPv6 prefixes that carry an IPv4 address inside; the inner address is judged too.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeUrl(ValueError):
    """A webhook URL the switch will not call. The message is safe to show the merchant."""


# --- addresses (pure) ---------------------------------------------------------------------------


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(ip: Address) -> str | None:
    """Why the switch must not connect to ``ip``; None when it may. Pure."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            reason = refusal_reason(inner)
            return f"embeds {inner}, which {reason}" if reason else None
    if ip.is_loopback:
        return "is a loopback address"
    if ip.is_link_local:
        return "is a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "is a multicast address"
    if ip.is_unspecified or ip.is_reserved:
        return "is a reserved address"
    if any(ip in net for net in METADATA):
        return "is a cloud metadata address"
    if ip.is_private or not ip.is_global:
        return "is a private or non-public address"
    return None


def parse_ip(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


# --- URLs ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int


def parse_url(url: str) -> Target:
    """Scheme, host and port of a URL we might call, or UnsafeUrl. Pure: no DNS."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise UnsafeUrl(f"must be a URL of at most {MAX_URL} characters")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UnsafeUrl("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise UnsafeUrl("must be an http or https URL")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("must not carry credentials (user:password@)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("must name a host")
    return Target(scheme, host, port or (443 if scheme == "https" else 80))


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    """UnsafeUrl unless there is at least one address and every one is allowed: one bad answer
    among good ones is enough for an attacker who controls the name server. Pure."""
    seen = False
    for text in addresses:
        seen = True
        ip = parse_ip(text)
        if ip is None:
            raise UnsafeUrl(f"host {host} resolved to something that is not an address")
        reason = refusal_reason(ip)
        if reason is not None:
            shown = host if parse_ip(host) is not None else f"{host} ({ip})"
            raise UnsafeUrl(f"host {shown} {reason}")
    if not seen:
        raise UnsafeUrl(f"host {host} does not resolve")


def display_url(url: str | None) -> str | None:
    """A webhook URL for logs and the audit trail: scheme, host and path; a query string (where
    receivers often put a token) is cut."""
    if url is None:
        return None
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
    return shown + ("?..." if parts.query else "")


# --- who is calling -----------------------------------------------------------------------------


def parse_networks(text: str | Sequence[str] | None) -> tuple[Network, ...]:
    """CIDR blocks from a comma-separated setting (or a list); a bare address is a /32 or /128.
    ValueError names the entry that is not one."""
    items = text.split(",") if isinstance(text, str) else list(text or ())
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR block") from None
    return tuple(out)


@dataclass(frozen=True, slots=True)
class AllowList:
    """Source addresses allowed to call; an empty list allows everyone (the default)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str | Sequence[str] | None) -> AllowList:
        return cls(parse_networks(text))

    def allows(self, address: str | None) -> bool:
        if not self.networks:
            return True
        ip = parse_ip(address or "")
        if ip is None:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: AllowList) -> str | None:
    """The caller's address. Only when the connection comes from a trusted proxy is
    ``X-Forwarded-For`` believed, read from the right: the last hop that is not one of our
    proxies is the caller (anything left of it may be forged by the caller). Pure."""
    if peer is None or not trusted.networks or not trusted.allows(peer):
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    for hop in reversed(hops):
        if parse_ip(hop) is None:
            return peer  # a malformed chain: trust nothing in it
        if not trusted.allows(hop):
            return hop
    return hops[0] if hops else peer


# Safaricom's callback source addresses as open-source Daraja SDKs allow-list them (see e.g.
# github.com/safaricom/mpesa-php-sdk forks): *unverified*, not found on Daraja's official pages, and
# all within 196.201.212.0/22. A documented example for SWITCH_CALLBACK_ALLOWLIST_MPESA, not a
# default: a wrong allow-list silently drops payments.
SAFARICOM_CALLBACK_IPS: tuple[str, ...] = (
    "196.201.214.200",
    "196.201.214.206",
    "196.201.213.114",
    "196.201.214.207",
    "196.201.214.208",
    "196.201.213.44",
    "196.201.212.127",
    "196.201.212.128",
    "196.201.212.129",
    "196.201.212.132",
    "196.201.212.136",
    "196.201.212.138",
    "196.201.212.69",
    "196.201.212.74",
)
