"""PaymentCreate: what the public API accepts and what it refuses, field by field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from api.models import PaymentCreate, PayoutCreate

VALID: dict[str, Any] = {
    "method": "mpesa_stk",
    "amount": "150",
    "currency": "KES",
    "phone": "0712 345 678",
    "reference": "INV1001",
    "description": "Order 1001",
    "metadata": {"order_id": 1001, "channel": "web", "vip": True, "score": 0.5, "none": None},
}


def body(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


def errors_of(data: dict[str, Any]) -> list[ErrorDetails]:
    with pytest.raises(ValidationError) as info:
        PaymentCreate.model_validate(data)
    return info.value.errors(include_url=False)


def fields_of(data: dict[str, Any]) -> list[tuple[str | int, ...]]:
    return [tuple(e["loc"]) for e in errors_of(data)]


def test_valid_body() -> None:
    p = PaymentCreate.model_validate(VALID)
    assert p.phone == "254712345678"
    assert p.amount == "150"
    assert p.amount_minor == 15_000
    assert p.reference == "INV1001"
    assert p.description == "Order 1001"
    assert p.metadata["order_id"] == 1001


def test_minimal_body() -> None:
    p = PaymentCreate.model_validate(
        {
            "method": "mpesa_stk",
            "amount": "1",
            "currency": "KES",
            "phone": "0110123456",
            "reference": "A",
        }
    )
    assert p.description is None
    assert p.metadata == {}
    assert p.amount_minor == 100
    assert p.phone == "254110123456"


@pytest.mark.parametrize("amount", ["250000", "250000.00", "1", "1.00"])
def test_amount_bounds_accepted(amount: str) -> None:
    assert PaymentCreate.model_validate(body(amount=amount)).amount == amount


def test_amount_as_json_number() -> None:
    errs = errors_of(body(amount=150))
    assert [e["loc"] for e in errs] == [("amount",)]
    assert errs[0]["type"] == "string_type"


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("1.5", "whole number of shillings"),
        ("0", "between 1 and 250000"),
        ("250001", "between 1 and 250000"),
        ("-5", "whole number of shillings"),
    ],
)
def test_bad_amount(amount: str, text: str) -> None:
    errs = errors_of(body(amount=amount))
    assert [e["loc"] for e in errs] == [("amount",)]
    assert text in errs[0]["msg"]


@pytest.mark.parametrize("phone", ["0812345678", "07123", "phone"])
def test_bad_phone(phone: str) -> None:
    errs = errors_of(body(phone=phone))
    assert [e["loc"] for e in errs] == [("phone",)]
    assert "Kenyan mobile number" in errs[0]["msg"]


@pytest.mark.parametrize("phone", ["0733123456", "0770123456", "0763123456", "0100123456"])
def test_non_safaricom_phone_for_stk(phone: str) -> None:
    errs = errors_of(body(phone=phone))
    assert len(errs) == 1
    assert "phone" in errs[0]["msg"]
    assert "Safaricom" in errs[0]["msg"]


@pytest.mark.parametrize("reference", ["ABCDEFGHIJKLM", "INV 1001", "INV-1", "", "ÄBC"])
def test_bad_reference(reference: str) -> None:
    assert fields_of(body(reference=reference)) == [("reference",)]


def test_reference_of_twelve_is_fine() -> None:
    assert PaymentCreate.model_validate(body(reference="ABCDEFGHIJKL")).reference == "ABCDEFGHIJKL"


@pytest.mark.parametrize("description", ["A" * 14, ""])
def test_bad_description(description: str) -> None:
    assert fields_of(body(description=description)) == [("description",)]


def test_description_of_thirteen_is_fine() -> None:
    assert PaymentCreate.model_validate(body(description="A" * 13)).description == "A" * 13


def test_unknown_field() -> None:
    errs = errors_of(body(customer="x"))
    assert [(e["loc"], e["type"]) for e in errs] == [(("customer",), "extra_forbidden")]


def test_currency_must_be_kes() -> None:
    assert fields_of(body(currency="USD")) == [("currency",)]


def test_method_must_be_mpesa_stk() -> None:
    assert fields_of(body(method="card")) == [("method",)]


@pytest.mark.parametrize("missing", ["method", "amount", "currency", "reference"])
def test_required_fields(missing: str) -> None:
    data = {k: v for k, v in VALID.items() if k != missing}
    errs = errors_of(data)
    assert [(e["loc"], e["type"]) for e in errs] == [((missing,), "missing")]


def test_phone_is_required_unless_a_till_pays() -> None:
    # The phone is optional to the schema (B2B Express Checkout collects from a till instead),
    # so its absence is the model's error, naming the field.
    errs = errors_of({k: v for k, v in VALID.items() if k != "phone"})
    assert [e["msg"] for e in errs] == ["Value error, phone: required"]
    till = {"till_number": "500100"}
    express = {**body(method="mpesa_b2b_express", till=till)}
    del express["phone"]
    assert PaymentCreate.model_validate(express).till is not None
    assert "till:" in errors_of({**express, "phone": "0712345678"})[0]["msg"]
    assert "till:" in errors_of(body(till=till))[0]["msg"]


def test_metadata_up_to_twenty_keys() -> None:
    twenty = {f"k{i}": i for i in range(20)}
    assert len(PaymentCreate.model_validate(body(metadata=twenty)).metadata) == 20


def test_metadata_more_than_twenty_keys() -> None:
    errs = errors_of(body(metadata={f"k{i}": i for i in range(21)}))
    assert [(e["loc"], e["type"]) for e in errs] == [(("metadata",), "too_long")]


def test_metadata_value_too_long() -> None:
    errs = errors_of(body(metadata={"note": "x" * 501}))
    assert [e["loc"] for e in errs] == [("metadata",)]
    assert "'note'" in errs[0]["msg"]


def test_metadata_nested_value_refused() -> None:
    errs = errors_of(body(metadata={"nested": {"a": 1}}))
    assert errs
    assert all(e["loc"][0] == "metadata" for e in errs)


def test_model_is_frozen() -> None:
    p = PaymentCreate.model_validate(VALID)
    with pytest.raises(ValidationError):
        p.amount = "200"  # type: ignore[misc]


def test_a_one_character_reference_makes_remarks_daraja_takes() -> None:
    """Daraja's Remarks need 2 to 100 characters; a payout's remarks default to its reference."""
    from api.payments import payout_command

    raw = {"method": "mpesa_b2c", "amount": "100", "currency": "KES", "phone": "0712345678"}
    body = PayoutCreate.model_validate({**raw, "reference": "A"})
    assert payout_command("m", "k", raw, body).description == "Payout A"
    body = PayoutCreate.model_validate({**raw, "reference": "AB"})
    assert payout_command("m", "k", raw, body).description == "AB"
