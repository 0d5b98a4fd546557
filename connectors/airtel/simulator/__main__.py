"""Run the Airtel Money simulator: ``python -m connectors.airtel.simulator --port 9200``.

Point an Airtel Open API client at ``http://HOST:PORT`` with client id/secret
``sandbox-client-id`` / ``sandbox-client-secret`` (unless overridden). Callbacks go to
``--callback-url`` (Airtel takes it from the portal, not from the request). Disbursements need
the wallet PIN (``1234``) encrypted with the sandbox public key: ``GET /__sim/public_key`` (PEM)
or ``GET /v1/rsa/encryption-keys`` (Base64 DER, as Airtel issues it).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from aiohttp import web

from connectors.airtel.security import HASH_FORMS, PIN_PADDINGS
from connectors.airtel.simulator.app import create_app
from connectors.airtel.simulator.config import SimConfig


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    d = SimConfig()
    p = argparse.ArgumentParser(prog="python -m connectors.airtel.simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9200)
    p.add_argument("--callback-url", default=None, help="where callbacks are POSTed")
    p.add_argument("--callback-delay", type=float, default=d.callback_delay, help="seconds")
    p.add_argument("--callback-timeout", type=float, default=d.callback_timeout, help="seconds")
    p.add_argument("--callback-auth", action="store_true", help="add the HMAC hash to callbacks")
    p.add_argument("--callback-key", default=d.callback_key, help="the HMAC key (portal)")
    p.add_argument("--hash-form", choices=HASH_FORMS, default=d.hash_form)
    p.add_argument("--duplicate-callbacks", type=int, default=d.duplicate_callbacks)
    p.add_argument("--latency", type=float, default=d.latency, help="seconds per answer")
    p.add_argument("--token-ttl", type=float, default=d.token_ttl, help="seconds")
    p.add_argument("--pin-padding", choices=PIN_PADDINGS, default=d.pin_padding)
    p.add_argument("--float-cents", type=int, default=d.float_cents)
    p.add_argument("--client-id", default=d.client_id)
    p.add_argument("--client-secret", default=d.client_secret)
    p.add_argument("--pin", default=d.pin, help="the disbursement wallet PIN")
    p.add_argument("--merchant-name", default=d.merchant_name)
    p.add_argument("--access-log", action="store_true", help="log every request (slow)")
    return p.parse_args(argv)


def config_from(ns: argparse.Namespace) -> SimConfig:
    if not (len(ns.pin) == 4 and ns.pin.isdigit()):
        raise SystemExit("--pin must be 4 digits")
    config = SimConfig(
        client_id=ns.client_id,
        client_secret=ns.client_secret,
        pin=ns.pin,
        callback_key=ns.callback_key,
        merchant_name=ns.merchant_name,
    )
    # The same checks as PATCH /__sim/config, so a bad flag fails at start.
    config.apply(
        {
            "callback_url": ns.callback_url,
            "callback_delay": ns.callback_delay,
            "callback_timeout": ns.callback_timeout,
            "callback_auth": ns.callback_auth,
            "hash_form": ns.hash_form,
            "duplicate_callbacks": ns.duplicate_callbacks,
            "latency": ns.latency,
            "token_ttl": ns.token_ttl,
            "pin_padding": ns.pin_padding,
            "float_cents": ns.float_cents,
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
