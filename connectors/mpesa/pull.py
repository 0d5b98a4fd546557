"""Pull Transactions, called: an access token, the shortcode's registration (once; "already
registered" is fine), then the query paged by ``OffSetValue`` until an empty answer. Nothing here
moves money, so every failure is simply an error to report and ask again later. Request building
and parsing are pure (connectors/mpesa/records.py); this only sends them."""

from __future__ import annotations

import time
from datetime import datetime

from connectors.common import ProviderError
from connectors.mpesa.connector import DarajaConnector
from connectors.mpesa.records import (
    BadRecords,
    parse_pull_query,
    parse_pull_register,
    pull_query_request,
    pull_register_request,
)
from connectors.transport import Transport
from switch.recon.records import ProviderRecord

MAX_PAGES = 1000  # a runaway pager (an answer that never empties) stops here


async def pull(
    transport: Transport,
    connector: DarajaConnector,
    shortcode: str,
    nominated: str,
    callback_url: str,
    start: datetime,
    end: datetime,
) -> list[ProviderRecord]:
    """Every C2B record of ``shortcode`` between ``start`` and ``end``; BadRecords on failure."""
    token = connector.parse_token(await transport.send(connector.token_request()), time.time())
    if isinstance(token, ProviderError):
        raise BadRecords(f"Daraja token refused: {token.message}")
    base = connector.account.base_url
    parse_pull_register(
        await transport.send(
            pull_register_request(base, token.value, shortcode, nominated, callback_url)
        )
    )
    records: list[ProviderRecord] = []
    for _ in range(MAX_PAGES):
        request = pull_query_request(base, token.value, shortcode, start, end, len(records))
        page = parse_pull_query(await transport.send(request), shortcode)
        if not page.records:
            return records
        records.extend(page.records)
    raise BadRecords(f"pull query did not end after {MAX_PAGES} pages")
