"""A local "PesaLink hub + banks": ``python -m connectors.pesalink.simulator --help``.

Token, account and phone lookups, transfers to an account or a phone, status enquiry and result
callbacks, behind the bank-style API of :mod:`connectors.pesalink`. The sandbox directory is in
:mod:`.directory`, the triggers (outcome by the account's last four digits) in :mod:`.triggers`,
the client signing key (a public test value) in :mod:`.sandbox`.
"""

from connectors.pesalink.simulator.app import SIMULATOR, Simulator, create_app
from connectors.pesalink.simulator.config import ErrorBurst, SimConfig
from connectors.pesalink.simulator.directory import holder_name, links_of
from connectors.pesalink.simulator.sandbox import PUBLIC_KEY_PEM, SIGNING_KEY_PEM
from connectors.pesalink.simulator.triggers import TRIGGERS, lookup_reason, plan_transfer

__all__ = [
    "PUBLIC_KEY_PEM",
    "SIGNING_KEY_PEM",
    "SIMULATOR",
    "TRIGGERS",
    "ErrorBurst",
    "SimConfig",
    "Simulator",
    "create_app",
    "holder_name",
    "links_of",
    "lookup_reason",
    "plan_transfer",
]
