"""Claims on idempotency keys (the asynchronous half of admission.py).

The machine's table says which keys are known (claimed or stored) and under which request
hash; a claim here is the future that concurrent copies of a request wait on: True once the
first copy's payment is stored, False if it was refused or failed (the key is free again).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict


class Claims:
    def __init__(self, idem: OrderedDict[str, str]) -> None:
        self.idem = idem  # the machine's: scoped key -> request hash
        self.pending: dict[str, asyncio.Future[bool]] = {}

    def claim(self, key: str, request_hash: str) -> asyncio.Future[bool]:
        claim: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending[key] = claim
        self.idem[key] = request_hash
        return claim

    def resolve(self, key: str, stored_hash: str | None) -> None:
        """The claim on ``key`` is settled: stored (under ``stored_hash``) or not (None)."""
        claim = self.pending.pop(key, None)
        if stored_hash is None:
            self.idem.pop(key, None)
        else:
            self.idem[key] = stored_hash
        if claim is not None and not claim.done():
            claim.set_result(stored_hash is not None)

    async def stored(self, key: str) -> bool:
        """Whether the first copy under ``key`` got stored (at once if it is not pending)."""
        claim = self.pending.get(key)
        return claim is None or await asyncio.shield(claim)
