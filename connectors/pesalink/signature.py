"""The ``signature`` header: Base64 RSA-SHA256 over a concatenation of request fields. Pure.

doc §3.1 (Jenga): the signed string is the plain concatenation of named fields, no separators;
for PesaLink to an account ``transfer.amount + transfer.currencyCode + transfer.reference +
destination.name + source.accountNumber``. The padding is PKCS#1 v1.5, as every Jenga client
library does it (doc §3.1 says only "RSA-SHA256"). The merchant signs with its private key; the
bank verifies with the public key the merchant uploaded.

Each flow signs different fields; the formulas are next to the requests in ``connector``.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def signed_string(*fields: str) -> str:
    """The string to sign: the fields' wire text, concatenated as they are (doc §3.1)."""
    return "".join(fields)


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the signing key is not an RSA private key")
    return key


def load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the verification key is not an RSA public key")
    return key


def sign(key: rsa.RSAPrivateKey, message: str) -> str:
    raw = key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(key: rsa.RSAPublicKey, message: str, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True
