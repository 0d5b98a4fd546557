"""The two pieces of cryptography in the Airtel Open API. Pure: no clock, no I/O.

* PIN encryption for disbursements (doc §8, "PIN encryption"): base64(RSA-encrypt(PIN)) with
  the Airtel-issued public key. Airtel hands that key out as Base64 DER (SPKI); PEM is accepted
  too. The padding is not consistent across SDKs (PKCS#1 v1.5 in the Go and Node SDKs, OAEP in a
  Laravel SDK, OAEP-SHA-256 for a newer key version, doc §8 *unverified*), so it is a parameter;
  the default is PKCS#1 v1.5 (``encryptPinV1``).
* Callback authentication (doc §6): when enabled in the portal, Airtel adds
  ``hash = Base64(HMAC-SHA256(key=<the application's "private key">, message=<payload>))``. Which
  bytes form the payload is **not specified** (doc §6 *unverified*), so the canonical form is a
  parameter, :data:`HashForm`; the default follows the integrators the doc cites.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding

PinPadding = Literal["pkcs1v15", "oaep-sha1", "oaep-sha256"]
PIN_PADDINGS: tuple[PinPadding, ...] = ("pkcs1v15", "oaep-sha1", "oaep-sha256")

# How the callback payload is turned into the bytes the HMAC covers (doc §6):
#
# * ``fixed_order`` (default): compact JSON of ``{"transaction": {...}}`` holding only
#   ``id, message, status_code, airtel_money_id`` in that key order (fields that are absent
#   are left out). This is the form the doc suggests a simulator fixes.
# * ``as_received``: compact JSON of ``{"transaction": {...}}`` with every field of the
#   received ``transaction`` object, in the order received.
# * ``transaction_only``: like ``fixed_order`` but without the ``{"transaction": ...}`` wrapper.
#
# "Compact JSON" is orjson's output: no whitespace, UTF-8, non-ASCII characters not escaped.
HashForm = Literal["fixed_order", "as_received", "transaction_only"]
HASH_FORMS: tuple[HashForm, ...] = ("fixed_order", "as_received", "transaction_only")
CALLBACK_FIELDS = ("id", "message", "status_code", "airtel_money_id")

_PIN = re.compile(r"^\d{4}$")


# --- PIN encryption (doc §8) -------------------------------------------------------------------


def load_public_key(key: str | bytes) -> rsa.RSAPublicKey:
    """Airtel's public key as Base64 DER (SPKI, as the portal issues it) or as PEM."""
    raw = key.encode("ascii") if isinstance(key, str) else key
    try:
        if b"-----BEGIN" in raw:  # PEM, possibly after explanatory text
            loaded: Any = serialization.load_pem_public_key(raw)
        else:
            der = base64.b64decode(b"".join(raw.split()), validate=True)
            loaded = serialization.load_der_public_key(der)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the Airtel public key is neither Base64 DER nor PEM") from exc
    if not isinstance(loaded, rsa.RSAPublicKey):
        raise ValueError("the Airtel public key is not an RSA key")
    return loaded


def pin_padding(mode: PinPadding) -> AsymmetricPadding:
    if mode == "pkcs1v15":
        return padding.PKCS1v15()
    if mode == "oaep-sha1":
        return padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303 (OAEP-SHA1 is what one SDK uses)
    if mode == "oaep-sha256":
        sha = hashes.SHA256()
        return padding.OAEP(mgf=padding.MGF1(sha), algorithm=sha, label=None)
    raise ValueError(f"pin padding must be one of {list(PIN_PADDINGS)}")


def encrypt_pin(pin: str, public_key: str | bytes, mode: PinPadding = "pkcs1v15") -> str:
    """The ``pin`` field of a disbursement: base64(RSA-encrypt(the 4-digit wallet PIN)).

    Both paddings are randomised, so every call gives a different string; any of them decrypts
    to the same PIN, so one may be kept and reused.
    """
    if not _PIN.match(pin):
        raise ValueError("the wallet PIN must be 4 digits")
    cipher = load_public_key(public_key).encrypt(pin.encode("ascii"), pin_padding(mode))
    return base64.b64encode(cipher).decode("ascii")


# --- Callback hash (doc §6) --------------------------------------------------------------------


def callback_hash_message(transaction: Mapping[str, Any], form: HashForm = "fixed_order") -> bytes:
    """The exact bytes the callback HMAC covers, for one canonical ``form``."""
    if form == "as_received":
        inner = dict(transaction)
    elif form in ("fixed_order", "transaction_only"):
        inner = {k: transaction[k] for k in CALLBACK_FIELDS if k in transaction}
    else:
        raise ValueError(f"hash form must be one of {list(HASH_FORMS)}")
    return orjson.dumps(inner if form == "transaction_only" else {"transaction": inner})


def callback_hash(transaction: Mapping[str, Any], key: str, form: HashForm = "fixed_order") -> str:
    """Base64(HMAC-SHA256(key, message)); the key is the portal's text, used as UTF-8 bytes."""
    message = callback_hash_message(transaction, form)
    digest = hmac.new(key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def hash_matches(
    transaction: Mapping[str, Any], received: str, key: str, form: HashForm = "fixed_order"
) -> bool:
    """Constant-time comparison of a received ``hash`` with the one we compute."""
    expected = callback_hash(transaction, key, form)
    return hmac.compare_digest(expected.encode(), received.encode())
