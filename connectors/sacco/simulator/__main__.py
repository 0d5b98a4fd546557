"""Run both SACCO simulators: ``python -m connectors.sacco.simulator --port 9400``.

The API SACCO ``STIMA`` answers at ``http://HOST:PORT/fineract-provider/api/v1`` (tenant
``stima``, user ``switch``, password ``sandbox-password``: the sandbox registry's values); the
file SACCO ``WAUMINI`` works on ``--outbox-dir`` (the switch's ``SWITCH_SACCO_OUTBOX_DIR``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from aiohttp import web

from connectors.sacco.simulator.app import create_app
from connectors.sacco.simulator.config import SimConfig
from connectors.sacco.simulator.files import FileSacco, FileSimConfig
from connectors.simkit import cli
from connectors.simkit.cli import Flag

FLAGS = (
    Flag("latency", float, "seconds per answer"),
    Flag("slow_delay", float, "seconds (trigger 504)"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.parser("python -m connectors.sacco.simulator", __doc__, port=9400)
    cli.add_flags(p, SimConfig(), FLAGS)
    p.add_argument("--outbox-dir", default="./var/sacco", help="the file SACCO's folder tree")
    p.add_argument("--file-codes", default="WAUMINI", help="comma-separated file SACCO codes")
    p.add_argument("--poll-interval", type=float, default=0.5, help="seconds")
    return p.parse_args(argv)


def build(ns: argparse.Namespace) -> web.Application:
    """The API SACCO's app, which also runs the file SACCO's poller while it serves."""
    app = create_app(cli.config_from(ns, SimConfig, FLAGS))
    codes = tuple(c.strip() for c in ns.file_codes.split(",") if c.strip())
    file_sacco = FileSacco(ns.outbox_dir, codes, FileSimConfig(poll_interval=ns.poll_interval))

    async def start_files(_app: web.Application) -> None:
        file_sacco.start()

    async def stop_files(_app: web.Application) -> None:
        await file_sacco.stop()

    app.on_startup.append(start_files)
    app.on_cleanup.append(stop_files)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv)
    cli.serve(ns, lambda: build(ns))  # no --access-log here: never logs requests


if __name__ == "__main__":
    main()
