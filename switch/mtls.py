"""Certificate-bound access tokens (OAuth 2.0 mutual TLS, RFC 8705 §3): a client may be bound to
one X.509 certificate; it then gets a token only over a TLS connection on which it presented that
certificate, the token carries the certificate's thumbprint (``x5t#S256``: base64url of the
SHA-256 of its DER form), and every request with the token must come over a connection that
presented the same certificate. A stolen token is useless without the certificate's private key.

Pure: the thumbprint and what a PEM certificate says about itself. The connection's certificate
is read by the api (:mod:`api.mtls`); that it chains to a trusted CA is the TLS layer's check
(``SWITCH_TLS_CLIENT_CA_FILE``, :mod:`infra.tls`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

MAX_PEM = 16_384  # a certificate, not a chain or a bundle


def thumbprint(der: bytes) -> str:
    """RFC 8705's ``x5t#S256`` of a DER certificate."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


@dataclass(frozen=True, slots=True)
class Bound:
    """A client's certificate as the switch keeps it: enough to check and to show."""

    thumbprint: str
    subject: str
    not_after: datetime

    def view(self) -> dict[str, str]:
        return {
            "thumbprint_sha256": self.thumbprint,
            "subject": self.subject,
            "not_after": self.not_after.isoformat().replace("+00:00", "Z"),
        }


def bound(pem: str, now: datetime) -> Bound:
    """The certificate in ``pem`` to bind a client to; ValueError saying why it cannot be."""
    if len(pem) > MAX_PEM:
        raise ValueError(f"at most {MAX_PEM} characters: one PEM certificate")
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise ValueError("not a PEM certificate (-----BEGIN CERTIFICATE-----)") from None
    not_after = cert.not_valid_after_utc
    if not_after <= now.astimezone(UTC):
        raise ValueError(f"the certificate expired on {not_after.date().isoformat()}")
    return Bound(
        thumbprint(cert.public_bytes(Encoding.DER)), cert.subject.rfc4514_string(), not_after
    )
