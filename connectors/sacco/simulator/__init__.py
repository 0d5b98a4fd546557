"""Local SACCO simulators: ``python -m connectors.sacco.simulator --help``.

* :func:`create_app`: a Fineract-shaped core-banking API (members, savings, loans, a ledger
  keyed by externalId) for the API SACCOs, one tenant each; knobs in :mod:`.config`.
* :class:`FileSacco`: a file-integration SACCO that takes batch files from the folder outbox and
  writes result files back (:mod:`.files`).

:func:`start_sandbox` runs both in-process and writes the matching registry file (sandbox mode).
Members and triggers (by the last three digits of the member number) are in :mod:`.book`.
"""

from connectors.sacco.simulator.app import SIMULATOR, Simulator, create_app
from connectors.sacco.simulator.book import Book, Member, Txn, member_name, trigger
from connectors.sacco.simulator.config import ErrorBurst, SimConfig, Tenant
from connectors.sacco.simulator.files import FileSacco, FileSimConfig
from connectors.sacco.simulator.sandbox import SaccoSandbox, start_sandbox

__all__ = [
    "SIMULATOR",
    "Book",
    "ErrorBurst",
    "FileSacco",
    "FileSimConfig",
    "Member",
    "SaccoSandbox",
    "SimConfig",
    "Simulator",
    "Tenant",
    "Txn",
    "create_app",
    "member_name",
    "start_sandbox",
    "trigger",
]
