"""The SACCO registry: which SACCOs the switch reaches, and how (pure, plus one file read).

There is no industry-wide SACCO API (SASRA regulates SACCOs but sets no API): each SACCO is either
reached through its core-banking API (``integration="api"``, Fineract-shaped,
:mod:`connectors.sacco.api`) or by exchanging CSV files (``integration="file"``,
:mod:`connectors.sacco.files`). The registry is a JSON list (``settings.sacco_registry_file``), one
object per SACCO::

    [{"code": "STIMA", "name": "Stima Sandbox SACCO", "integration": "api",
      "base_url": "http://127.0.0.1:9400/fineract-provider/api/v1", "tenant": "stima",
      "username": "switch", "password": "...", "member_number_pattern": "^[0-9]{4,10}$",
      "payment_type_id": 1},
     {"code": "WAUMINI", "name": "Waumini Sandbox SACCO", "integration": "file",
      "member_number_pattern": "^[0-9]{4,10}$"}]

Codes are OUR short identifiers (3 to 10 upper-case letters or digits, starting with a letter),
not an official register: SASRA publishes licence lists, not codes. Without a file, the built-in
:func:`sandbox_registry` is used: ``STIMA`` (API, tenant ``stima``) and ``WAUMINI`` (files), both
played by :mod:`connectors.sacco.simulator`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

Integration = Literal["api", "file"]

CODE = re.compile(r"^[A-Z][A-Z0-9]{2,9}$")
DEFAULT_MEMBER_PATTERN = r"^[0-9]{4,10}$"
SANDBOX_API_URL = "http://127.0.0.1:9400/fineract-provider/api/v1"
SANDBOX_USERNAME = "switch"
SANDBOX_PASSWORD = "sandbox-password"  # noqa: S105 - the simulator's public test value
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
_FIELDS = {
    "code",
    "name",
    "integration",
    "base_url",
    "tenant",
    "username",
    "password",
    "member_number_pattern",
    "payment_type_id",
}


class RegistryError(ValueError):
    """The registry cannot be used; the message names the SACCO and the field."""


@dataclass(frozen=True, slots=True)
class Sacco:
    code: str
    name: str
    integration: Integration
    member_number_pattern: str = DEFAULT_MEMBER_PATTERN
    base_url: str | None = None  # api: ``https://host/fineract-provider/api/v1``
    tenant: str | None = None  # api: ``Fineract-Platform-TenantId``
    username: str | None = None  # api: HTTP Basic user
    password: str | None = field(default=None, repr=False)
    payment_type_id: int = 1  # Fineract ``paymentTypeId`` the SACCO set up for the switch

    def __post_init__(self) -> None:
        where = f"SACCO {self.code!r}"
        if not CODE.fullmatch(self.code):
            raise RegistryError(f"{where}: code must be 3-10 upper-case letters/digits")
        if not self.name.strip():
            raise RegistryError(f"{where}: name must not be empty")
        if self.integration not in ("api", "file"):
            raise RegistryError(f"{where}: integration must be 'api' or 'file'")
        try:
            re.compile(self.member_number_pattern)
        except re.error as exc:
            raise RegistryError(f"{where}: member_number_pattern is not a regex ({exc})") from None
        if self.payment_type_id < 1:
            raise RegistryError(f"{where}: payment_type_id must be >= 1")
        if self.integration == "api":
            self._check_api(where)

    def _check_api(self, where: str) -> None:
        if not self.base_url or not _URL.fullmatch(self.base_url):
            raise RegistryError(f"{where}: an api SACCO needs base_url http(s)://host/path")
        if not self.tenant or not _TENANT.fullmatch(self.tenant):
            raise RegistryError(f"{where}: an api SACCO needs a tenant (letters, digits, _ -)")
        if not self.username or not self.password:
            raise RegistryError(f"{where}: an api SACCO needs username and password")

    def member_number_ok(self, member_number: str) -> bool:
        return re.fullmatch(self.member_number_pattern, member_number) is not None

    def to_json(self) -> dict[str, Any]:
        """The registry-file form (credentials included: the file is a secret)."""
        out: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "integration": self.integration,
            "member_number_pattern": self.member_number_pattern,
        }
        if self.integration == "api":
            out |= {
                "base_url": self.base_url,
                "tenant": self.tenant,
                "username": self.username,
                "password": self.password,
                "payment_type_id": self.payment_type_id,
            }
        return out


class Registry(Mapping[str, Sacco]):
    """SACCOs by code; read-only."""

    def __init__(self, saccos: list[Sacco]) -> None:
        by_code: dict[str, Sacco] = {}
        for sacco in saccos:
            if sacco.code in by_code:
                raise RegistryError(f"SACCO {sacco.code!r} is listed twice")
            by_code[sacco.code] = sacco
        self._by_code = by_code

    def __getitem__(self, code: str) -> Sacco:
        return self._by_code[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_code)

    def __len__(self) -> int:
        return len(self._by_code)

    def of(self, integration: Integration) -> list[Sacco]:
        return [s for s in self._by_code.values() if s.integration == integration]

    def to_json(self) -> bytes:
        return orjson.dumps(
            [s.to_json() for s in self._by_code.values()], option=orjson.OPT_INDENT_2
        )


def parse_registry(data: Any, source: str = "registry") -> Registry:
    """Validate a decoded registry; every problem names ``source``, the entry and the field."""
    if not isinstance(data, list) or not data:
        raise RegistryError(f"{source}: must be a non-empty JSON list of SACCO objects")
    return Registry([_entry(item, f"{source}[{i}]") for i, item in enumerate(data)])


def _entry(item: Any, where: str) -> Sacco:
    if not isinstance(item, dict):
        raise RegistryError(f"{where}: must be an object")
    unknown = sorted(set(item) - _FIELDS)
    if unknown:
        raise RegistryError(f"{where}: unknown fields {unknown}; known: {sorted(_FIELDS)}")
    for name in ("code", "name", "integration"):
        if not isinstance(item.get(name), str):
            raise RegistryError(f"{where}: {name} must be a string")
    for name in ("base_url", "tenant", "username", "password", "member_number_pattern"):
        if name in item and item[name] is not None and not isinstance(item[name], str):
            raise RegistryError(f"{where}: {name} must be a string")
    type_id = item.get("payment_type_id", 1)
    if isinstance(type_id, bool) or not isinstance(type_id, int):
        raise RegistryError(f"{where}: payment_type_id must be an integer")
    try:
        return Sacco(**item)
    except RegistryError as exc:
        raise RegistryError(f"{where}: {exc}") from None


def load_registry(path: str | Path) -> Registry:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise RegistryError(f"SACCO registry {path}: cannot read ({exc.strerror})") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RegistryError(f"SACCO registry {path}: not JSON ({exc})") from None
    return parse_registry(data, str(path))


def sandbox_registry(api_base_url: str = SANDBOX_API_URL) -> Registry:
    """Two plausible SACCOs played by the simulators: one reached by API, one by files."""
    return Registry(
        [
            Sacco(
                code="STIMA",
                name="Stima Sandbox SACCO",
                integration="api",
                base_url=api_base_url,
                tenant="stima",
                username=SANDBOX_USERNAME,
                password=SANDBOX_PASSWORD,
            ),
            Sacco(code="WAUMINI", name="Waumini Sandbox SACCO", integration="file"),
        ]
    )


def registry_from(registry_file: str | None) -> Registry:
    """The configured registry (``settings.sacco_registry_file``), or the sandbox one."""
    return load_registry(registry_file) if registry_file else sandbox_registry()
