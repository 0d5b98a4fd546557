"""A faithful local Airtel Money Open API (Kenya): ``python -m connectors.airtel.simulator --help``.

Token, USSD-push collection with its callback (optionally hashed) and enquiry, refund, v1
disbursement with the encrypted PIN and its enquiry. The sandbox triggers (outcome by the last
four digits of the msisdn, one table per API) are documented in
:mod:`connectors.airtel.simulator.triggers`; the sandbox key pair in
:mod:`connectors.airtel.simulator.sandbox`.
"""

from connectors.airtel.simulator.app import SIMULATOR, Simulator, create_app
from connectors.airtel.simulator.config import ErrorBurst, SimConfig
from connectors.airtel.simulator.sandbox import decrypt_pin, public_key_b64, public_key_pem
from connectors.airtel.simulator.triggers import (
    COLLECTION_REFUSALS,
    COLLECTION_TRIGGERS,
    DISBURSEMENT_TRIGGERS,
    collection_outcome,
    disbursement_outcome,
)

__all__ = [
    "COLLECTION_REFUSALS",
    "COLLECTION_TRIGGERS",
    "DISBURSEMENT_TRIGGERS",
    "SIMULATOR",
    "ErrorBurst",
    "SimConfig",
    "Simulator",
    "collection_outcome",
    "create_app",
    "decrypt_pin",
    "disbursement_outcome",
    "public_key_b64",
    "public_key_pem",
]
