"""The command line every simulator shares: ``--host``, ``--port``, ``--access-log``, one flag per
config field, and the serving.

A simulator lists its flags as :class:`Flag` values. A flag whose field is a run-time knob goes
through ``config.apply``, the same checks as ``PATCH /__sim/config``, so a bad flag fails at start
with the knob's own message; the others (credentials, keys) go to the config's constructor.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiohttp import web

from connectors.simkit import KnobConfig

K = TypeVar("K", bound=KnobConfig)


@dataclass(frozen=True, slots=True)
class Flag:
    """``--field-name`` for the config field ``field``, defaulting to the config's default.

    ``switch="on"`` is a bare flag that sets a knob true; ``switch="off"`` a bare ``--no-...``
    flag (spelt ``name``) that sets a knob that is on by default to false.
    """

    field: str
    type: Callable[[str], Any] = str
    help: str | None = None
    choices: Sequence[str] | None = None
    switch: Literal["on", "off"] | None = None
    name: str | None = None  # the flag when not --field-name

    @property
    def option(self) -> str:
        return self.name or "--" + self.field.replace("_", "-")

    def add_to(self, parser: argparse.ArgumentParser, defaults: object) -> None:
        if self.switch is not None:
            action = "store_true" if self.switch == "on" else "store_false"
            parser.add_argument(self.option, dest=self.field, action=action, help=self.help)
            return
        parser.add_argument(
            self.option,
            dest=self.field,
            type=self.type,
            default=getattr(defaults, self.field),
            choices=self.choices,
            help=self.help,
        )


def parser(prog: str, description: str | None, port: int, **kwargs: Any) -> argparse.ArgumentParser:
    """``--host`` (loopback by default: a simulator is not a public service) and ``--port``."""
    p = argparse.ArgumentParser(prog=prog, description=description, **kwargs)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=port)
    return p


def add_flags(p: argparse.ArgumentParser, defaults: object, flags: Iterable[Flag]) -> None:
    for flag in flags:
        flag.add_to(p, defaults)


def add_access_log(p: argparse.ArgumentParser) -> None:
    p.add_argument("--access-log", action="store_true", help="log every request (slow)")


def config_from(ns: argparse.Namespace, cls: type[K], flags: Sequence[Flag], **fixed: Any) -> K:
    """``cls(**settings, **fixed)``, then the knob flags applied with the PATCH checks."""
    knobs = [f.field for f in flags if f.field in cls.KNOB_NAMES]
    settings = {f.field: getattr(ns, f.field) for f in flags if f.field not in cls.KNOB_NAMES}
    make: Callable[..., K] = cls  # a dataclass: its fields are its keyword arguments
    config = make(**settings, **fixed)
    config.apply({name: getattr(ns, name) for name in knobs})
    return config


def serve(ns: argparse.Namespace, build: Callable[[], web.Application]) -> None:
    """Log at INFO, build the app (a bad flag exits here), serve it until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = build()
    access_log = logging.getLogger("aiohttp.access") if getattr(ns, "access_log", False) else None
    web.run_app(app, host=ns.host, port=ns.port, access_log=access_log)
