"""Money: whole-shilling strings in, integer cents inside."""

from __future__ import annotations

from typing import Any

import pytest

from switch.money import format_minor, parse_whole_shillings, to_whole_shillings


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("150", 15_000),
        ("150.00", 15_000),
        ("150.0", 15_000),
        ("0", 0),
        ("1", 100),
        ("250000", 25_000_000),
        ("0150", 15_000),
        ("999999999999", 99_999_999_999_900),
    ],
)
def test_parse_whole_shillings(text: str, minor: int) -> None:
    assert parse_whole_shillings(text) == minor


@pytest.mark.parametrize(
    "text",
    ["1.5", "1.50", "150.", "-1", "+1", "abc", "", " 1", "1 ", "1,000", "1e3", "1000000000000"],
)
def test_parse_rejects_bad_strings(text: str) -> None:
    with pytest.raises(ValueError, match="whole number of shillings"):
        parse_whole_shillings(text)


@pytest.mark.parametrize("value", [150, 150.0, None, b"150"])
def test_parse_rejects_non_strings(value: Any) -> None:
    with pytest.raises(ValueError, match="must be a decimal string"):
        parse_whole_shillings(value)


def test_parse_rejects_trailing_newline() -> None:
    with pytest.raises(ValueError, match="whole number of shillings"):
        parse_whole_shillings("150\n")


@pytest.mark.parametrize(
    ("minor", "text"),
    [(15_000, "150"), (15_050, "150.50"), (15_005, "150.05"), (5, "0.05"), (0, "0")],
)
def test_format_minor(minor: int, text: str) -> None:
    assert format_minor(minor) == text


def test_to_whole_shillings() -> None:
    assert to_whole_shillings(15_000) == 150
    assert to_whole_shillings(0) == 0
    with pytest.raises(ValueError, match="15050 cents is not a whole number of shillings"):
        to_whole_shillings(15_050)
