"""The SACCO registry: the sandbox one, files, and clear validation errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from connectors.sacco.registry import (
    RegistryError,
    Sacco,
    load_registry,
    parse_registry,
    registry_from,
    sandbox_registry,
)

API = {
    "code": "STIMA",
    "name": "Stima",
    "integration": "api",
    "base_url": "https://core.stima.example/fineract-provider/api/v1",
    "tenant": "stima",
    "username": "switch",
    "password": "pw",
}
FILE = {"code": "WAUMINI", "name": "Waumini", "integration": "file"}


def test_sandbox_has_one_api_and_one_file_sacco() -> None:
    registry = sandbox_registry("http://127.0.0.1:1/x")
    assert [s.code for s in registry.of("api")] == ["STIMA"]
    assert [s.code for s in registry.of("file")] == ["WAUMINI"]
    assert registry["STIMA"].base_url == "http://127.0.0.1:1/x"
    assert registry_from(None).keys() == registry.keys()


def test_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "saccos.json"
    path.write_bytes(sandbox_registry().to_json())
    loaded = load_registry(path)
    assert dict(loaded) == dict(sandbox_registry())
    assert registry_from(str(path))["WAUMINI"].integration == "file"


def test_password_stays_out_of_repr() -> None:
    assert "sandbox-password" not in repr(sandbox_registry()["STIMA"])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**API, "code": "st"}, "code must be 3-10 upper-case"),
        ({**API, "integration": "sftp"}, "integration must be 'api' or 'file'"),
        ({**API, "base_url": None}, "needs base_url"),
        ({**API, "tenant": "bad tenant"}, "needs a tenant"),
        ({**API, "password": None}, "needs username and password"),
        ({**FILE, "member_number_pattern": "(["}, "not a regex"),
        ({**FILE, "colour": "red"}, "unknown fields ['colour']"),
        ({**FILE, "name": 7}, "name must be a string"),
        ({**FILE, "payment_type_id": "1"}, "payment_type_id must be an integer"),
        ({**FILE, "name": " "}, "name must not be empty"),
    ],
)
def test_bad_entries_name_entry_and_field(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(RegistryError, match=r"^saccos\.json\[1\]: ") as caught:
        parse_registry([FILE if entry.get("code") != "WAUMINI" else API, entry], "saccos.json")
    assert message in str(caught.value)


def test_duplicate_codes_and_empty_lists_are_refused() -> None:
    with pytest.raises(RegistryError, match="listed twice"):
        parse_registry([FILE, FILE])
    with pytest.raises(RegistryError, match="non-empty JSON list"):
        parse_registry([])


def test_unreadable_files_say_so(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{not json")
    with pytest.raises(RegistryError, match="not JSON"):
        load_registry(bad)
    bad.write_bytes(orjson.dumps({"code": "X"}))
    with pytest.raises(RegistryError, match="non-empty JSON list"):
        load_registry(bad)


def test_member_number_pattern() -> None:
    sacco = Sacco("KENVO", "Kenvo", "file", member_number_pattern=r"^KV[0-9]{4}$")
    assert sacco.member_number_ok("KV1234")
    assert not sacco.member_number_ok("KV1234X")
    assert not sacco.member_number_ok("1234")
