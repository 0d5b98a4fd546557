"""Shared by the SACCO gateway tests: a stand-in for the shards, orders, and the gateway on the
real transport (the file SACCO needs no network; the API simulator runs on a local port)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.sacco.gateway import SaccoGatewayCore
from connectors.sacco.orders import SaccoOrder
from connectors.sacco.registry import Registry
from connectors.transport import AiohttpTransport
from switch.messages import CallbackIn, StatusCheck


@dataclass
class Shard:
    """Stands in for the shards: records what is delivered; can fail on demand."""

    items: list[CallbackIn] = field(default_factory=list)
    fail: int = 0

    async def __call__(self, items: list[CallbackIn]) -> list[str]:
        if self.fail > 0:
            self.fail -= 1
            raise RuntimeError("shard unavailable")
        self.items.extend(items)
        return ["applied"] * len(items)

    def by_id(self) -> dict[str, Any]:  # Any: tests read optional fields directly
        return {i.payment_id: i for i in self.items}

    async def delivered(self, seconds: float = 4.0) -> dict[str, Any]:
        """What the running loops delivered, once they delivered something."""
        for _ in range(int(seconds / 0.02)):
            if self.items:
                break
            await asyncio.sleep(0.02)
        return self.by_id()


def order(
    n: int, member: str = "10001", amount: int = 150_000, purpose: str = "deposit",
    sacco: str = "STIMA",
) -> SaccoOrder:  # fmt: skip
    return SaccoOrder(
        payment_id=f"pay_s0_{n}",
        sacco_code=sacco,
        member_number=member,
        amount_minor=amount,
        purpose=purpose,  # type: ignore[arg-type]
        reference=f"INV-{n}",
        callback_url="",
    )


def gateway(
    registry: Registry, root: Path, shard: Shard | None = None, **kw: float
) -> SaccoGatewayCore:
    options = {"timeout": 2.0, "retry_base": 0.001, "flush_interval": 0.02, **kw}
    return SaccoGatewayCore(
        registry, AiohttpTransport(), root, shard or Shard(), owns_transport=True,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


async def one(gw: SaccoGatewayCore, o: SaccoOrder):  # type: ignore[no-untyped-def]
    (result,) = await gw.submit([o])
    assert result.payment_id == o.payment_id
    return result.outcome


async def status(gw: SaccoGatewayCore, pid: str, ref: str | None = "STIMA"):  # type: ignore[no-untyped-def]
    (result,) = await gw.check([StatusCheck(pid, "sacco", ref)])
    assert result.not_found == bool(
        result.outcome and result.outcome.failure and result.outcome.failure.code == "not_found"
    )
    return result.outcome
