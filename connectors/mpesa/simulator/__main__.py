"""Run the Daraja simulator: ``python -m connectors.mpesa.simulator --port 9100``.

Point a Daraja client at ``http://HOST:PORT`` with consumer key/secret ``sandbox-key`` /
``sandbox-secret`` and the public sandbox shortcode 174379 and its passkey (unless overridden).
Initiator APIs: B2C shortcode 600000, initiator ``sandbox-initiator`` with password
``sandbox-initiator-password``, encrypted with ``GET /__sim/certificate`` (the sandbox test cert).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from aiohttp import web

from connectors.mpesa.simulator.app import create_app
from connectors.mpesa.simulator.config import SimConfig


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    d = SimConfig()
    p = argparse.ArgumentParser(prog="python -m connectors.mpesa.simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9100)
    p.add_argument("--callback-delay", type=float, default=d.callback_delay, help="seconds")
    p.add_argument("--latency", type=float, default=d.latency, help="seconds per answer")
    p.add_argument("--duplicate-callbacks", type=int, default=d.duplicate_callbacks)
    p.add_argument("--token-ttl", type=float, default=d.token_ttl, help="seconds")
    p.add_argument("--no-lock-subscriber", action="store_true", help="allow parallel prompts")
    p.add_argument("--callback-timeout", type=float, default=d.callback_timeout)
    p.add_argument("--max-records", type=int, default=d.max_records)
    p.add_argument("--consumer-key", default=d.consumer_key)
    p.add_argument("--consumer-secret", default=d.consumer_secret)
    p.add_argument("--shortcode", default=d.shortcode)
    p.add_argument("--passkey", default=d.passkey)
    p.add_argument("--b2c-shortcode", default=d.b2c_shortcode)
    p.add_argument("--initiator-name", default=d.initiator_name)
    p.add_argument("--initiator-password", default=d.initiator_password)
    p.add_argument("--b2c-float-cents", type=int, default=d.b2c_float_cents)
    p.add_argument("--access-log", action="store_true", help="log every request (slow)")
    return p.parse_args(argv)


def config_from(ns: argparse.Namespace) -> SimConfig:
    config = SimConfig(
        consumer_key=ns.consumer_key,
        consumer_secret=ns.consumer_secret,
        shortcode=ns.shortcode,
        passkey=ns.passkey,
        b2c_shortcode=ns.b2c_shortcode,
        initiator_name=ns.initiator_name,
        initiator_password=ns.initiator_password,
    )
    # The same checks as PATCH /__sim/config, so a bad flag fails at start.
    config.apply(
        {
            "latency": ns.latency,
            "callback_delay": ns.callback_delay,
            "duplicate_callbacks": ns.duplicate_callbacks,
            "token_ttl": ns.token_ttl,
            "lock_subscriber": not ns.no_lock_subscriber,
            "callback_timeout": ns.callback_timeout,
            "max_records": ns.max_records,
            "b2c_float_cents": ns.b2c_float_cents,
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
