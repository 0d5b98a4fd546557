"""Requests to pay at the simulated banks (switch/hub/requests.py): the hub's signed JSON notice
``hub.request_to_pay`` (Standard Webhooks headers, the bank's key) asks a bank's customer to pay
a merchant's collection account. What the customer does depends on the debtor account, in the
book's layout (:mod:`.book`)::

    <code>10000001  approves: 202, then the bank pays (below)
    <code>10000002  declines: 422 {"reason": "customer declined"}
    <code>10000003  never answers: 202, and no payment ever comes
    closed / blocked / unknown account: 422 with AC04 / AC06 / AC01

The bank pays as any participant does: an OAuth token with its hub client (knob
``hub_clients``), a party look-up of the creditor account, then an ordinary hub transfer to it at
``hub_url`` quoting the reference in its ``note``, with an Idempotency-Key from the request's id
(a request delivered twice pays once), debited from the customer's account in the book.
"""

from __future__ import annotations

import base64
import logging
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

import aiohttp

from connectors.banks.simulator import book
from connectors.banks.simulator.book import Bank
from connectors.common import EAT

log = logging.getLogger(__name__)

NOTICE = "hub.request_to_pay"
DECLINES, SILENT = "10000002", "10000003"  # the suffixes after the bank code


def answer(bank: Bank, data: dict[str, Any]) -> tuple[int, dict[str, Any] | None, bool]:
    """(HTTP status, body, whether the bank pays) for one request to pay."""
    number = str((data.get("debtor") or {}).get("account_number") or "")
    account = bank.accounts.get(number)
    if account is None:
        return 422, {"reason": f"AC01 {book.INFO['AC01']}"}, False
    if account.status in book.REFUSALS:
        code = book.REFUSALS[account.status]
        return 422, {"reason": f"{code} {book.INFO[code]}"}, False
    if number == bank.code + DECLINES:
        return 422, {"reason": "customer declined"}, False
    return 202, None, number != bank.code + SILENT


async def pay(
    session: aiohttp.ClientSession,
    hub_url: str,
    client: dict[str, str],
    bank: Bank,
    data: dict[str, Any],
    within: float,
) -> str | None:
    """The bank pays a request to pay through the hub: the hub transfer's id, or None."""
    limit = aiohttp.ClientTimeout(total=within)
    pair = f"{client['client_id']}:{client['client_secret']}".encode()
    auth = {"Authorization": "Basic " + base64.b64encode(pair).decode()}
    form = {"grant_type": "client_credentials"}
    url = f"{hub_url}/v1/oauth/token"
    async with session.post(url, data=form, headers=auth, timeout=limit) as r:
        if r.status != 200:
            log.warning("bank %s: no hub token (%s)", bank.code, r.status)
            return None
        headers = {"Authorization": f"Bearer {(await r.json())['access_token']}"}
    creditor = data["creditor"]
    url = f"{hub_url}/v1/hub/parties/{creditor['type']}/{creditor['id']}"
    async with session.get(url, headers=headers, timeout=limit) as r:
        if r.status != 200:
            log.warning("bank %s: creditor %s not found (%s)", bank.code, creditor["id"], r.status)
            return None
        payee = (await r.json())["participant"]
    body = {
        "payee_participant": payee,
        "amount": data["amount"],
        "currency": data.get("currency", "KES"),
        "party": creditor,
        "note": data["reference"],
    }
    headers["Idempotency-Key"] = f"rtp-{data['id']}"
    async with session.post(
        f"{hub_url}/v1/hub/transfers", json=body, headers=headers, timeout=limit
    ) as r:
        made = await r.json()
        if r.status not in (200, 201):
            log.warning("bank %s: hub transfer refused: %s", bank.code, made)
            return None
    if r.status == 201:  # the first time: the customer's account is debited
        at = datetime.now(EAT).replace(microsecond=0)
        cents = -int(Decimal(str(data["amount"])) * 100)
        ref = "RTP" + secrets.token_hex(5).upper()
        account = bank.accounts[data["debtor"]["account_number"]]
        account.bookings.append(
            book.Booking(at, cents, ref, data["reference"], str(made["id"]), creditor["id"])
        )
    return str(made["id"])
