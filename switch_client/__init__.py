"""A small typed Python client for the switch's HTTP API (v1), on aiohttp.

    async with SwitchClient(base_url, client_id, client_secret) as api:
        payment = await api.create_payment(amount="150", phone="0712345678", reference="INV1")
        async for p in api.list_payments(status="succeeded"):
            ...

Tokens are fetched (client credentials) and renewed by the client; every create sends an
``Idempotency-Key`` (yours, or a fresh one: pass the same key again to retry safely); errors are
raised as :class:`ApiError` (``code``, ``message``, ``details`` naming each bad field);
:func:`verify_webhook` checks a webhook's Standard Webhooks signature. It imports nothing of the
switch: copy the package into any project that has aiohttp.
"""

from switch_client.client import SwitchClient
from switch_client.errors import ApiError, FieldError
from switch_client.webhooks import verify_webhook

__all__ = ["ApiError", "FieldError", "SwitchClient", "verify_webhook"]
