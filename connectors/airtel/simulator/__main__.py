"""Run the Airtel Money simulator: ``python -m connectors.airtel.simulator --port 9200``.

Point an Airtel Open API client at ``http://HOST:PORT`` with client id/secret
``sandbox-client-id`` / ``sandbox-client-secret`` (unless overridden). Callbacks go to
``--callback-url`` (Airtel takes it from the portal, not from the request). Disbursements need
the wallet PIN (``1234``) encrypted with the sandbox public key: ``GET /__sim/public_key`` (PEM)
or ``GET /v1/rsa/encryption-keys`` (Base64 DER, as Airtel issues it).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from connectors.airtel.security import HASH_FORMS, PIN_PADDINGS
from connectors.airtel.simulator.app import create_app
from connectors.airtel.simulator.config import SimConfig
from connectors.simkit import cli
from connectors.simkit.cli import Flag

FLAGS = (
    Flag("callback_url", help="where callbacks are POSTed"),
    Flag("callback_delay", float, "seconds"),
    Flag("callback_timeout", float, "seconds"),
    Flag("callback_auth", switch="on", help="add the HMAC hash to callbacks"),
    Flag("callback_key", help="the HMAC key (portal)"),
    Flag("hash_form", choices=HASH_FORMS),
    Flag("duplicate_callbacks", int),
    Flag("latency", float, "seconds per answer"),
    Flag("token_ttl", float, "seconds"),
    Flag("pin_padding", choices=PIN_PADDINGS),
    Flag("float_cents", int),
    Flag("client_id"),
    Flag("client_secret"),
    Flag("pin", help="the disbursement wallet PIN"),
    Flag("merchant_name"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.parser("python -m connectors.airtel.simulator", __doc__, port=9200)
    cli.add_flags(p, SimConfig(), FLAGS)
    cli.add_access_log(p)
    return p.parse_args(argv)


def config_from(ns: argparse.Namespace) -> SimConfig:
    if not (len(ns.pin) == 4 and ns.pin.isdigit()):
        raise SystemExit("--pin must be 4 digits")
    return cli.config_from(ns, SimConfig, FLAGS)


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv)
    cli.serve(ns, lambda: create_app(config_from(ns)))


if __name__ == "__main__":
    main()
