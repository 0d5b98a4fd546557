"""SACCOs in the bench's mixed scenario (bench/mixspec.py): deposits to fresh members of the
sandbox's API SACCO and file SACCO, member accounts in transfers (the file SACCO takes deposits
but no withdrawals), the API SACCO simulator's ledger and the file SACCO's own result files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bench.mixspec import (
    BenchAccount,
    BenchOp,
    Booking,
    Destinations,
    FileRecord,
    ProviderBench,
    SimRecord,
    payout_body,
)
from connectors.sacco.files import FileFormatError, parse_batch, parse_result

API_SACCO = "STIMA"  # the sandbox's Fineract-shaped API SACCO
FILE_SACCO = "WAUMINI"  # the sandbox's file SACCO (batch files out, result files in)
# Where sandbox mode keeps the file SACCOs' exchange folders, under the switch's data folder
# (simulator/sandbox.py).
OUTBOX = "sacco"
_WAITING = "waiting for the file SACCO's result file"


def _member(code: str) -> Any:
    def make(dest: Destinations) -> tuple[dict[str, Any], str]:
        member = dest.member()
        return {"type": "sacco", "sacco_code": code, "member_number": member}, member

    return make


def _deposit(code: str) -> Any:
    def build(dest: Destinations, ref: str, _seq: int) -> tuple[dict[str, Any], str]:
        member = dest.member()
        sacco = {"sacco_code": code, "member_number": member, "purpose": "deposit"}
        return payout_body("sacco", ref, sacco=sacco), member

    return build


def sacco_api_bookings(rows: Iterable[Mapping[str, Any]]) -> list[Booking]:
    """API SACCO simulator ``GET /__sim/ledger``: every booked transaction, by externalId."""
    return [
        Booking(
            "sacco",
            str(r.get("external_id", "")),
            f"{r.get('sacco_code', '')}:{r.get('member_number', '')}",
            f"{r.get('sacco_code', '')}:{r.get('transaction_id', '')}",
        )
        for r in rows
        if not r.get("reversed")
    ]


def sacco_file_bookings(sacco_code: str, paid: Iterable[tuple[str, str, str]]) -> list[Booking]:
    """The file SACCO's result files: (payment id, member number, SACCO reference) of each PAID
    line. One booking may be reported in several files (a follow-up, a repeated answer): it is
    one booking, so lines are deduplicated by (payment, reference)."""
    seen = {(pid, member, ref) for pid, member, ref in paid}
    return [
        Booking("sacco", pid, f"{sacco_code}:{member}", f"{sacco_code}:{ref}")
        for pid, member, ref in sorted(seen)
    ]


def file_sacco_paid(root: Path) -> tuple[list[tuple[str, str, str]], list[str]]:
    """The file SACCO's own answers: every PAID line of every result file it wrote (waiting in
    ``incoming/``, read into ``archive/`` or set aside in ``rejected/``), checked against the
    batches it took (``sacco/taken/``). Returns (payment id, member, SACCO reference) per line
    and the files that could not be read."""
    problems: list[str] = []
    batches = {}
    for path in sorted((root / "sacco" / "taken").glob("*.csv")):
        try:
            batch = parse_batch(path.read_bytes())
        except FileFormatError as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        batches[batch.batch_id] = batch
    paid: list[tuple[str, str, str]] = []
    for folder in ("incoming", "archive", "rejected"):
        for path in sorted((root / folder).glob("*.csv")):
            try:
                parsed = parse_result(path.read_bytes(), FILE_SACCO, batches)
            except (KeyError, ValueError) as exc:
                problems.append(f"{path.name}: {exc}")
                continue
            if parsed.errors:  # the sound lines still count; the others are named
                first = parsed.errors[0]
                problems.append(
                    f"{path.name}: {len(parsed.errors)} errors, first line {first.line} "
                    f"{first.field}: {first.reason}"
                )
            paid.extend(
                (x.payment_id, x.member_number, x.sacco_reference or "")
                for x in parsed.lines
                if x.status == "PAID"
            )
    return paid, problems


def file_sacco_record(data_dir: Path) -> tuple[list[Booking], list[str]]:
    """The file SACCO's bookings from its exchange folder under the switch's data folder."""
    paid, problems = file_sacco_paid(data_dir / OUTBOX / FILE_SACCO)
    return sacco_file_bookings(FILE_SACCO, paid), problems


BENCH = ProviderBench(
    ops=(
        BenchOp("sacco_api", "sacco", 1, _deposit(API_SACCO)),
        BenchOp("sacco_file", "sacco", 1, _deposit(FILE_SACCO), _WAITING),
    ),
    accounts=(
        BenchAccount("sacco", "sacco", _member(API_SACCO)),
        BenchAccount("sacco_file", "sacco", _member(FILE_SACCO), source=False),
    ),
    records=(SimRecord("sacco_api", "/__sim/ledger", sacco_api_bookings),),
    files=(FileRecord("sacco_file", file_sacco_record),),
)
