"""One signed POST of one event to one webhook endpoint, timed, with the answer's first bytes
kept: what the shard's dispatcher (payment events, notices) and the api (test events, resends)
both send. The transport is the SSRF-guarded one (:class:`infra.netguard.GuardedTransport`)."""

from __future__ import annotations

import time

from connectors.http import HttpRequest, TransportError
from connectors.transport import Transport
from switch.payments import now_utc
from switch.webhooks import Attempt, Target, attempt_of, signed_headers


async def post_event(
    transport: Transport, target: Target, msg_id: str, body: bytes, within: float
) -> Attempt:
    """Send once, signed with every live secret of the endpoint; never raises for the
    endpoint's failures (they are the attempt's ``error``)."""
    at = now_utc()
    headers = signed_headers(target.secrets, msg_id, int(time.time()), body)
    request = HttpRequest("POST", target.url, headers, body, within)
    started = time.monotonic()
    try:
        resp = await transport.send(request)
    except TransportError as exc:
        return attempt_of(at, None, time.monotonic() - started, b"", f"transport: {exc}")
    return attempt_of(at, resp.status, time.monotonic() - started, resp.body, None)
