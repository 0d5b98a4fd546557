"""Run the participant banks: ``python -m connectors.banks.simulator --port 9500``.

Banks 01 (KCB), 03 (Absa), 11 (Co-operative) and 68 (Equity) answer at
``http://HOST:PORT/banks/<code>/pacs.008``; sign each message with the bank's sandbox key
(``connectors.banks.simulator.sandbox_key(code)``) as the hub (``x-iso-sender: HUB``), or start
with ``--no-signature-check``. Late and duplicate pacs.002 messages go to ``--callback-url``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from connectors.banks.simulator.app import create_app
from connectors.banks.simulator.config import SimConfig
from connectors.simkit import cli
from connectors.simkit.cli import Flag

FLAGS = (
    Flag("latency", float, "seconds per answer"),
    Flag("callback_url", str, "where late and duplicate pacs.002 messages are POSTed"),
    Flag("late_delay", float, "seconds before a late pacs.002"),
    Flag("hang_seconds", float, "seconds a never-answered request is held"),
    Flag("check_signatures", switch="off", name="--no-signature-check"),
    Flag("check_names", switch="off", name="--no-name-check"),
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = cli.parser(
        "python -m connectors.banks.simulator",
        __doc__,
        port=9500,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_flags(p, SimConfig(), FLAGS)
    cli.add_access_log(p)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv)
    cli.serve(ns, lambda: create_app(cli.config_from(ns, SimConfig, FLAGS)))


if __name__ == "__main__":
    main()
