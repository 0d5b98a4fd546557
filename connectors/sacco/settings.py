"""The SACCOs' settings, each read from ``SWITCH_<FIELD>``: switch/config.py gathers every
provider's settings through the registry."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field


class SaccoSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    # Unset, the sample registry of simulated SACCOs is used: refused outside sandbox mode.
    placeholders: ClassVar[frozenset[str]] = frozenset({"sacco_registry_file"})

    # The registry file (JSON list), the file-integration folders, and how often the outbox is
    # flushed and result files are read.
    sacco_registry_file: str | None = None
    sacco_outbox_dir: str = "./var/sacco"
    sacco_flush_interval: float = Field(5.0, gt=0)
