"""Knob plumbing shared by the provider simulators (M-Pesa, Airtel, PesaLink, SACCO).

Each simulator's ``config`` module keeps its own knobs, defaults and provider facts; this module
holds only what is the same in all of them: the value checks behind ``PATCH /__sim/config``
(each ``check(name, value)`` returns the value to store or raises ``ValueError`` naming the knob),
a patch applied only once every value in it is valid, the one-shot actions split out of a patch,
the error burst shape, and the knobs as JSON. Pure: no I/O, no clock.

The rest of the kit does I/O and lives beside it: :mod:`.admin` (the ``/__sim`` control routes,
the outage clock and the app wiring every simulator shares) and :mod:`.cli` (the command line).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import Field, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Check = Callable[[str, Any], Any]
"""``check(name, value)``: the value to store, or ``ValueError`` naming ``name``."""


@dataclass(slots=True)
class ErrorBurst:
    """The next ``count`` calls of ``api`` (or of any, with ``"any"``) answer ``status``.

    Each simulator subclasses it to say which ``api`` values it knows.
    """

    status: int = 500
    count: int = 0
    api: str = "any"

    def hits(self, api: str) -> bool:
        return self.count > 0 and self.api in ("any", api)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "count": self.count, "api": self.api}


class KnobConfig:
    """Mixin for a simulator's ``SimConfig`` dataclass: copy, restore, knobs as JSON, apply.

    The subclass names its run-time knobs in ``KNOB_NAMES`` (the order error messages and
    ``GET /__sim/config`` show) and gives each a check in ``KNOB_CHECKS``; its other fields
    (credentials) are never reported nor patched.
    """

    __slots__ = ()
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # set by @dataclass on the subclass
    KNOB_NAMES: ClassVar[tuple[str, ...]]
    KNOB_CHECKS: ClassVar[Mapping[str, Check]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if set(cls.KNOB_NAMES) != set(cls.KNOB_CHECKS):  # a knob without a check, or the reverse
            raise TypeError(f"{cls.__name__}: KNOB_NAMES and KNOB_CHECKS name different knobs")

    def copy(self) -> Self:
        """A copy that shares no mutable value (burst counters, dicts) with this one."""
        return replace(self, **{f.name: copy.copy(getattr(self, f.name)) for f in fields(self)})

    def restore(self, other: Self) -> None:
        """Take every value of ``other`` in place, so references to this config stay live."""
        restore(self, other.copy())

    def knobs(self) -> dict[str, Any]:
        """The run-time knobs as JSON; credentials stay out of it."""
        return knobs_json(self, self.KNOB_NAMES)

    def apply(self, patch: Any) -> None:
        """Validate the whole patch first, then change the knobs; ValueError names the culprit."""
        apply_patch(self, patch, self.KNOB_NAMES, self.KNOB_CHECKS)


def number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{name} must be a number >= 0")
    return float(value)


def positive(name: str, value: Any) -> float:
    if number(name, value) <= 0:
        raise ValueError(f"{name} must be > 0")
    return float(value)


def count(name: str, value: Any) -> int:
    # bool is an int in Python; a JSON true is not a count.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0")
    return value


def size(name: str, value: Any) -> int:
    if count(name, value) < 1:
        raise ValueError(f"{name} must be an integer >= 1")
    return int(value)


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def url(name: str, value: Any) -> str | None:
    """An http(s) URL with a host, or None (JSON null) for "not set"."""
    if value is None:
        return None
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http(s) URL or null")
    return str(value)


def choice(allowed: tuple[str, ...]) -> Check:
    """A check that takes one of ``allowed`` only."""

    def check(name: str, value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}")
        return str(value)

    return check


def burst_fields(
    name: str, value: Any, statuses: frozenset[int], apis: frozenset[str], example: str
) -> tuple[int, int, str]:
    """``(status, count, api)`` of an ``error_burst`` knob; ``example`` is shown when it is not
    an object of those keys. Left out: status 500, count 1 (a burst set is meant to fire), any.
    """
    if not isinstance(value, dict) or set(value) - {"status", "count", "api"}:
        raise ValueError(f"{name} must look like {example}")
    status = value.get("status", 500)
    if isinstance(status, bool) or status not in statuses:
        raise ValueError(f"{name}.status must be one of {sorted(statuses)}")
    api = value.get("api", "any")
    if api not in apis:
        raise ValueError(f"{name}.api must be one of {sorted(apis)}")
    return status, count(f"{name}.count", value.get("count", 1)), api


def burst_check(
    make: Callable[[int, int, str], ErrorBurst],
    statuses: frozenset[int],
    apis: frozenset[str],
    example: str,
) -> Check:
    """The check of an ``error_burst`` knob: :func:`burst_fields` made into ``make(...)``."""

    def check(name: str, value: Any) -> ErrorBurst:
        return make(*burst_fields(name, value, statuses, apis, example))

    return check


def apply_patch(
    target: object, patch: Any, known: Sequence[str], checks: Mapping[str, Check]
) -> None:
    """Check the whole patch first, then set the knobs on ``target``: a bad value changes none.

    ``known`` lists the knobs in the order error messages show them; each needs a check.
    """
    if not isinstance(patch, dict):
        raise ValueError("the body must be a JSON object of knobs")
    unknown = sorted(set(patch) - set(known))
    if unknown:
        raise ValueError(f"unknown knobs: {unknown}; known: {list(known)}")
    checked = {k: checks[k](k, v) for k, v in patch.items()}
    for k, v in checked.items():
        setattr(target, k, v)


def knobs_json(target: object, known: Iterable[str]) -> dict[str, Any]:
    """The ``known`` knobs of ``target`` as JSON values (an error burst as its ``to_json``)."""
    return {k: _jsonable(getattr(target, k)) for k in known}


def _jsonable(value: Any) -> Any:
    return value.to_json() if isinstance(value, ErrorBurst) else value


def restore(target: DataclassInstance, fresh: DataclassInstance) -> None:
    """Take every field of ``fresh`` in place, so references to ``target`` stay live.

    ``fresh`` must be a copy the caller no longer uses: its mutable values are taken as they are.
    """
    for f in fields(target):
        setattr(target, f.name, getattr(fresh, f.name))


def take_actions(patch: Any, actions: Sequence[str]) -> tuple[Any, frozenset[str]]:
    """Split the one-shot ``actions`` out of a PATCH body; each must be ``true``.

    A body that is not an object is passed on untouched, for :func:`apply_patch` to refuse.
    """
    if not isinstance(patch, dict):
        return patch, frozenset()
    for name in actions:
        if name in patch and patch[name] is not True:
            raise ValueError(f"{name} is an action: send true")
    rest = {k: v for k, v in patch.items() if k not in actions}
    return rest, frozenset(k for k in actions if k in patch)
