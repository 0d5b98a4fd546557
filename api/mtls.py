"""The certificate a client presented on this request's TLS connection (RFC 8705 mutual TLS;
the rules are :mod:`switch.mtls`). Only a connection the api itself terminated counts: a
certificate named in a header by a proxy is not read (terminate TLS at the api for mutual TLS)."""

from __future__ import annotations

import ssl

from aiohttp import web

from switch.mtls import thumbprint


def peer_thumbprint(request: web.Request) -> str | None:
    """``x5t#S256`` of the verified client certificate of this connection; None without one."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return thumbprint(der) if der else None
