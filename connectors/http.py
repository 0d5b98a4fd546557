"""The seam between pure connectors and the one transport.

A connector builds an :class:`HttpRequest` and parses an :class:`HttpResponse`; only
:mod:`connectors.transport` touches the network. Transport faults are split by what they prove
about the money-moving request, because the money-safety rules depend on it::

    TransportError
    ├── NotSent        connection refused / DNS failure: no byte reached the provider,
    │                  so the request may be retried as is
    └── OutcomeUnknown timeout or connection dropped after sending: the provider may have
                       acted, so the caller must ask for the status, never resend blind
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    timeout: float = 10.0

    @classmethod
    def json(
        cls, method: str, url: str, payload: Any, headers: dict[str, str], timeout: float = 10.0
    ) -> HttpRequest:
        all_headers = {"Content-Type": "application/json", **headers}
        return cls(method, url, all_headers, orjson.dumps(payload), timeout)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON (providers send both)."""
        if not self.body:
            return None
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


class TransportError(Exception):
    """A request could not be completed at the HTTP level."""


class NotSent(TransportError):
    """Proven never sent: safe to retry the same request."""


class OutcomeUnknown(TransportError):
    """Sent (or possibly sent) but no answer: the provider may have acted on it."""
