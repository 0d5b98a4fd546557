"""Certificate-bound tokens (RFC 8705): the thumbprint, what a certificate must be to bind a
client to, and the binding carried by the token."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from switch import mtls
from switch.tokens import mint, verify

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)


def _pem(days: int) -> tuple[str, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bank 70")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(days=30))
        .not_valid_after(NOW + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return cert.public_bytes(serialization.Encoding.PEM).decode(), der


def test_the_thumbprint_is_rfc_8705s_x5t_s256() -> None:
    _, der = _pem(10)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert mtls.thumbprint(der) == expected and len(expected) == 43


def test_a_valid_certificate_binds_and_shows_what_it_is() -> None:
    pem, der = _pem(10)
    bound = mtls.bound(pem, NOW)
    assert bound.thumbprint == mtls.thumbprint(der)
    assert bound.view() == {
        "thumbprint_sha256": mtls.thumbprint(der),
        "subject": "CN=Bank 70",
        "not_after": bound.not_after.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.parametrize(
    ("pem", "why"),
    [
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a PEM"),
        ("x" * (mtls.MAX_PEM + 1), "at most"),
    ],
)
def test_what_is_not_one_certificate_is_refused_with_why(pem: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        mtls.bound(pem, NOW)


def test_an_expired_certificate_is_refused() -> None:
    pem, _ = _pem(-1)
    with pytest.raises(ValueError, match="expired"):
        mtls.bound(pem, NOW)


def test_the_token_carries_its_binding_and_a_plain_one_none() -> None:
    key = b"k" * 32
    bound = mint(key, "hpa_1", "cli_1", "hub:participant", 2_000_000_000, x5t="abc")
    plain = mint(key, "hpa_1", "cli_1", "hub:participant", 2_000_000_000)
    assert (c := verify(key, bound, 1.0)) is not None and c.x5t == "abc"
    assert (c := verify(key, plain, 1.0)) is not None and c.x5t is None
