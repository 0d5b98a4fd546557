"""Hub ids (pure). A transfer's id is derived from its payer participant and the payer's
Idempotency-Key, as a payment's is from its merchant and key (:func:`switch.ids.payment_id_for`):
the same key always names the same transfer, so the primary key is the duplicate guard."""

from __future__ import annotations

from switch.ids import keyed_suffix, new_id

PARTICIPANT = "hpa"
TRANSFER = "htr"
FUNDS = "hfd"
QUOTE = "hqt"
SETTLEMENT = "hset"


def _keyed(key: bytes, kind: str, scoped: str) -> str:
    return keyed_suffix(key, f"hub:{kind}:".encode(), scoped)


def transfer_id_for(key: bytes, payer: str, idempotency_key: str) -> str:
    return f"{TRANSFER}_{_keyed(key, 'transfer', f'{payer}:{idempotency_key}')}"


def funds_id_for(key: bytes, participant: str, idempotency_key: str) -> str:
    """A funds in/out record, keyed by the operator's Idempotency-Key and the participant."""
    return f"{FUNDS}_{_keyed(key, 'funds', f'{participant}:{idempotency_key}')}"


def new_participant_id() -> str:
    return new_id(PARTICIPANT)


def new_quote_id() -> str:
    return new_id(QUOTE)


def new_settlement_id() -> str:
    return new_id(SETTLEMENT)
