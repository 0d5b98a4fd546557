"""Run the PesaLink simulator: ``python -m connectors.pesalink.simulator --port 9300``.

Point a client at ``http://HOST:PORT`` with Api-Key ``sandbox-api-key``, merchant code
``0000000001``, consumer secret ``sandbox-consumer-secret`` and source account ``0020100014605``
(unless overridden), and sign with ``connectors.pesalink.simulator.sandbox.SIGNING_KEY_PEM``, or
with your own key after ``--public-key PATH`` (or ``--no-signature-check``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from connectors.pesalink.simulator.app import create_app
from connectors.pesalink.simulator.config import SimConfig


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    d = SimConfig()
    p = argparse.ArgumentParser(
        prog="python -m connectors.pesalink.simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9300)
    p.add_argument("--latency", type=float, default=d.latency, help="seconds per answer")
    p.add_argument("--callback-delay", type=float, default=d.callback_delay, help="seconds")
    p.add_argument("--pending-for", type=float, default=d.pending_for, help="seconds")
    p.add_argument("--token-ttl", type=float, default=d.token_ttl, help="seconds")
    p.add_argument("--callback-timeout", type=float, default=d.callback_timeout)
    p.add_argument("--minimum-cents", type=int, default=d.minimum_cents)
    p.add_argument("--daily-limit-cents", type=int, default=d.daily_limit_cents, help="0: none")
    p.add_argument("--source-balance-cents", type=int, default=d.source_balance_cents)
    p.add_argument("--max-records", type=int, default=d.max_records)
    p.add_argument("--no-signature-check", action="store_true")
    p.add_argument("--public-key", type=Path, help="PEM of the key clients sign with")
    p.add_argument("--api-key", default=d.api_key)
    p.add_argument("--merchant-code", default=d.merchant_code)
    p.add_argument("--consumer-secret", default=d.consumer_secret)
    p.add_argument("--source-account", default=d.source_account)
    p.add_argument("--access-log", action="store_true", help="log every request (slow)")
    return p.parse_args(argv)


def config_from(ns: argparse.Namespace) -> SimConfig:
    config = SimConfig(
        api_key=ns.api_key,
        merchant_code=ns.merchant_code,
        consumer_secret=ns.consumer_secret,
        source_account=ns.source_account,
    )
    if ns.public_key is not None:
        config.public_key_pem = ns.public_key.read_bytes()
    # The same checks as PATCH /__sim/config, so a bad flag fails at start.
    config.apply(
        {
            "latency": ns.latency,
            "callback_delay": ns.callback_delay,
            "pending_for": ns.pending_for,
            "token_ttl": ns.token_ttl,
            "callback_timeout": ns.callback_timeout,
            "minimum_cents": ns.minimum_cents,
            "daily_limit_cents": ns.daily_limit_cents,
            "source_balance_cents": ns.source_balance_cents,
            "max_records": ns.max_records,
            "check_signatures": not ns.no_signature_check,
        }
    )
    return config


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app(config_from(ns))
    access_log = logging.getLogger("aiohttp.access") if ns.access_log else None
    web.run_app(app, host=ns.host, port=ns.port, access_log=access_log)


if __name__ == "__main__":
    main()
