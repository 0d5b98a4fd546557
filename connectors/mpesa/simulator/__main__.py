"""Run the Daraja simulator: ``python -m connectors.mpesa.simulator --port 9100``.

Point a Daraja client at ``http://HOST:PORT`` with consumer key/secret ``sandbox-key`` /
``sandbox-secret`` and the public sandbox shortcode 174379 and its passkey (unless overridden).
Initiator APIs: B2C shortcode 600000, initiator ``sandbox-initiator`` with password
``sandbox-initiator-password``, encrypted with ``GET /__sim/certificate`` (the sandbox test cert).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from connectors.mpesa.simulator.app import create_app
from connectors.mpesa.simulator.config import SimConfig
from connectors.simkit import cli
from connectors.simkit.cli import Flag

FLAGS = (
    Flag("callback_delay", float, "seconds"),
    Flag("latency", float, "seconds per answer"),
    Flag("duplicate_callbacks", int),
    Flag("token_ttl", float, "seconds"),
    Flag(
        "lock_subscriber", switch="off", name="--no-lock-subscriber", help="allow parallel prompts"
    ),
    Flag("callback_timeout", float),
    Flag("max_records", int),
    Flag("consumer_key"),
    Flag("consumer_secret"),
    Flag("shortcode"),
    Flag("passkey"),
    Flag("b2c_shortcode"),
    Flag("initiator_name"),
    Flag("initiator_password"),
    Flag("b2c_float_cents", int),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.parser("python -m connectors.mpesa.simulator", __doc__, port=9100)
    cli.add_flags(p, SimConfig(), FLAGS)
    cli.add_access_log(p)
    return p.parse_args(argv)


def config_from(ns: argparse.Namespace) -> SimConfig:
    return cli.config_from(ns, SimConfig, FLAGS)


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv)
    cli.serve(ns, lambda: create_app(config_from(ns)))


if __name__ == "__main__":
    main()
