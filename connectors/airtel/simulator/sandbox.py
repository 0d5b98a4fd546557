"""The simulator's own sandbox RSA key pair, for disbursement PIN checks (doc §8).

A local simulator cannot decrypt PINs encrypted with Airtel's real key, so it ships its own:
``sandbox_public_key.pem`` for clients (served as PEM by ``GET /__sim/public_key`` and as Base64
DER, the form Airtel issues, by ``GET /v1/rsa/encryption-keys``) and ``sandbox_private_key.pem``
for the simulator. Both are PUBLIC TEST FILES, not secrets: they protect nothing and must never
be used outside this simulator. They were generated once with ``cryptography`` (RSA 2048,
exponent 65537, PKCS#8 / SPKI PEM); any other pair works if both files are replaced.
"""

from __future__ import annotations

import base64
import binascii
import functools
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.airtel.security import PinPadding, load_public_key, pin_padding
from connectors.simkit.sandbox import Served, serve
from switch.providers import SandboxPlace

PUBLIC_KEY_PATH = Path(__file__).with_name("sandbox_public_key.pem")
PRIVATE_KEY_PATH = Path(__file__).with_name("sandbox_private_key.pem")
KEY_ID = "sandbox-2048-1"  # the simulator's key_id in GET /v1/rsa/encryption-keys


@functools.cache
def public_key_pem() -> bytes:
    """The public key as plain PEM (the file's explanatory header left out)."""
    text = PUBLIC_KEY_PATH.read_bytes()
    return text[text.index(b"-----BEGIN") :]


@functools.cache
def public_key_b64() -> str:
    """The public key as Airtel issues it: Base64 of the DER SubjectPublicKeyInfo (doc §8)."""
    der = load_public_key(public_key_pem()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(PRIVATE_KEY_PATH.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("sandbox_private_key.pem is not an RSA private key")
    return key


def decrypt_pin(cipher_b64: str, mode: PinPadding) -> str | None:
    """The text inside an encrypted ``pin``, or None if it was not made with our key and ``mode``.

    With PKCS#1 v1.5, OpenSSL's implicit rejection turns a wrong ciphertext into random bytes
    rather than an error, so callers must still check the result looks like a PIN.
    """
    try:
        cipher = base64.b64decode(cipher_b64, validate=True)
        return _private_key().decrypt(cipher, pin_padding(mode)).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def switch_settings(base_url: str, *, callback_auth: bool = False) -> dict[str, Any]:
    """The switch's Settings overrides (field -> value) that point it at a simulator running at
    ``base_url`` with the simulator's default credentials, wallet PIN and public key file.

    ``callback_auth`` must match the simulator's knob of that name: when on, the switch expects
    every callback to carry the hash made with the sandbox callback key. The simulator posts
    callbacks to its own ``callback_url`` knob (one URL, as Airtel's portal does), which must
    point at the switch's ``POST /callbacks/airtel``.
    """
    from connectors.airtel.simulator import config  # the simulator's public test values

    return {
        "airtel_base_url": base_url.rstrip("/"),
        "airtel_client_id": config.SANDBOX_CLIENT_ID,
        "airtel_client_secret": config.SANDBOX_CLIENT_SECRET,
        "airtel_pin": config.SANDBOX_PIN,
        "airtel_public_key_file": str(PUBLIC_KEY_PATH),
        "airtel_callback_key": config.SANDBOX_CALLBACK_KEY if callback_auth else None,
    }


async def start(place: SandboxPlace) -> Served:
    """The Airtel simulator for the switch's sandbox mode (Airtel's ``sandbox`` entry): its
    callbacks go to the switch's one Airtel callback URL, as Airtel's portal would send them."""
    from connectors.airtel.simulator.app import create_app
    from connectors.airtel.simulator.config import SimConfig

    config = place.config or SimConfig(callback_delay=place.callback_delay)
    config.callback_url = f"{place.public_url}/callbacks/airtel"
    served = await serve(create_app(config), place.host, place.port)
    served.overrides = switch_settings(served.base_url)
    return served
