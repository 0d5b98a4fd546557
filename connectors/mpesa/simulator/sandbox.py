"""The simulator's own sandbox key pair, for SecurityCredential checks (doc §7).

A local simulator cannot decrypt credentials made with Safaricom's certificate, so it ships its
own: ``sandbox_cert.pem`` (self-signed, RSA 2048) for clients, ``sandbox_key.pem`` for the
simulator. Both are PUBLIC TEST FILES, not secrets: they protect nothing and must never be used
outside this simulator. They were generated once with ``cryptography`` (RSA 2048, exponent 65537,
SHA-256 self-signature, valid 2025-2125); any other pair works if both files are replaced.
"""

from __future__ import annotations

import base64
import binascii
import functools
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from connectors.simkit.sandbox import Served, serve
from switch.providers import SandboxPlace

CERT_PATH = Path(__file__).with_name("sandbox_cert.pem")
KEY_PATH = Path(__file__).with_name("sandbox_key.pem")


@functools.cache
def certificate_pem() -> bytes:
    """The certificate a client encrypts its initiator password with."""
    return CERT_PATH.read_bytes()


@functools.cache
def _private_key() -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(KEY_PATH.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("sandbox_key.pem is not an RSA private key")
    return key


def decrypt_credential(credential: str) -> str | None:
    """The password inside a SecurityCredential, or None if it is not one made with our cert."""
    try:
        cipher = base64.b64decode(credential, validate=True)
        plain = _private_key().decrypt(cipher, padding.PKCS1v15())
        return plain.decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


async def start(place: SandboxPlace) -> Served:
    """The Daraja simulator for the switch's sandbox mode (M-Pesa's ``sandbox`` entry), with
    Daraja's public sandbox shortcode and passkey and this simulator's initiator and cert."""
    from connectors.mpesa.settings import SANDBOX_PASSKEY, SANDBOX_SHORTCODE
    from connectors.mpesa.simulator.app import create_app
    from connectors.mpesa.simulator.config import SimConfig

    config = place.config or SimConfig(callback_delay=place.callback_delay)
    config.shortcode, config.passkey = SANDBOX_SHORTCODE, SANDBOX_PASSKEY
    served = await serve(create_app(config), place.host, place.port)
    served.overrides = {
        "mpesa_base_url": served.base_url,
        "mpesa_consumer_key": config.consumer_key,
        "mpesa_consumer_secret": config.consumer_secret,
        "mpesa_shortcode": SANDBOX_SHORTCODE,
        "mpesa_passkey": SANDBOX_PASSKEY,
        "mpesa_initiator_name": config.initiator_name,
        "mpesa_initiator_password": config.initiator_password,
        "mpesa_certificate_file": str(CERT_PATH),
        "mpesa_b2c_shortcode": config.b2c_shortcode,
    }
    return served
