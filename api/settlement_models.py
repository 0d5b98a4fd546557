"""Response shapes of the settlement routes, for the OpenAPI document only (the handlers build
dicts: switch/settlement_report.py and api/settlement.py). Inlined into each operation, so nested
parts are plain objects."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class SettlementView(BaseModel):
    """One settlement run's report."""

    object: Literal["settlement"]
    id: str = Field(description="stl_<YYYYMMDD>_<hash>: one per merchant and settlement date.")
    settlement_date: str
    trigger: Literal["scheduled", "on_demand"]
    status: Literal["pending", "paying", "succeeded", "failed", "skipped"]
    attempt: int
    currency: Literal["KES"]
    balance_available: str
    reserve: str
    reserve_basis: dict[str, Any]
    held_back: str
    amount: str
    fee: str
    method: str | None
    destination: dict[str, Any]
    payout_id: str | None
    failure: dict[str, Any] | None
    note: str | None
    created_at: str | None
    updated_at: str | None


class SettlementList(BaseModel):
    object: Literal["list"]
    data: list[dict[str, Any]]


class SettlementSettings(BaseModel):
    """A merchant's settlement account, its pending change, schedule and reserve."""

    object: Literal["settlement_settings"]
    account: dict[str, Any] | None
    pending_change: dict[str, Any] | None
    cooling_off_seconds: float
    schedule: dict[str, Any]
    reserve: dict[str, Any]


def schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()
