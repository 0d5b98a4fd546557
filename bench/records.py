"""The per-request record the load generator writes and the runner reads: one JSON object a line.

Pure and standard-library only, because the locust process imports it too (locust must be the
first thing that process imports; see ``bench/locustfile.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.ops import OPS

# Operations. ``create`` and ``storm`` make a payment; ``daraja`` pushes to the simulator directly.
CREATE = "create"
STORM = "storm"
GET = "get"
DARAJA = "daraja"
HUB_LOOKUP = "hub_lookup"  # the hub scenario: a party look-up
HUB_PREPARE = "hub_prepare"  # the hub scenario: a transfer prepared (id: the transfer's)
SKIPPED = "skipped"  # open loop: due but not sent (see INFLIGHT_CAP)
# Every operation that creates something the checks follow (the mixed scenario's collections,
# payouts and transfers included; bench/ops.py).
PAYMENT_OPS = frozenset({CREATE, STORM, DARAJA, *(o.name for o in OPS.values() if o.kind != GET)})

# Error kinds the load generator itself decides (HTTP errors are ``http_<status>``).
INFLIGHT_CAP = "inflight_cap"  # open loop: a scheduled request skipped, the in-flight cap was hit
STORM_MISMATCH = "storm_mismatch"  # copies of one key answered different payment ids
NO_ID = "no_id"  # an accepted answer without an id
RECORDS_GLOB = "records-*.jsonl"


@dataclass(frozen=True, slots=True)
class Record:
    t: float  # epoch seconds the request was due (open loop) or sent (closed loop)
    latency: float  # seconds from ``t`` to the complete answer; 0 for a skipped request
    op: str
    status: int  # HTTP status; 0 when no answer (connection error, timeout); -1 when not sent
    id: str = ""  # the payment id (or CheckoutRequestID) of an accepted request
    key: str = ""  # Idempotency-Key sent
    phone: str = ""
    error: str = ""  # empty on success
    merchant: int = -1  # which of the bench's merchants sent it (its index); -1: none

    @property
    def accepted(self) -> bool:
        return bool(self.id) and not self.error and self.op in PAYMENT_OPS

    @property
    def answered_at(self) -> float:
        return self.t + self.latency

    def to_line(self) -> str:
        return (
            json.dumps(
                [
                    self.t,
                    self.latency,
                    self.op,
                    self.status,
                    self.id,
                    self.key,
                    self.phone,
                    self.error,
                    self.merchant,
                ],
                separators=(",", ":"),
            )
            + "\n"
        )

    @classmethod
    def from_line(cls, line: str) -> Record:
        t, latency, op, status, pid, key, phone, error, *rest = json.loads(line)
        merchant = int(rest[0]) if rest else -1  # files written before merchants were recorded
        return cls(float(t), float(latency), op, int(status), pid, key, phone, error, merchant)


def records_path(directory: str | Path, pid: int) -> Path:
    return Path(directory) / f"records-{pid}.jsonl"


class RecordTail:
    """Reads the records files of a directory incrementally: each call returns the new complete
    lines since the last call (a half-written last line waits for the next call)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._offsets: dict[Path, int] = {}

    def read_new(self) -> list[Record]:
        out: list[Record] = []
        for path in sorted(self.directory.glob(RECORDS_GLOB)):
            offset = self._offsets.get(path, 0)
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            end = chunk.rfind(b"\n") + 1
            if end == 0:
                continue
            self._offsets[path] = offset + end
            out.extend(Record.from_line(line) for line in chunk[:end].decode().splitlines() if line)
        return out
