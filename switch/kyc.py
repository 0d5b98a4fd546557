"""Merchant onboarding with KYC (pure): the formats of a Kenyan business's identifiers, an
application's life, and the four-eyes rules of its review. The automated checks and the risk
score are in :mod:`switch.kyc_risk`, the uploaded files' checks in :mod:`switch.kyc_files`; the
MongoDB side is :mod:`infra.kyc_store`, the routes :mod:`api.kyc` and :mod:`api.kyc_review`.

An application moves through::

    draft --submit--> submitted --approve (last approval)--> approved
      ^                  |  |----reject------------------> rejected
      |                  |  `----approve (more needed)----> submitted (an endorsement)
      `--edit/submit-- changes_requested <--request_changes--'

Only ``draft`` and ``changes_requested`` may be edited or receive documents. A submission is
assessed (checks, risk score) and needs one approval below :data:`TWO_REVIEWERS_FROM`, two by
different people at or above it. Four eyes: whoever created or submitted an application never
decides it; the same reviewer never approves twice; a rejection or a request for changes needs
a reason, and one of either ends the round. Approval makes the merchant ``verified`` (it never
lifts a suspension); nothing else changes its KYC state.

Formats (Kenya's Business Registration Service, BRS, and the Kenya Revenue Authority, KRA).
None was checked against a published specification; the shapes are those printed on BRS
certificates and KRA PIN certificates:

- ``PVT-XXXXXXX`` private company and ``BN-XXXXXXX`` business name (7 letters or digits after
  the prefix): the current BRS (eCitizen) numbers;
- ``PUB-``, ``CLG-`` (company limited by guarantee) and ``LLP-`` with the same tail, and the
  pre-2019 company numbers ``C.123456`` and ``CPR/2011/123456``: **unverified** shapes, accepted
  but counted in the risk score (``registration_format_unverified``);
- KRA PIN: a letter, 9 digits, a letter (``A123456789B``). ``A`` for individuals and ``P`` for
  companies and other bodies is the common reading (unverified): a company with an ``A`` PIN
  counts in the risk score;
- a Kenyan national ID number: 7 or 8 digits; phones as :mod:`switch.phone` accepts them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from switch.phone import normalise_msisdn

Status = Literal["draft", "submitted", "changes_requested", "approved", "rejected"]
EDITABLE: frozenset[str] = frozenset({"draft", "changes_requested"})
DocumentKind = Literal["certificate_of_incorporation", "kra_pin_certificate", "director_id"]
DOCUMENT_KINDS: tuple[str, ...] = (
    "certificate_of_incorporation",
    "kra_pin_certificate",
    "director_id",
)
Decision = Literal["approve", "reject", "request_changes"]

# Risk at or above this needs two different reviewers (0-100; see switch/kyc_risk.py).
TWO_REVIEWERS_FROM = 30
MAX_DIRECTORS = 10
MAX_DOCUMENTS = 20
MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class RegistrationFormat:
    prefix: str
    pattern: re.Pattern[str]
    entity: str  # company, business_name, llp
    label: str
    verified: bool  # False: a shape from memory, not from a BRS document in hand


_TAIL = r"[A-Z0-9]{7}"
REGISTRATION_FORMATS: tuple[RegistrationFormat, ...] = (
    RegistrationFormat("PVT", re.compile(rf"^PVT-{_TAIL}$"), "company", "private company", True),
    RegistrationFormat("BN", re.compile(rf"^BN-{_TAIL}$"), "business_name", "business name", True),
    RegistrationFormat("PUB", re.compile(rf"^PUB-{_TAIL}$"), "company", "public company", False),
    RegistrationFormat(
        "CLG", re.compile(rf"^CLG-{_TAIL}$"), "company", "company limited by guarantee", False
    ),
    RegistrationFormat(
        "LLP", re.compile(rf"^LLP-{_TAIL}$"), "llp", "limited liability partnership", False
    ),
    RegistrationFormat(
        "C.", re.compile(r"^C\.[0-9]{1,7}$"), "company", "company (pre-2019)", False
    ),
    RegistrationFormat(
        "CPR",
        re.compile(r"^CPR/(19|20)[0-9]{2}/[0-9]{1,7}$"),
        "company",
        "company (pre-2019)",
        False,
    ),
)
_KRA_PIN = re.compile(r"^[A-Z][0-9]{9}[A-Z]$")
_NATIONAL_ID = re.compile(r"^[0-9]{7,8}$")


def registration_format(raw: str) -> RegistrationFormat:
    """The BRS format a registration number has (upper-cased, spaces trimmed), or ValueError."""
    number = raw.strip().upper()
    for fmt in REGISTRATION_FORMATS:
        if fmt.pattern.match(number):
            return fmt
    raise ValueError(
        "must be a BRS registration number: PVT-XXXXXXX (company) or BN-XXXXXXX (business "
        "name), 7 letters or digits after the dash; PUB-, CLG-, LLP-, C.123456 and "
        "CPR/2011/123456 are accepted too"
    )


def registration_number(raw: str) -> str:
    registration_format(raw)
    return raw.strip().upper()


def kra_pin(raw: str) -> str:
    pin = raw.strip().upper()
    if not _KRA_PIN.match(pin):
        raise ValueError("must be a KRA PIN: a letter, 9 digits and a letter (A123456789B)")
    return pin


def national_id(raw: str) -> str:
    number = raw.strip()
    if not _NATIONAL_ID.match(number):
        raise ValueError("must be a Kenyan national ID number: 7 or 8 digits")
    return number


def director_phone(raw: str) -> str:
    return normalise_msisdn(raw)


def legal_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not 2 <= len(name) <= 160:
        raise ValueError("must be 2 to 160 characters")
    return name


def person_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not 3 <= len(name) <= 120 or not any(c.isalpha() for c in name):
        raise ValueError("must be 3 to 120 characters, with letters")
    return name


def duplicate_directors(national_ids: Sequence[str]) -> list[dict[str, str]]:
    """Details for a director named twice in one application (by national ID)."""
    seen: set[str] = set()
    details = []
    for i, number in enumerate(national_ids):
        if number in seen:
            details.append(
                {"field": f"directors.{i}.national_id", "reason": "a director is listed twice"}
            )
        seen.add(number)
    return details


# --- submission -------------------------------------------------------------------------------


def missing_documents(kinds: Sequence[str], directors: int) -> list[dict[str, str]]:
    """What a submission still lacks: a certificate of incorporation (or of registration, for
    a business name: the same kind), the KRA PIN certificate, and one ID per director."""
    details = []
    for kind in ("certificate_of_incorporation", "kra_pin_certificate"):
        if kind not in kinds:
            details.append({"field": "documents", "reason": f"a {kind} is required"})
    ids = sum(1 for k in kinds if k == "director_id")
    if ids < directors:
        details.append(
            {
                "field": "documents",
                "reason": f"one director_id per director is required ({ids} of {directors})",
            }
        )
    return details


def approvals_needed(score: int) -> int:
    return 2 if score >= TWO_REVIEWERS_FROM else 1


# --- the review: four eyes ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refused:
    status: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Step:
    """What a decision does to the application: fields to set and the decision to append."""

    status: str
    record: dict[str, Any]
    verified: bool = False  # the merchant becomes verified
    changes: dict[str, Any] = field(default_factory=dict)


def makers(app: Mapping[str, Any]) -> set[str]:
    """Who may never decide this application: whoever created or submitted it."""
    return {p for p in (app.get("created_by"), app.get("submitted_by")) if p}


def decide(
    app: Mapping[str, Any], decision: Decision, reviewer: str, reason: str | None, at: Any
) -> Step | Refused:
    """A reviewer's decision on an application, under the four-eyes rules (module docstring)."""
    if app.get("status") != "submitted":
        return Refused(
            409, "not_in_review", f"the application is {app.get('status')}, not in review"
        )
    if reviewer in makers(app):
        return Refused(
            403,
            "four_eyes_required",
            "you created or submitted this application: another person must decide it",
        )
    if decision != "approve" and not (reason or "").strip():
        return Refused(422, "reason_required", "a reason is required to reject or ask for changes")
    record = {"decision": decision, "by": reviewer, "at": at, "reason": reason}
    if decision == "reject":
        return Step("rejected", record, changes={"reasons": [reason]})
    if decision == "request_changes":
        return Step("changes_requested", record, changes={"reasons": [reason], "approvals": []})
    approvals = list(app.get("approvals") or [])
    if reviewer in approvals:
        return Refused(409, "already_approved", "you approved this application already")
    approvals.append(reviewer)
    needed = int(app.get("approvals_needed") or 2)
    if len(approvals) < needed:
        return Step(
            "submitted", {**record, "decision": "endorse"}, changes={"approvals": approvals}
        )
    return Step("approved", record, verified=True, changes={"approvals": approvals})


def merchant_decision(
    pending: Mapping[str, Any] | None, operator: str, needed: int = 2
) -> tuple[bool, list[str]] | Refused:
    """The legacy ``PUT /v1/operator/merchants/{id}/kyc`` ``verified``: it carries no risk
    assessment, so it counts as above the threshold (two operators). ``pending``: the open
    proposal ``{"approvals": [...]}`` or None. Returns (applies now, approvals so far)."""
    approvals = list((pending or {}).get("approvals") or [])
    if operator in approvals:
        return Refused(
            403, "four_eyes_required", "you proposed this already: another operator must confirm it"
        )
    approvals.append(operator)
    return len(approvals) >= needed, approvals
