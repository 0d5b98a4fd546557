"""The fee schedule (pure): per method, basis points of the amount plus a fixed part, clamped to
a minimum and a maximum, rounded half up to the cent. Each rail's default is in its provider's
description (:func:`switch.rails.default_fees`); ``SWITCH_FEES`` (JSON) overrides them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Fee(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    bps: int = Field(0, ge=0, le=10_000, description="basis points of the amount (100 = 1 %)")
    fixed: int = Field(0, ge=0, description="cents added to every transaction")
    min: int = Field(0, ge=0, description="cents, lower bound")
    max: int | None = Field(None, ge=0, description="cents, upper bound (none: no cap)")

    def of(self, amount: int) -> int:
        """The fee in cents for ``amount`` cents."""
        fee = (amount * self.bps + 5_000) // 10_000 + self.fixed
        fee = max(fee, self.min)
        return fee if self.max is None else min(fee, self.max)


def fee_for(schedule: dict[str, Fee], method: str, amount: int) -> int:
    fee = schedule.get(method)
    return fee.of(amount) if fee else 0
