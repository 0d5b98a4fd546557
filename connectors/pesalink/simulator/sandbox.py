"""The sandbox signing key pair: PUBLIC TEST VALUES, not secrets.

A merchant signs its requests with its own RSA private key and uploads the public key to the bank
(doc §3.1, ``signature`` header). The simulator stands in for the bank, so it needs the public
half of whatever key its clients sign with: by default this pair, whose private half is here for
tests, the demo, the bench and any local client. Never use it outside the simulator. It was
generated once with ``cryptography`` (RSA 2048, exponent 65537); the private half ships as
``sandbox_signing_key.pem`` so sandbox mode hands the switch a key file like any deployment
does (the switch's own code never imports a simulator). A client with its own key starts the
simulator with ``--public-key PATH``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.simkit.sandbox import Served, serve
from switch.providers import SandboxPlace

SIGNING_KEY_PATH = Path(__file__).with_name("sandbox_signing_key.pem")
SIGNING_KEY_PEM = SIGNING_KEY_PATH.read_bytes()

PUBLIC_KEY_PEM = b"""\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmK9HKR/bO6HVodyeS8CN
C006wM7tvnnQRLB9w5p7OSuLDeaT/kHQvskfb6ncK+bSd3Vlf7Ue99NOAoFZ2CCP
ijcQI+bjQYoAe2ZgZuwL+CmlYYSFMB/iFydivbxtgtZW5ukjGGAdG8fLZZT9iJ1P
UTfGc2ZoBBLiZexQn1tu93pgD+bWt7dV4xFYYaSKeiPyTw+KYeQBmbrd+Iaaz5FR
pWR6T4wWM5bkJ+0ZHokooXpqfq6++MnYczKxYKdTz3zgX7NL4MikdJHXQKmmqp3M
L2FZsA6L6DzR7iauqYjFh8zmIDYIgwv5WcyWn0Ii21J8ZrWBEQBWYeDRjqKbgrZY
DQIDAQAB
-----END PUBLIC KEY-----
"""


def switch_settings(base_url: str) -> dict[str, Any]:
    """The switch's Settings overrides (field -> value) that point it at a simulator running at
    ``base_url`` with the simulator's default credentials, source account and signing key file
    (:data:`SIGNING_KEY_PATH`, whose public half the simulator verifies by default). Callbacks go
    to each transfer's own ``callbackUrl``.
    """
    from connectors.pesalink.simulator import config  # imports this module: import it late

    return {
        "pesalink_base_url": base_url.rstrip("/"),
        "pesalink_api_key": config.SANDBOX_API_KEY,
        "pesalink_merchant_code": config.SANDBOX_MERCHANT_CODE,
        "pesalink_consumer_secret": config.SANDBOX_CONSUMER_SECRET,
        "pesalink_signing_key_file": str(SIGNING_KEY_PATH),
        "pesalink_source_account": config.SANDBOX_SOURCE_ACCOUNT,
        "pesalink_source_name": config.SANDBOX_SOURCE_NAME,
    }


async def start(place: SandboxPlace) -> Served:
    """The PesaLink bank simulator for the switch's sandbox mode (PesaLink's ``sandbox`` entry)."""
    from connectors.pesalink.simulator.app import create_app
    from connectors.pesalink.simulator.config import SimConfig

    config = place.config or SimConfig(callback_delay=place.callback_delay)
    served = await serve(create_app(config), place.host, place.port)
    served.overrides = switch_settings(served.base_url)
    return served
