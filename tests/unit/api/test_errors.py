"""validation_details: pydantic errors as the API's ``[{field, reason}]``."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from api.errors import validation_details
from api.models import PaymentCreate

VALID: dict[str, Any] = {
    "method": "mpesa_stk",
    "amount": "150",
    "currency": "KES",
    "phone": "0712345678",
    "reference": "INV1001",
}


def details(**changes: Any) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as info:
        PaymentCreate.model_validate({**VALID, **changes})
    return validation_details(info.value)


def test_extra_field_is_an_unknown_field() -> None:
    assert details(customer="x") == [{"field": "customer", "reason": "unknown field"}]


def test_operator_check_is_reported_on_phone() -> None:
    assert details(phone="0733123456") == [
        {"field": "phone", "reason": "must be a Safaricom number for mpesa_stk"}
    ]


def test_value_error_prefix_is_removed() -> None:
    assert details(amount="0") == [
        {"field": "amount", "reason": "must be between 1 and 250000 shillings"}
    ]
    assert details(amount="1.5") == [
        {
            "field": "amount",
            "reason": 'must be a whole number of shillings written as a string, e.g. "150"',
        }
    ]


def test_phone_format_error_keeps_its_colon() -> None:
    (detail,) = details(phone="0812345678")
    assert detail["field"] == "phone"
    assert detail["reason"].startswith("must be a Kenyan mobile number: 07XXXXXXXX")


def test_several_errors_in_order() -> None:
    got = details(currency="USD", reference="INV 1", extra=1)
    assert [d["field"] for d in got] == ["currency", "reference", "extra"]
    assert got[2]["reason"] == "unknown field"


def test_metadata_key_error_has_a_dotted_field() -> None:
    got = details(metadata={"k" * 41: 1})
    assert got
    assert all(d["field"].startswith("metadata.") for d in got)


def test_model_level_error_without_a_field_name_is_the_body() -> None:
    class Pair(BaseModel):
        a: int
        b: int

        @model_validator(mode="after")
        def _order(self) -> Pair:
            if self.a > self.b:
                raise ValueError("a must not exceed b")
            return self

    with pytest.raises(ValidationError) as info:
        Pair(a=2, b=1)
    assert validation_details(info.value) == [{"field": "body", "reason": "a must not exceed b"}]
