"""The request models of benefit programmes (api/benefits.py, api/benefits_runs.py), the CSV
columns of a registry upload, and the ids the switch gives programmes, beneficiaries and runs."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, model_validator

from api.bills_common import Shillings
from api.models import BankAccount, _amount_in_limits
from switch.benefits import Status, national_id, person_name
from switch.benefits_names import DEFAULT_THRESHOLD
from switch.phone import normalise_msisdn

# switch/benefits.py RAILS: wallets paid to the phone, or an account named in ``payout``.
Rail = Literal["mpesa_b2c", "airtel_payout", "bank_transfer", "sacco"]
NationalId = Annotated[
    StrictStr,
    AfterValidator(national_id),
    Field(description="Kenyan national ID number (6 to 9 digits).", examples=["23456789"]),
]
PersonName = Annotated[StrictStr, AfterValidator(person_name), Field(examples=["Jane Wanjiku Doe"])]
Phone = Annotated[
    StrictStr, AfterValidator(normalise_msisdn), Field(description="Any Kenyan form.")
]

UPLOAD_COLUMNS = (
    "national_id",
    "phone",
    "name",
    "amount",
    "method",
    "bank_code",
    "account_number",
    "sacco_code",
    "member_number",
    "eligible_from",
)
UPLOAD_REQUIRED = ("national_id", "phone", "name")


class ProgrammeCreate(BaseModel):
    """A benefits programme: who pays what to whom each calendar month (Africa/Nairobi)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=2, max_length=80)] = Field(examples=["Inua Jamii"])
    rail: Rail = Field(description="How beneficiaries are paid unless their own record says.")
    amount: Shillings = Field(description="Whole KES per beneficiary per cycle.")
    reference: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,20}$")] = Field(
        description="Starts each payout's reference (then the cycle): 'CT-OVC' -> 'CT-OVC 2026-12'."
    )
    name_match_threshold: float = Field(
        DEFAULT_THRESHOLD,
        ge=0.5,
        le=1.0,
        description="How close the destination's registered name must be (1.0: the same words).",
    )

    @model_validator(mode="after")
    def _limits(self) -> ProgrammeCreate:
        _amount_in_limits(self.amount, (self.rail,))
        return self


class SaccoMember(BaseModel):
    """A SACCO member account a benefit is deposited into."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sacco_code: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,12}$")] = Field(examples=["STIMA"])
    member_number: Annotated[str, Field(pattern=r"^[A-Za-z0-9/-]{1,20}$")] = Field(
        examples=["10002"]
    )


class PayoutTo(BaseModel):
    """Where a beneficiary is paid: ``mpesa_b2c`` or ``airtel_payout`` pay the phone,
    ``bank_transfer`` a bank account (``bank``), ``sacco`` a member account (``sacco``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Rail
    bank: BankAccount | None = None
    sacco: SaccoMember | None = None

    @model_validator(mode="after")
    def _account(self) -> PayoutTo:
        if (self.method == "bank_transfer") != (self.bank is not None):
            raise ValueError("bank_transfer takes a bank account (bank), and only it")
        if (self.method == "sacco") != (self.sacco is not None):
            raise ValueError("sacco takes a member account (sacco), and only it")
        return self

    def as_doc(self) -> dict[str, str]:
        """The ``payout`` stored on a beneficiary (switch/benefits.py ACCOUNT_FIELDS)."""
        doc: dict[str, str] = {"method": self.method}
        if self.bank is not None:
            doc |= {"bank_code": self.bank.bank_code, "account_number": self.bank.account_number}
        if self.sacco is not None:
            doc |= {"sacco_code": self.sacco.sacco_code, "member_number": self.sacco.member_number}
        return doc


class BeneficiaryCreate(BaseModel):
    """A person registered in a programme; the national ID and the phone are registered once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    national_id: NationalId
    phone: Phone
    name: PersonName
    amount: Shillings | None = Field(None, description="Overrides the programme's amount.")
    payout: PayoutTo | None = Field(None, description="Defaults to the programme's rail.")
    eligible_from: date | None = Field(None, description="Defaults to today (Nairobi).")


class EligibilityChange(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Status
    effective: date
    reason: Annotated[str, Field(min_length=2, max_length=200)]


class BeneficiaryChange(BaseModel):
    """Change a beneficiary: contact, payout or eligibility (at least one)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    phone: Phone | None = None
    name: PersonName | None = None
    payout: PayoutTo | None = None
    eligibility: EligibilityChange | None = None

    @model_validator(mode="after")
    def _some(self) -> BeneficiaryChange:
        if all(v is None for v in (self.phone, self.name, self.payout, self.eligibility)):
            raise ValueError("give phone, name, payout or eligibility")
        return self


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cycle: Annotated[str, Field(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$")] = Field(
        description="The calendar month (Africa/Nairobi) paid, YYYY-MM.", examples=["2026-12"]
    )


def row_body(row: dict[str, str]) -> dict[str, Any]:
    """The create body a CSV row stands for (empty cells left out)."""
    body: dict[str, Any] = {k: row[k] for k in UPLOAD_REQUIRED if row.get(k)}
    for key in ("amount", "eligible_from"):
        if row.get(key):
            body[key] = row[key]
    if row.get("method"):
        payout: dict[str, Any] = {"method": row["method"]}
        if row.get("bank_code") or row.get("account_number"):
            payout["bank"] = {
                "bank_code": row.get("bank_code", ""),
                "account_number": row.get("account_number", ""),
            }
        if row.get("sacco_code") or row.get("member_number"):
            payout["sacco"] = {
                "sacco_code": row.get("sacco_code", ""),
                "member_number": row.get("member_number", ""),
            }
        body["payout"] = payout
    return body


def _digest(secret_key: bytes, text: str) -> str:
    return hmac.new(secret_key, text.encode(), hashlib.sha256).hexdigest()


def programme_id(secret_key: bytes, merchant_id: str, key: str) -> str:
    return "bpg_" + _digest(secret_key, f"benefit-programme:{merchant_id}:{key}")[:26]


def beneficiary_id(secret_key: bytes, programme: str, national: str) -> str:
    """One id per person and programme: a keyed hash, so it says nothing of the ID number."""
    return "ben_" + _digest(secret_key, f"beneficiary:{programme}:{national}")[:26]


def run_id(secret_key: bytes, merchant_id: str, key: str) -> str:
    return "brn_" + _digest(secret_key, f"benefit-run:{merchant_id}:{key}")[:26]
