"""What a provider tells the bench's ``mixed`` scenario about itself (its ``bench`` entry in the
provider registry, ``connectors/<name>/bench.py``): the operations it adds to the mix with their
weights and request bodies, the accounts transfers may use, and where its simulator keeps its own
record of the money it moved, to check that nothing was paid twice (bench/railcheck.py).

Pure and standard-library only: the locust process imports it (see ``bench/locustfile.py``).

Every destination is fresh (one global sequence per load-generator process): the simulators lock
a subscriber while a prompt is open, and the money checks count payments per phone, account and
member, so a second one for the same destination is a duplicate. Each generated identifier also
dodges every sandbox trigger, so all operations are meant to succeed:

- phones: the simulators' triggers are chosen by the last four digits and none starts with 7
  (STK 1032 0001 1037 2001 0404; B2C 0xxx 2xxx 8006 9003; Airtel 1000-1029 0404 4005; the
  PesaLink directory 0404 and the account triggers below), so the fourth digit from the end is
  always 7;
- bank accounts: PesaLink's triggers are the last four digits (1001 ... 5002), again never 7xxx;
- SACCO member numbers: digits only (the sandbox registry's pattern is ``^[0-9]{4,10}$``); the
  triggers are the last three digits (402-407, 504), so the third from the end is always 1.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLLECT_AMOUNT = "150"
PAYOUT_AMOUNT = "100"


@dataclass(frozen=True, slots=True)
class Booking:
    """One money movement in a simulator's own record."""

    book: str  # which record: the rail it paid (mpesa_b2c, airtel_payout, bank_transfer, sacco)
    ref: str  # our id as the provider knows it (payout id, transaction id, externalId)
    destination: str  # phone (last nine digits), account number, or SACCO:member
    booking: str  # the provider's own id of the movement (receipt, transaction id)


def national(phone: str) -> str:
    digits = "".join(ch for ch in str(phone) if ch.isdigit())
    return digits[-9:]


class Destinations:
    """Fresh, trigger-free identifiers from one sequence (module docstring)."""

    def __init__(self, start: int = 1) -> None:
        self._seq: Iterator[int] = itertools.count(start)

    def _next(self) -> int:
        n = next(self._seq)
        if n >= 10**6:
            raise RuntimeError("more than a million destinations in one process")
        return n

    def subscriber(self) -> str:
        """Six digits of the sequence with a 7 fourth from the end: ``ddd7ddd``."""
        digits = f"{self._next():06d}"
        return digits[:3] + "7" + digits[3:]

    def phone(self, prefix: str) -> str:
        return prefix + self.subscriber()  # 07X + seven digits

    def account(self) -> str:
        digits = f"{self._next():09d}"
        return digits[:6] + "7" + digits[6:]  # ten digits, the fourth from the end a 7

    def member(self) -> str:
        digits = f"{self._next():06d}"
        return digits[:4] + "1" + digits[4:]  # seven digits, the third from the end a 1


def collection_body(method: str, phone: str, ref: str) -> dict[str, Any]:
    return {
        "method": method,
        "amount": COLLECT_AMOUNT,
        "currency": "KES",
        "phone": phone,
        "reference": ref,
        "description": f"Order {ref}"[:13],
    }


def payout_body(method: str, ref: str, **destination: Any) -> dict[str, Any]:
    return {
        "method": method,
        "amount": PAYOUT_AMOUNT,
        "currency": "KES",
        "reference": ref,
        **destination,
    }


# (fresh identifiers, our reference, the sequence number of the operation) -> (request body,
# the destination the money checks know it by: a phone, an account or a member number).
Build = Callable[[Destinations, str, int], tuple[dict[str, Any], str]]


@dataclass(frozen=True, slots=True)
class BenchOp:
    """One operation a provider adds to the mix: locust's ``op_<name>``, the ``op`` of records."""

    name: str
    rail: str  # the method it sends: what the report groups by
    weight: int
    build: Build
    # Why one may still not be final when the load ends, beyond waiting for the provider.
    waiting: str = ""


@dataclass(frozen=True, slots=True)
class BenchAccount:
    """An account transfers may move money from (``source``) or to: the transfer body's
    account object and the identifier the money checks know it by."""

    name: str  # "mpesa", "sacco_file": how the bench names it
    type: str  # the account's ``type`` in the transfer body
    make: Callable[[Destinations], tuple[dict[str, Any], str]]
    source: bool = True


@dataclass(frozen=True, slots=True)
class SimRecord:
    """A record the provider's simulator keeps (``GET <simulator><path>``): the money it moved
    (``bookings``), and, when it calls the switch back, the keys of the switch's answers in it
    (statuses, error), so the report shows how the switch answered."""

    name: str
    path: str
    bookings: Callable[[Any], list[Booking]] | None = None
    callbacks: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A record the provider leaves in the switch's data folder (the file SACCO's result files):
    (data folder) -> (bookings, what could not be read)."""

    name: str
    read: Callable[[Path], tuple[list[Booking], list[str]]]


@dataclass(frozen=True, slots=True)
class ProviderBench:
    """A provider's part in the mixed scenario."""

    ops: tuple[BenchOp, ...] = ()
    # National prefix of fresh numbers for ``auto`` collections ("071"); "": takes no part.
    collect_prefix: str = ""
    accounts: tuple[BenchAccount, ...] = ()
    records: tuple[SimRecord, ...] = ()
    files: tuple[FileRecord, ...] = ()


def phone_collection(method: str, prefix: str) -> Build:
    """A collection from a fresh number on ``prefix``."""

    def build(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
        phone = dest.phone(prefix)
        return collection_body(method, phone, ref), phone

    return build


def phone_payout(method: str, prefix: str) -> Build:
    """A payout to a fresh number on ``prefix``."""

    def build(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
        phone = dest.phone(prefix)
        return payout_body(method, ref, phone=phone), phone

    return build


def wallet(kind: str, prefix: str) -> BenchAccount:
    """A wallet account (``{"type": kind, "phone": ...}``) on a fresh number."""

    def make(dest: Destinations) -> tuple[dict[str, Any], str]:
        phone = dest.phone(prefix)
        return {"type": kind, "phone": phone}, phone

    return BenchAccount(kind, kind, make)


def phone_wallet(
    kind: str,
    prefix: str,
    collect: tuple[str, int],
    payout: tuple[str, int],
    records: tuple[SimRecord, ...] = (),
) -> ProviderBench:
    """A wallet provider's part: collections (method, weight) from and payouts to fresh numbers
    on ``prefix``, ``auto`` collections there, and its wallets (``type`` ``kind``) in transfers."""
    ops = (
        BenchOp(collect[0], collect[0], collect[1], phone_collection(collect[0], prefix)),
        BenchOp(payout[0], payout[0], payout[1], phone_payout(payout[0], prefix)),
    )
    return ProviderBench(ops, prefix, (wallet(kind, prefix),), records)
