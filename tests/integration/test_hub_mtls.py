"""Mutual TLS for hub participants (RFC 8705 certificate-bound tokens), through the public API on
a TLS listener of the session's switch that asks clients for a certificate: a participant bound
to its certificate gets a token only over a connection that presented it, the token is refused
on any other connection (plain HTTP, no certificate, another certificate of the same CA), and
rebinding voids every token issued before. A participant not bound works as before."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api.state import STATE
from app.stack import Stack
from infra.tls import context_for, server_context
from switch.errors import ConfigError

from .helpers import basic_auth
from .test_hub import Hub, Notices, listening, operator_hub

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(
    cn: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, ca: bool = False
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer or (_name(cn), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (path.with_suffix(".crt")).write_bytes(pem)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (path.with_suffix(".key")).write_bytes(key_pem)
    return str(path.with_suffix(".crt")), str(path.with_suffix(".key"))


class Pki:
    def __init__(self, folder: Path) -> None:
        ca, ca_key = _cert("Test hub CA", None, ca=True)
        self.ca_file, _ = _write(folder / "ca", ca, ca_key)
        issuer = (ca.subject, ca_key)
        self.server = _write(folder / "server", *_cert("127.0.0.1", issuer))
        self.bank = _write(folder / "bank", *_cert("Bank 70 hub client", issuer))
        self.other = _write(folder / "other", *_cert("Someone else", issuer))

    def pem(self, which: tuple[str, str]) -> str:
        return Path(which[0]).read_text()

    def client(self, cert: tuple[str, str] | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if cert is not None:
            context.load_cert_chain(*cert)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
async def tls_url(stack: Stack, pki: Pki) -> AsyncIterator[str]:
    """The session's api, also on a TLS listener that asks for client certificates."""
    [runner] = [r for r in stack.runners if STATE in r.app]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    site = web.SockSite(runner, sock, ssl_context=server_context(*pki.server, pki.ca_file))
    await site.start()
    yield f"https://127.0.0.1:{sock.getsockname()[1]}"
    await site.stop()


@pytest.fixture(scope="module")
async def notices() -> AsyncIterator[Notices]:
    async with listening(Notices()) as rec:
        yield rec


async def _token(url: str, ctx: ssl.SSLContext | None, made: dict[str, Any]) -> tuple[int, Any]:
    auth = basic_auth(made["client_id"], made["client_secret"])
    form = {"grant_type": "client_credentials"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/v1/oauth/token", data=form, headers=auth, ssl=ctx or True) as r,
    ):
        return r.status, await r.json()


async def _get(url: str, ctx: ssl.SSLContext | None, token: str, path: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}{path}", headers=headers, ssl=ctx or True) as r,
    ):
        return r.status, await r.json()


def _iter_contexts(pki: Pki) -> Iterator[tuple[str, ssl.SSLContext]]:
    yield "no certificate", pki.client(None)
    yield "another certificate", pki.client(pki.other)


async def test_a_bound_participant_is_served_only_over_mutual_tls_with_its_certificate(
    stack: Stack, http: aiohttp.ClientSession, notices: Notices, pki: Pki, tls_url: str
) -> None:
    hub: Hub = await operator_hub(stack, http, notices)
    body = {
        "name": "Bank mTLS",
        "kind": "bank",
        "endpoint_url": f"{notices.url}/mtls",
        "net_debit_cap": "0",
        "client_certificate": "-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----",
    }
    status, refused = await hub.call("POST", "/v1/operator/hub/participants", hub.operator, body)
    assert status == 422 and refused["error"]["details"][0]["field"] == "client_certificate"

    body["client_certificate"] = pki.pem(pki.bank)
    status, made = await hub.call("POST", "/v1/operator/hub/participants", hub.operator, body)
    assert status == 201, made
    assert made["client_certificate"]["subject"] == "CN=Bank 70 hub client"
    mine = "/v1/hub/participant"

    # A token: over plain HTTP, or TLS without the certificate or with another one, refused.
    status, answer = await _token(stack.api_url, None, made)
    assert (status, answer["error"]) == (401, "invalid_client")
    for what, ctx in _iter_contexts(pki):
        status, answer = await _token(tls_url, ctx, made)
        assert (status, answer["error"]) == (401, "invalid_client"), what
    bound = pki.client(pki.bank)
    status, answer = await _token(tls_url, bound, made)
    assert status == 200, answer
    token = answer["access_token"]

    # The token works only where the certificate is presented.
    status, position = await _get(tls_url, bound, token, mine)
    assert status == 200, position
    status, answer = await _get(stack.api_url, None, token, mine)
    assert (status, answer["error"]["code"]) == (401, "unauthorized")
    for what, ctx in _iter_contexts(pki):
        status, answer = await _get(tls_url, ctx, token, mine)
        assert status == 401, what

    # Rebinding to another certificate voids the tokens issued before, at once.
    path = f"/v1/operator/hub/participants/{made['id']}/certificate"
    status, changed = await hub.call(
        "PUT", path, hub.operator, {"client_certificate": pki.pem(pki.other)}
    )
    assert status == 200 and changed["client_certificate"]["subject"] == "CN=Someone else"
    status, _ = await _get(tls_url, pki.client(pki.other), token, mine)
    assert status == 401
    # Unbound: plain tokens again (and the old bound token stays void).
    status, changed = await hub.call("PUT", path, hub.operator, {"client_certificate": None})
    assert status == 200 and changed["client_certificate"] is None
    status, answer = await _token(stack.api_url, None, made)
    assert status == 200, answer
    status, _ = await _get(stack.api_url, None, answer["access_token"], mine)
    assert status == 200


async def test_an_unbound_participant_and_merchants_need_no_certificate(
    stack: Stack, http: aiohttp.ClientSession, notices: Notices, pki: Pki, tls_url: str
) -> None:
    hub: Hub = await operator_hub(stack, http, notices)
    bank = await hub.onboard("0", "0")
    # Over the TLS listener without a client certificate, and over plain HTTP: both served.
    mine = "/v1/hub/participant"
    for url, ctx in ((tls_url, pki.client(None)), (stack.api_url, None)):
        status, answer = await _get(url, ctx, bank.token, mine)
        assert status == 200, answer


def test_a_client_ca_needs_tls_and_a_readable_file(stack: Stack, pki: Pki, tmp_path: Path) -> None:
    assert stack.state is not None
    settings = stack.state.settings
    with pytest.raises(ConfigError, match="needs TLS"):
        context_for(settings.model_copy(update={"tls_client_ca_file": pki.ca_file}))
    bad = tmp_path / "ca.pem"
    bad.write_text("not a CA")
    cert, key = pki.server
    files = {"tls_cert_file": cert, "tls_key_file": key, "tls_client_ca_file": str(bad)}
    with pytest.raises(ConfigError, match="SWITCH_TLS_CLIENT_CA_FILE: cannot load"):
        context_for(settings.model_copy(update=files))
    files["tls_client_ca_file"] = pki.ca_file
    made = context_for(settings.model_copy(update=files))
    assert made is not None and made.verify_mode == ssl.CERT_OPTIONAL
