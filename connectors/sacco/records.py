"""A file SACCO's result files as reconciliation records (pure): the source ``sacco_results``.

The files are the ones the file gateway already ingested and kept in its journal
(connectors/sacco/journal.py: ``results/`` beside the batches we wrote). Each is checked again
against our own batch (connectors/sacco/files.py: a line whose member, amount or purpose differs
from ours is refused there, as at ingestion); every ``PAID`` line is money the SACCO says moved,
so it is a record (our payment id, which the file echoes, the SACCO's reference as receipt);
a ``FAILED`` line moved nothing and is no record. A line the SACCO answered ``PAID`` in two
files is two records: a duplicate. The record's time is the result file's (its header), as a
bank statement's booking time is the bank's.

Only payments we wrote to a file SACCO are expected in these files (``written``): an API SACCO's
payments are not this source's business.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from connectors.sacco import files
from switch.recon.records import ProviderRecord

SOURCE = "sacco_results"


def result_records(
    sacco_code: str, batches: Iterable[bytes], results: Iterable[bytes]
) -> tuple[list[ProviderRecord], set[str]]:
    """The PAID lines of ``results`` as records, and the payment ids our ``batches`` wrote."""
    ours: dict[str, files.Batch] = {}
    for data in batches:
        try:
            batch = files.parse_batch(data)
        except files.FileFormatError:
            continue  # unreadable: its lines cannot be checked, so none is matched
        ours[batch.batch_id] = batch
    written = {line.payment_id for b in ours.values() for line in b.lines}
    records: list[ProviderRecord] = []
    for data in results:
        parsed = files.parse_result(data, sacco_code, ours)
        if parsed.batch_id not in ours:
            continue
        at = _created(data) or ours[parsed.batch_id].created_at
        records += [
            ProviderRecord(
                SOURCE,
                line.sacco_reference or line.payment_id,
                line.amount_minor,
                "out",
                at,
                reference=line.payment_id,
                account=line.member_number,
            )
            for line in parsed.lines
            if line.status == "PAID"
        ]
    return records, written


def _created(data: bytes) -> datetime | None:
    """The result file's own time: the header's fifth field."""
    head = data.split(b"\n", 1)[0].decode("utf-8", "replace").split(",")
    try:
        return files.parse_time(head[4]) if len(head) > 4 else None
    except ValueError:
        return None
