"""Local participant banks speaking ISO 20022 over HTTP: ``python -m connectors.banks.simulator
--help``. Routes: :mod:`.app`; accounts and outcomes: :mod:`.book`; fault knobs: :mod:`.config`.
"""

from connectors.banks.simulator.app import SIMULATOR, Simulator, create_app
from connectors.banks.simulator.book import Account, Bank, default_banks, sandbox_key
from connectors.banks.simulator.config import ErrorBurst, SimConfig

__all__ = [
    "SIMULATOR",
    "Account",
    "Bank",
    "ErrorBurst",
    "SimConfig",
    "Simulator",
    "create_app",
    "default_banks",
    "sandbox_key",
]
