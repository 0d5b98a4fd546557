"""A circuit breaker per provider account (pure; the clock is passed in).

closed --N failures in a row--> open --cool-down over--> half_open --probe ok--> closed
                                  ^                          |
                                  +------probe failed--------+

While open, requests are refused at once (nothing is sent), so a provider outage costs the
customers a clear answer instead of a timeout each, and the provider is not hammered. In
half-open, one request at a time is let through as a probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Circuit(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass
class Breaker:
    threshold: int = 5  # failures in a row that open the circuit
    cool_down: float = 10.0  # seconds open before a probe is allowed
    state: Circuit = Circuit.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False
    probe_started: float = 0.0

    def allow(self, now: float) -> bool:
        """May a request be sent now? In half-open, only one probe at a time; a probe that never
        reported back (its caller was cancelled) is written off after a cool-down, so the
        circuit cannot stay shut for ever."""
        if self.state == Circuit.OPEN and now - self.opened_at >= self.cool_down:
            self.state = Circuit.HALF_OPEN
        if self.state == Circuit.CLOSED:
            return True
        stale_probe = self.probing and now - self.probe_started >= self.cool_down
        if self.state == Circuit.HALF_OPEN and (not self.probing or stale_probe):
            self.probing, self.probe_started = True, now
            return True
        return False

    def success(self) -> None:
        self.state, self.failures, self.probing = Circuit.CLOSED, 0, False

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.state == Circuit.HALF_OPEN or self.failures >= self.threshold:
            self.state, self.opened_at, self.probing = Circuit.OPEN, now, False

    @property
    def is_open(self) -> bool:
        """Not closed: the last calls failed and no probe has succeeded since (half-open lets
        one probe through and refuses the rest). Without traffic it stays so: nothing probes."""
        return self.state != Circuit.CLOSED

    def retry_after(self, now: float) -> float:
        """Seconds until a probe may go (0 when closed)."""
        if self.state == Circuit.CLOSED:
            return 0.0
        return max(0.0, self.cool_down - (now - self.opened_at))
