"""A faithful local Daraja for STK Push: ``python -m connectors.mpesa.simulator --help``.

The sandbox triggers (outcome by the phone's last four digits) are documented in
:mod:`connectors.mpesa.simulator.triggers`.
"""

from connectors.mpesa.simulator.app import SIMULATOR, Simulator, create_app
from connectors.mpesa.simulator.config import ErrorBurst, SimConfig
from connectors.mpesa.simulator.triggers import TRIGGERS, outcome_for

__all__ = [
    "SIMULATOR",
    "TRIGGERS",
    "ErrorBurst",
    "SimConfig",
    "Simulator",
    "create_app",
    "outcome_for",
]
