"""Run both SACCO simulators: ``python -m connectors.sacco.simulator --port 9400``.

The API SACCO ``STIMA`` answers at ``http://HOST:PORT/fineract-provider/api/v1`` (tenant
``stima``, user ``switch``, password ``sandbox-password``: the sandbox registry's values); the
file SACCO ``WAUMINI`` works on ``--outbox-dir`` (the switch's ``SWITCH_SACCO_OUTBOX_DIR``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from aiohttp import web

from connectors.sacco.simulator.app import create_app
from connectors.sacco.simulator.config import SimConfig
from connectors.sacco.simulator.files import FileSacco, FileSimConfig


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m connectors.sacco.simulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9400)
    p.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    p.add_argument("--slow-delay", type=float, default=15.0, help="seconds (trigger 504)")
    p.add_argument("--outbox-dir", default="./var/sacco", help="the file SACCO's folder tree")
    p.add_argument("--file-codes", default="WAUMINI", help="comma-separated file SACCO codes")
    p.add_argument("--poll-interval", type=float, default=0.5, help="seconds")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = SimConfig()
    config.apply({"latency": ns.latency, "slow_delay": ns.slow_delay})
    app = create_app(config)
    codes = tuple(c.strip() for c in ns.file_codes.split(",") if c.strip())
    file_sacco = FileSacco(ns.outbox_dir, codes, FileSimConfig(poll_interval=ns.poll_interval))

    async def start_files(_app: web.Application) -> None:
        file_sacco.start()

    async def stop_files(_app: web.Application) -> None:
        await file_sacco.stop()

    app.on_startup.append(start_files)
    app.on_cleanup.append(stop_files)
    web.run_app(app, host=ns.host, port=ns.port, access_log=None)


if __name__ == "__main__":
    main()
