"""The operations of the ``mixed`` scenario, generated from the provider registry: each provider's
bench description (its ``bench`` entry, a :class:`bench.mixspec.ProviderBench`) adds its own
operations, sample bodies and transfer accounts; the bench adds ``auto`` collections over every
provider that collects from phones, transfers between every pair of account kinds, and reads.
A provider registered through the registry alone (``SWITCH_PROVIDER_MODULES``) takes part.

The locust process imports this module (see ``bench/locustfile.py``): the registry and the bench
descriptions it loads do no I/O.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bench.benefitrun import BENEFIT_RUN
from bench.bills import BILL_KINDS, GOV_REFERENCE, INVOICE, gov_build, invoice_build
from bench.mixspec import (
    BenchAccount,
    Build,
    Destinations,
    FileRecord,
    ProviderBench,
    SimRecord,
    collection_body,
)
from switch.providers import ProviderSpec, providers, resolve
from switch.rails import provider_of, recovered_by

__all__ = ["Destinations"]

Kind = Literal["collection", "payout", "transfer", "get", "invoice", "gov_reference", "benefit_run"]

TRANSFER_AMOUNT = "100"
# The share of the generic operations in the mix, beside the providers' own weights.
AUTO_WEIGHT = TRANSFER_WEIGHT = GET_WEIGHT = 2
# Bills the customer pays by C2B (bench/bills.py): each is two requests and a C2B confirmation.
BILL_WEIGHT = 1
BILL_WAITING = "the customer's C2B payment is not credited yet"
# One benefit programme cycle (bench/benefitrun.py): about ten requests and a payout batch.
BENEFIT_WEIGHT = 1
# Where each kind of object is created (POST) and read (GET ``<path><id>``).
CREATE_PATHS: dict[str, str] = {
    "collection": "/v1/payments",
    "payout": "/v1/payouts",
    "transfer": "/v1/transfers",
    INVOICE: "/v1/invoices",
    GOV_REFERENCE: "/v1/gov/references",
    BENEFIT_RUN: "/v1/benefits/programmes",  # then its beneficiaries and a run of them
}
READ_PATHS: dict[str, str] = {
    **{kind: f"{path}/" for kind, path in CREATE_PATHS.items()},
    BENEFIT_RUN: "/v1/benefits/runs/",
}
# Kinds checked apart from payments (not in the database's payments; not counted lost there).
APART_KINDS = frozenset({*BILL_KINDS, BENEFIT_RUN})


@dataclass(frozen=True, slots=True)
class Op:
    name: str  # the locust task is ``op_<name>``; records carry ``name`` as their ``op``
    kind: Kind
    rail: str  # what the report groups by
    path: str  # where it is POSTed (or GET for kind ``get``)
    weight: int = 0
    build: Build | None = None  # None: ``get``
    waiting: str = ""  # why one may still not be final, beyond waiting for its provider


@dataclass(frozen=True, slots=True)
class Mix:
    """The mixed scenario of a set of providers."""

    ops: dict[str, Op]
    pairs: tuple[tuple[BenchAccount, BenchAccount], ...]  # transfers: (source, destination)
    records: tuple[tuple[str, SimRecord], ...]  # (provider, a record of its simulator)
    files: tuple[FileRecord, ...]
    books: dict[str, tuple[str, ...]] = field(default_factory=dict)  # rail -> its records' books


def benches(specs: Iterable[ProviderSpec]) -> list[tuple[ProviderSpec, ProviderBench]]:
    """The providers that take part, with their bench descriptions."""
    return [(spec, resolve(spec.bench)) for spec in specs if spec.bench]


def mix(
    parts: Iterable[tuple[ProviderSpec, ProviderBench]], bills: bool = True, benefits: bool = True
) -> Mix:
    """``bills``: invoices and government references paid by C2B (bench/bills.py) take part;
    ``benefits``: benefit programme cycles paid by bank transfer (bench/benefitrun.py)."""
    parts = list(parts)
    directions = {r.method: r.direction for spec, _ in parts for r in spec.rails}
    ops: list[Op] = []
    for _spec, bench in parts:
        for b in bench.ops:
            kind: Kind = "collection" if directions[b.rail] == "collection" else "payout"
            ops.append(Op(b.name, kind, b.rail, CREATE_PATHS[kind], b.weight, b.build, b.waiting))
    prefixes = [bench.collect_prefix for _, bench in parts if bench.collect_prefix]
    if prefixes:
        ops.append(Op("auto_collect", "collection", "auto", CREATE_PATHS["collection"],
                      AUTO_WEIGHT, _auto_collect(prefixes)))  # fmt: skip
    accounts = [a for _, bench in parts for a in bench.accounts]
    pairs = tuple(
        (s, d) for s, d in itertools.product(accounts, accounts) if s.source and s.type != d.type
    )
    if pairs:
        ops.append(Op("transfer", "transfer", "transfer", CREATE_PATHS["transfer"],
                      TRANSFER_WEIGHT, _transfer(pairs)))  # fmt: skip
    if bills:
        bill_ops: tuple[tuple[Kind, Build], ...] = (
            (INVOICE, invoice_build),
            (GOV_REFERENCE, gov_build),
        )
        for name, make in bill_ops:
            ops.append(Op(name, name, name, CREATE_PATHS[name], BILL_WEIGHT, make, BILL_WAITING))
    if benefits:  # several requests: locust's own op_benefit_run
        ops.append(Op(BENEFIT_RUN, BENEFIT_RUN, BENEFIT_RUN, CREATE_PATHS[BENEFIT_RUN],
                      BENEFIT_WEIGHT))  # fmt: skip
    ops.append(Op("get", "get", "get", "", GET_WEIGHT))
    by_name: dict[str, Op] = {}
    for o in ops:
        if o.name in by_name:
            raise ValueError(f"two bench operations are named {o.name!r}")
        by_name[o.name] = o
    records = tuple((spec.name, r) for spec, bench in parts for r in bench.records)
    files = tuple(f for _, bench in parts for f in bench.files)
    collections = tuple(o.rail for o in ops if o.kind == "collection" and o.rail != "auto")
    books: dict[str, tuple[str, ...]] = {
        o.rail: (o.rail,) for o in ops if o.kind in ("collection", "payout")
    }
    books["auto"] = collections  # ``auto`` collections end on one of the collection rails
    return Mix(by_name, pairs, records, files, books)


def _auto_collect(prefixes: list[str]) -> Build:
    """``auto`` collections, each provider's numbers in turn: the switch picks the rail."""

    def build(dest: Destinations, ref: str, seq: int) -> tuple[dict[str, Any], str]:
        phone = dest.phone(prefixes[seq % len(prefixes)])
        return collection_body("auto", phone, ref), phone

    return build


def _transfer(pairs: tuple[tuple[BenchAccount, BenchAccount], ...]) -> Build:
    """Transfers cycling through the (source, destination) account kinds; the destination they
    are known by is ``source>destination``."""

    def build(dest: Destinations, ref: str, seq: int) -> tuple[dict[str, Any], str]:
        src, dst = pairs[seq % len(pairs)]
        source, src_id = src.make(dest)
        destination, dst_id = dst.make(dest)
        return transfer_body(source, destination, ref), f"{src_id}>{dst_id}"

    return build


def transfer_body(source: dict[str, Any], destination: dict[str, Any], ref: str) -> dict[str, Any]:
    return {
        "amount": TRANSFER_AMOUNT,
        "currency": "KES",
        "source": source,
        "destination": destination,
        "reference": ref,
    }


# Bills are paid by C2B at the Daraja simulator (the STK Push provider's): only when it takes part.
_DARAJA = provider_of(recovered_by("stk_query"))
_PARTS = benches(providers())
MIX = mix(
    _PARTS,
    bills=any(spec.name == _DARAJA for spec, _ in _PARTS),
    benefits=any(r.method == "bank_transfer" for spec, _ in _PARTS for r in spec.rails),
)
OPS: Mapping[str, Op] = MIX.ops
MIXED_WEIGHTS: dict[str, int] = {name: o.weight for name, o in OPS.items()}
TRANSFER_PAIRS: tuple[tuple[str, str], ...] = tuple((s.name, d.name) for s, d in MIX.pairs)
# The single-rail scenarios' operations: ``create`` and ``storm`` are STK Push collections.
_STK = recovered_by("stk_query")
_SINGLE: dict[str, tuple[str, Kind | None]] = {
    "create": (_STK, "collection"),
    "storm": (_STK, "collection"),
    "daraja": ("daraja", None),
}


def rail_of(op: str) -> str:
    """The rail an operation's record belongs to."""
    found = OPS.get(op)
    if found is not None:
        return found.rail
    return _SINGLE.get(op, (op, None))[0]


def kind_of(op: str) -> Kind | None:
    found = OPS.get(op)
    if found is not None:
        return found.kind
    return _SINGLE.get(op, (op, None))[1]


def build(op: str, dest: Destinations, ref: str, seq: int = 0) -> tuple[dict[str, Any], str]:
    """The request body of one create operation and the destination it goes to (a phone,
    account or member number; a transfer names its source and destination, ``a>b``). ``seq``
    picks a transfer's account kinds and an ``auto`` collection's provider."""
    found = OPS.get(op)
    if found is None or found.build is None:
        raise ValueError(f"no create operation {op!r}")
    return found.build(dest, ref, seq)


def is_bill(op: str) -> bool:
    """Whether an operation issues a bill paid by C2B (not a payment: bench/bills.py)."""
    return kind_of(op) in BILL_KINDS


def checked_apart(op: str) -> bool:
    """Whether what an operation made is checked apart from payments: bills, benefit runs."""
    return kind_of(op) in APART_KINDS
