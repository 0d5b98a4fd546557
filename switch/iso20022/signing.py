"""How messages between the hub and a participant bank are authenticated: our scheme's choice.

The real schemes' PKI (KEPSS's, PesaLink's) is not public, so the hub signs with a key per
participant, shared with that participant, using the switch's one signing mechanism: the
Standard Webhooks signature of :mod:`switch.signing` (HMAC-SHA256 over
``"<id>.<timestamp>.<body>"``, base64, in ``webhook-signature``; the stamp in
``webhook-timestamp``, refused when more than five minutes off), over the exact XML body.

Both directions use the participant's key, so the id says who signed: ``webhook-id`` is
``"<sender>:<MsgId>"`` (the hub is :data:`HUB`, a bank its bank code), and a verifier names the
sender it expects. A message the hub signed and an attacker replays back to the hub (or a bank's
message replayed to another bank) therefore fails, and :func:`verify` hands back the MsgId for
the receiver to compare with the document's ``GrpHdr/MsgId``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from switch.signing import verify_webhook, webhook_headers

HUB = "HUB"
SENDER_HEADER = "x-iso-sender"
CONTENT_TYPE = "application/xml"


class BadSignature(ValueError):
    """A message whose signature, sender or time does not check out (say why, never the key)."""


def sign(
    key: str, sender: str, msg_id: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The headers that carry ``body`` from ``sender`` (``HUB`` or a bank code)."""
    stamp = int(time.time() if now is None else now)
    headers = webhook_headers(key, f"{sender}:{msg_id}", stamp, body)
    headers["content-type"] = CONTENT_TYPE
    headers[SENDER_HEADER] = sender
    return headers


def verify(
    key: str, sender: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> str:
    """The signed MsgId of a message that ``sender`` signed with ``key``; BadSignature if not."""
    claimed = headers.get(SENDER_HEADER, "")
    if claimed != sender:
        raise BadSignature(f"{SENDER_HEADER}: expected {sender}, got {claimed or 'nothing'}")
    signed_id = headers.get("webhook-id", "")
    who, _, msg_id = signed_id.partition(":")
    if who != sender or not msg_id:
        raise BadSignature(f"webhook-id: expected {sender}:<MsgId>")
    if not verify_webhook(key, headers, body, now):
        raise BadSignature("webhook-signature: does not match the body, or the time is off")
    return msg_id
