"""The fee schedule (pure): per method, basis points of the amount plus a fixed part, clamped to
a minimum and a maximum, rounded half up to the cent. Configured with ``SWITCH_FEES`` (JSON)."""

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


DEFAULT_FEES: dict[str, Fee] = {
    # Assumed defaults for a sandbox: 1.5 % on collections capped at KES 200; KES 15 a payout.
    "mpesa_stk": Fee(bps=150, max=20_000),
    "mpesa_c2b": Fee(bps=150, max=20_000),
    "mpesa_b2c": Fee(fixed=1_500),
    "airtel_ussd": Fee(bps=150, max=20_000),
    "airtel_payout": Fee(fixed=1_500),
    "bank_transfer": Fee(fixed=5_000),  # KES 50 a PesaLink transfer
    "sacco": Fee(fixed=1_000),
    # sacco_withdrawal and transfer legs: none (a transfer's money only passes through).
}


def fee_for(schedule: dict[str, Fee], method: str, amount: int) -> int:
    fee = schedule.get(method)
    return fee.of(amount) if fee else 0
