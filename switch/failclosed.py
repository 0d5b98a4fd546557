"""Fail closed outside the sandbox: the settings ``serve`` refuses to start with unless it runs
the simulators (``--sandbox``). Pure: the caller says where the simulators' files live.

Refused, each named by its environment variable:
- a provider's placeholder (its settings model lists them in ``placeholders``: sandbox
  credentials, UAT URLs, the sample SACCO registry) still at its default value;
- a key or certificate file that belongs to a simulator (its private test keys are public);
- the signing key and the master key of personal data kept in the database (made on first
  start), which leave every secret readable by whoever reads the database or a backup.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from switch.config import Settings, env_name


def _placeholders(model: type[BaseModel]) -> frozenset[str]:
    names: object = getattr(model, "placeholders", frozenset())
    return frozenset(str(n) for n in names) if isinstance(names, frozenset) else frozenset()


def refusals(
    settings: Settings, models: Iterable[type[BaseModel]], simulator_dirs: Iterable[Path]
) -> list[str]:
    """One line per refused setting, ``VARIABLE: why``; empty when the settings may serve."""
    found: list[str] = []
    if not settings.secret_key:
        found.append(
            f"{env_name('secret_key')}: not set (a signing key kept in the database would be used)"
        )
    if not settings.master_keys or not settings.master_key_id:
        found.append(
            f"{env_name('master_keys')} / {env_name('master_key_id')}: not set (a master key "
            "kept in the database would seal personal data)"
        )
    for model in models:
        for name in sorted(_placeholders(model)):
            default = model.model_fields[name].default
            if getattr(settings, name) == default:
                shown = (
                    "unset (the sandbox's sample is used)"
                    if default is None
                    else "the sandbox value"
                )
                found.append(f"{env_name(name)}: {shown}; set the production one")
    dirs = [d.resolve() for d in simulator_dirs]
    for name in sorted(Settings.model_fields):
        value = getattr(settings, name)
        if not name.endswith("_file") or not isinstance(value, str) or not value:
            continue
        path = Path(value).resolve()
        if any(path.is_relative_to(d) for d in dirs):
            found.append(f"{env_name(name)}: a simulator's test key or certificate ({value})")
    return found
