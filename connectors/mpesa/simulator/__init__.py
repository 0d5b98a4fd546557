"""A faithful local Daraja: ``python -m connectors.mpesa.simulator --help``.

STK Push and its query, B2C v3, Transaction Status, Reversal, Account Balance and C2B. The sandbox
triggers (outcome by the phone's last four digits, one table per API) are documented in
:mod:`connectors.mpesa.simulator.triggers`; the sandbox key pair in
:mod:`connectors.mpesa.simulator.sandbox`.
"""

from connectors.mpesa.simulator.app import SIMULATOR, Simulator, create_app
from connectors.mpesa.simulator.config import ErrorBurst, SimConfig
from connectors.mpesa.simulator.sandbox import certificate_pem
from connectors.mpesa.simulator.triggers import (
    B2C_TRIGGERS,
    TRIGGERS,
    b2c_outcome_for,
    outcome_for,
    registered_name,
)

__all__ = [
    "B2C_TRIGGERS",
    "SIMULATOR",
    "TRIGGERS",
    "ErrorBurst",
    "SimConfig",
    "Simulator",
    "b2c_outcome_for",
    "certificate_pem",
    "create_app",
    "outcome_for",
    "registered_name",
]
