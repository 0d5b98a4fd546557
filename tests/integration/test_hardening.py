"""Transport and input hardening through the public API: TLS with HSTS, SSRF refusals for
webhook URLs outside sandbox mode, callback source allow-lists, 404/405/413/415 in the error
shape, oversized headers, and no client value ever used as a MongoDB operator.

Settings that differ from the session's sandbox stack (TLS, strict SSRF, allow-lists, tight
limits) run on a second api app over the same database, actors and Redis (:func:`variant`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import ssl
import uuid
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from api.app import create_app
from api.hardening import server_args
from api.ratelimit import Limiter
from api.state import AppState
from app.stack import Stack
from infra.tls import context_for

from .conftest import free_port
from .helpers import Api, stk_body, unique_phone
from .test_users import Person, owner_with_totp, sign_up

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def variant(
    stack: Stack, *, limiter: Limiter | None = None, **changes: Any
) -> AsyncIterator[tuple[str, AppState]]:
    """Another api app with some settings changed, sharing the session's database, actors and
    Redis; served the way the stack serves (header limits, TLS when configured)."""
    assert stack.state is not None
    base = stack.state
    settings = base.settings.model_copy(update=changes)
    state = AppState(settings, base.secret_key, base.cols, base.actors, base.hub, base.saccos)
    state.limiter = limiter
    runner = web.AppRunner(create_app(state), access_log=None, **server_args(settings))
    await runner.setup()
    port = free_port()
    tls = context_for(settings)
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=tls).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()


def self_signed(folder: Path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_file), str(key_file)


# --- TLS and HSTS -------------------------------------------------------------------------------


async def test_tls_serving_with_hsts(stack: Stack, merchant: Api, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    trust = ssl.create_default_context(cafile=cert)
    async with (
        variant(stack, tls_cert_file=cert, tls_key_file=key) as (url, _),
        aiohttp.ClientSession() as http,
    ):
        assert url.startswith("https://")
        async with http.get(f"{url}/healthz", ssl=trust) as resp:
            assert resp.status == 200
            assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
        headers = merchant.auth
        async with http.get(f"{url}/v1/balance", ssl=trust, headers=headers) as resp:
            assert resp.status == 200
            assert "Strict-Transport-Security" in resp.headers
            assert resp.headers["Cache-Control"] == "no-store"
        # TLS 1.1 and older are refused at the handshake.
        old = ssl.create_default_context(cafile=cert)
        with warnings.catch_warnings():  # TLS 1.1 is deprecated: that is the point
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"{url}/healthz", ssl=old):
                pass
        # Plain HTTP to the TLS port gets nowhere.
        with pytest.raises(aiohttp.ClientError):
            async with http.get(url.replace("https", "http") + "/healthz"):
                pass
    # Without TLS there is no HSTS header (browsers ignore it over HTTP anyway).
    async with merchant.http.get(f"{stack.api_url}/healthz") as resp:
        assert "Strict-Transport-Security" not in resp.headers


def test_tls_needs_both_files_and_readable_ones(stack: Stack, tmp_path: Path) -> None:
    from switch.errors import ConfigError

    assert stack.state is not None
    settings = stack.state.settings
    with pytest.raises(ConfigError, match="set together"):
        context_for(settings.model_copy(update={"tls_cert_file": "x.pem"}))
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ConfigError, match="cannot load") as caught:
        context_for(
            settings.model_copy(update={"tls_cert_file": str(bad), "tls_key_file": str(bad)})
        )
    assert "not a certificate" not in str(caught.value)


# --- SSRF ---------------------------------------------------------------------------------------


async def _set_hook(person: Person, base: str, url: Any) -> tuple[int, Any]:
    async with person.http.patch(
        f"{base}/v1/merchant", json={"webhook_url": url}, headers=person.auth
    ) as resp:
        return resp.status, await resp.json()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/hooks", "loopback"),
        ("http://localhost/hooks", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.1.2.3/hooks", "private"),
        ("http://[::ffff:10.0.0.1]/hooks", "private"),
        ("http://192.168.0.10/hooks", "private"),
        ("ftp://example.com/hooks", "http or https"),
        ("https://user:pw@example.com/hooks", "credentials"),
    ],
)
async def test_webhook_urls_to_internal_targets_are_refused_outside_sandbox(
    stack: Stack, http: aiohttp.ClientSession, url: str, reason: str
) -> None:
    async with variant(stack, webhook_allow_private=False) as (base, state):
        owner = await owner_with_totp(http, base)
        status, body = await _set_hook(owner, base, url)
        assert status == 422, body
        assert body["error"]["details"][0]["field"] == "webhook_url"
        assert reason in body["error"]["details"][0]["reason"]
        doc = await state.cols.merchants.find_one({"_id": owner.merchant_id})
        assert doc is not None and doc.get("webhook_url") is None


async def test_a_public_webhook_url_is_accepted_and_sandbox_allows_local(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    async with variant(stack, webhook_allow_private=False) as (base, state):
        owner = await owner_with_totp(http, base)
        status, body = await _set_hook(owner, base, "https://8.8.8.8/hooks?token=abc")
        assert status == 200, body
        assert body == {
            "object": "merchant",
            "id": owner.merchant_id,
            "name": body["name"],
            "webhook_url": "https://8.8.8.8/hooks?token=abc",
            # The URL became the merchant's first webhook endpoint: its secret, shown once.
            "webhook_endpoint_id": body["webhook_endpoint_id"],
            "webhook_secret": body["webhook_secret"],
        }
        assert body["webhook_secret"].startswith("whsec_")
        doc = await state.cols.merchants.find_one({"_id": owner.merchant_id})
        assert doc is not None and doc["webhook_url"] == "https://8.8.8.8/hooks?token=abc"
    # The session stack runs in sandbox mode: local receivers are fine there.
    owner = await owner_with_totp(http, stack.api_url)
    status, body = await _set_hook(owner, stack.api_url, "http://127.0.0.1:9/hooks")
    assert status == 200, body


async def test_webhook_url_needs_a_two_factor_session_or_a_client_given_the_scope(
    merchant: Api, http: aiohttp.ClientSession, stack: Stack
) -> None:
    # A merchant's own API client holds webhooks:manage (a merchant made by the CLI has no
    # people), so it may change where its notifications go (issue 13)...
    async with merchant.http.patch(
        f"{merchant.base}/v1/merchant", json={"webhook_url": None}, headers=merchant.auth
    ) as resp:
        assert resp.status == 200, await resp.text()
    # ...but a person only after a two-factor login.
    person = await sign_up(http, stack.api_url)  # signed in, no two-factor yet
    status, body, _ = await person.call("PATCH", "/v1/merchant", {"webhook_url": None})
    assert (status, body["error"]["code"]) == (403, "mfa_required"), body


# --- provider callbacks -------------------------------------------------------------------------


async def test_callbacks_from_outside_the_allow_list_are_refused(stack: Stack) -> None:
    path = "/callbacks/stk/pay_s0_0000000000000000000000000/badtoken"
    async with (
        variant(
            stack, callback_allowlist_mpesa="196.201.212.0/22", trusted_proxies="127.0.0.1"
        ) as (base, _),
        aiohttp.ClientSession() as http,
    ):
        async with http.post(base + path, json={}) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"]["code"] == "forbidden"
        # Through our trusted proxy, on behalf of a Safaricom address: past the allow-list, and
        # then refused by the callback's own token check (its own answer shape).
        hdrs = {"X-Forwarded-For": "196.201.214.200"}
        async with http.post(base + path, json={}, headers=hdrs) as resp:
            assert "error" not in await resp.json()
        # Airtel has no list configured: not restricted.
        async with http.post(f"{base}/callbacks/airtel", data=b"{}") as resp:
            assert resp.status != 403


# --- errors, media types, sizes -----------------------------------------------------------------


async def test_error_bodies_for_404_405_413_415(merchant: Api) -> None:
    http, base, auth = merchant.http, merchant.base, merchant.auth
    async with http.get(f"{base}/v1/payments/pay_s0_doesnotexist", headers=auth) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    async with http.get(f"{base}/v1/no-such-thing", headers=auth) as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["code"] == "not_found"
    async with http.delete(f"{base}/v1/balance", headers=auth) as resp:
        assert resp.status == 405
        assert (await resp.json())["error"]["code"] == "method_not_allowed"
        assert "GET" in resp.headers["Allow"]
    big = {**stk_body(unique_phone()), "description": "x" * 70_000}
    headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
    async with http.post(f"{base}/v1/payments", json=big, headers=headers) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "body_too_large"
    text = {**auth, "Idempotency-Key": uuid.uuid4().hex, "Content-Type": "text/plain"}
    body = b'{"method": "mpesa_stk"}'
    async with http.post(f"{base}/v1/payments", data=body, headers=text) as resp:
        assert resp.status == 415
        answer = await resp.json()
        assert answer["error"]["code"] == "unsupported_media_type"
        assert answer["error"]["details"][0]["field"] == "Content-Type"
    # A stranger learns nothing about media types: 401 first.
    async with http.post(
        f"{base}/v1/payments", data=body, headers={"Content-Type": "text/plain"}
    ) as resp:
        assert resp.status == 401


async def test_oversized_and_too_many_headers_are_refused(merchant: Api) -> None:
    http, base = merchant.http, merchant.base
    async with http.get(f"{base}/healthz", headers={"X-Big": "a" * 9000}) as resp:
        assert resp.status == 400
    many = {f"X-H{i}": "1" for i in range(150)}
    async with http.get(f"{base}/healthz", headers=many) as resp:
        assert resp.status == 400
    async with http.get(f"{base}/healthz", headers={"X-Fine": "a" * 4000}) as resp:
        assert resp.status == 200


# --- no client value as a query operator --------------------------------------------------------


async def test_operator_shaped_values_never_match(
    merchant: Api, stack: Stack, http: aiohttp.ClientSession
) -> None:
    paid = await merchant.pay(unique_phone())
    base, auth = merchant.base, merchant.auth
    # As an id in the path: a string that matches nothing.
    for raw in ('{"$gt": ""}', "$gt", '{"$ne": null}'):
        async with http.get(f"{base}/v1/payments/{raw}", headers=auth) as resp:
            assert resp.status == 404
    # As JSON values: strict types refuse objects where strings belong.
    for field in ("phone", "reference", "amount"):
        body = {**stk_body(unique_phone()), field: {"$gt": ""}}
        status, answer, _ = await merchant.create(body, key=uuid.uuid4().hex)
        assert status == 422, answer
    # As sign-in credentials.
    async with http.post(
        f"{base}/v1/auth/login", json={"email": {"$gt": ""}, "password": {"$ne": ""}}
    ) as resp:
        assert resp.status in (400, 401, 422)
    form = {"grant_type": "client_credentials", "client_id[$ne]": "x", "client_secret[$ne]": "x"}
    async with http.post(f"{base}/v1/oauth/token", data=form) as resp:
        assert resp.status == 401
    # As audit filters (query strings are strings; brackets and $ are refused outright).
    owner = await owner_with_totp(http, base)
    for query in ("actor[$ne]=x", "actor=$gt", "after_seq[$gt]=0", "target=%7B%22%24gt%22%3A1%7D"):
        async with http.get(f"{base}/v1/audit?{query}", headers=owner.auth) as resp:
            assert resp.status == 422, query
    # The payment made above is still only reachable by its real id.
    status, body = await merchant.get(paid["id"])
    assert status == 200 and body["id"] == paid["id"]
