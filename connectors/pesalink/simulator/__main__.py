"""Run the PesaLink simulator: ``python -m connectors.pesalink.simulator --port 9300``.

Point a client at ``http://HOST:PORT`` with Api-Key ``sandbox-api-key``, merchant code
``0000000001``, consumer secret ``sandbox-consumer-secret`` and source account ``0020100014605``
(unless overridden), and sign with ``connectors.pesalink.simulator.sandbox.SIGNING_KEY_PEM``, or
with your own key after ``--public-key PATH`` (or ``--no-signature-check``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from connectors.pesalink.simulator.app import create_app
from connectors.pesalink.simulator.config import SimConfig
from connectors.simkit import cli
from connectors.simkit.cli import Flag

FLAGS = (
    Flag("latency", float, "seconds per answer"),
    Flag("callback_delay", float, "seconds"),
    Flag("pending_for", float, "seconds"),
    Flag("token_ttl", float, "seconds"),
    Flag("callback_timeout", float),
    Flag("minimum_cents", int),
    Flag("daily_limit_cents", int, "0: none"),
    Flag("source_balance_cents", int),
    Flag("max_records", int),
    Flag("check_signatures", switch="off", name="--no-signature-check"),
    Flag("api_key"),
    Flag("merchant_code"),
    Flag("consumer_secret"),
    Flag("source_account"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.parser(
        "python -m connectors.pesalink.simulator",
        __doc__,
        port=9300,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_flags(p, SimConfig(), FLAGS)
    p.add_argument("--public-key", type=Path, help="PEM of the key clients sign with")
    cli.add_access_log(p)
    return p.parse_args(argv)


def config_from(ns: argparse.Namespace) -> SimConfig:
    key = {} if ns.public_key is None else {"public_key_pem": ns.public_key.read_bytes()}
    return cli.config_from(ns, SimConfig, FLAGS, **key)


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv)
    cli.serve(ns, lambda: create_app(config_from(ns)))


if __name__ == "__main__":
    main()
