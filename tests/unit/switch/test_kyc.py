"""KYC rules (switch/kyc.py, switch/kyc_risk.py): formats, the risk score, four eyes."""

from __future__ import annotations

from typing import Any

import pytest

from switch import kyc
from switch.kyc_risk import POINTS, Found, assess


@pytest.mark.parametrize(
    ("raw", "label", "verified"),
    [
        ("PVT-AB12CD3", "private company", True),
        (" bn-x7y8z9q ", "business name", True),
        ("LLP-1234567", "limited liability partnership", False),
        ("C.123456", "company (pre-2019)", False),
        ("CPR/2011/54321", "company (pre-2019)", False),
    ],
)
def test_registration_numbers(raw: str, label: str, verified: bool) -> None:
    fmt = kyc.registration_format(raw)
    assert (fmt.label, fmt.verified) == (label, verified)
    assert kyc.registration_number(raw) == raw.strip().upper()


@pytest.mark.parametrize("raw", ["PVT-AB12", "PVT-AB12CD34", "XYZ-1234567", "BN 1234567", ""])
def test_bad_registration_numbers_say_the_format(raw: str) -> None:
    with pytest.raises(ValueError, match="PVT-XXXXXXX"):
        kyc.registration_number(raw)


def test_kra_pins_national_ids_and_phones() -> None:
    assert kyc.kra_pin("p051234567x") == "P051234567X"
    for bad in ("A12345678B", "1234567890B", "A1234567890", "AB23456789C"):
        with pytest.raises(ValueError, match="letter, 9 digits"):
            kyc.kra_pin(bad)
    assert kyc.national_id("1234567") == "1234567"
    assert kyc.national_id("12345678") == "12345678"
    for bad in ("123456", "123456789", "1234567a"):
        with pytest.raises(ValueError, match="7 or 8 digits"):
            kyc.national_id(bad)
    assert kyc.director_phone("0712 345 678") == "254712345678"
    with pytest.raises(ValueError, match="Kenyan mobile number"):
        kyc.director_phone("0812345678")
    assert kyc.duplicate_directors(["1234567", "7654321", "1234567"]) == [
        {"field": "directors.2.national_id", "reason": "a director is listed twice"}
    ]


def test_a_submission_needs_its_documents() -> None:
    assert (
        kyc.missing_documents(
            ["certificate_of_incorporation", "kra_pin_certificate", "director_id", "director_id"], 2
        )
        == []
    )
    missing = kyc.missing_documents(["director_id"], 2)
    assert [d["reason"] for d in missing] == [
        "a certificate_of_incorporation is required",
        "a kra_pin_certificate is required",
        "one director_id per director is required (1 of 2)",
    ]


# --- risk -------------------------------------------------------------------------------------


def codes(found: Found, number: str = "PVT-AB12CD3", pin: str = "P051234567X") -> list[str]:
    return [f["code"] for f in assess(number, pin, found).factors]


def test_a_clean_application_scores_zero_and_needs_one_reviewer() -> None:
    clean = assess("PVT-AB12CD3", "P051234567X", Found(sanctions={0: []}))
    assert (clean.score, clean.level, clean.approvals_needed) == (0, "low", 1)


def test_each_check_adds_its_points() -> None:
    hit = {"entry": "TEST-001", "name": "Barney Fictitia", "score": 1.0}
    found = Found(
        registration_merchants=["mch_b"],
        pin_merchants=["mch_c"],
        director_merchants={0: [], 1: ["mch_d"]},
        sanctions={0: [hit], 1: []},
        reused_documents=["digest"],
    )
    result = assess("CPR/2011/54321", "A012345678Z", found)
    assert [f["code"] for f in result.factors] == [
        "sanctions_hit",
        "duplicate_registration_number",
        "duplicate_kra_pin",
        "duplicate_director",
        "document_reused",
        "registration_format_unverified",
        "kra_pin_kind_mismatch",
    ]
    assert result.score == 100  # capped
    assert result.factors[0]["hits"] == [hit]
    assert result.factors[3]["director"] == 1


def test_the_threshold_decides_how_many_reviewers() -> None:
    below = assess("LLP-1234567", "P051234567X", Found(sanctions={}))  # 10 points
    assert (below.score, below.approvals_needed) == (POINTS["registration_format_unverified"], 1)
    shared_director = Found(sanctions={}, director_merchants={0: ["mch_x"]})
    assert assess("LLP-1234567", "A051234567X", shared_director).score == 40
    assert assess("LLP-1234567", "A051234567X", shared_director).approvals_needed == 2
    assert codes(Found(sanctions=None)) == ["sanctions_unscreened"]  # no list: two people
    assert assess("PVT-AB12CD3", "P051234567X", Found()).approvals_needed == 2
    # a business name may use its owner's personal PIN
    assert codes(Found(sanctions={}), "BN-1234567", "A051234567X") == []


# --- four eyes --------------------------------------------------------------------------------


def application(needed: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "status": "submitted",
        "created_by": "user:maker",
        "submitted_by": "user:submitter",
        "approvals_needed": needed,
        "approvals": [],
        **extra,
    }


def test_below_the_threshold_one_approval_verifies() -> None:
    step = kyc.decide(application(1), "approve", "operator:a", None, "t")
    assert isinstance(step, kyc.Step)
    assert (step.status, step.verified, step.record["decision"]) == ("approved", True, "approve")


def test_above_the_threshold_two_different_reviewers() -> None:
    app = application(2)
    first = kyc.decide(app, "approve", "operator:a", None, "t")
    assert isinstance(first, kyc.Step)
    assert (first.status, first.verified, first.record["decision"]) == (
        "submitted",
        False,
        "endorse",
    )
    app = {**app, **first.changes}
    again = kyc.decide(app, "approve", "operator:a", None, "t")
    assert again == kyc.Refused(409, "already_approved", "you approved this application already")
    second = kyc.decide(app, "approve", "operator:b", None, "t")
    assert isinstance(second, kyc.Step)
    assert (second.status, second.verified) == ("approved", True)
    assert second.changes["approvals"] == ["operator:a", "operator:b"]


@pytest.mark.parametrize("who", ["user:maker", "user:submitter"])
def test_nobody_decides_what_they_created_or_submitted(who: str) -> None:
    for decision in ("approve", "reject", "request_changes"):
        refused = kyc.decide(application(1), decision, who, "because", "t")  # type: ignore[arg-type]
        assert isinstance(refused, kyc.Refused)
        assert (refused.status, refused.code) == (403, "four_eyes_required")


def test_reject_and_request_changes_need_a_reason_and_end_the_round() -> None:
    app = application(2, approvals=["operator:a"])
    assert kyc.decide(app, "reject", "operator:b", " ", "t") == kyc.Refused(
        422, "reason_required", "a reason is required to reject or ask for changes"
    )
    rejected = kyc.decide(app, "reject", "operator:a", "director on a sanctions list", "t")
    assert isinstance(rejected, kyc.Step)
    assert (rejected.status, rejected.verified) == ("rejected", False)
    back = kyc.decide(app, "request_changes", "operator:b", "blurred ID", "t")
    assert isinstance(back, kyc.Step)
    assert back.status == "changes_requested"
    assert back.changes == {"reasons": ["blurred ID"], "approvals": []}


def test_only_an_application_in_review_is_decided() -> None:
    for status in ("draft", "changes_requested", "approved", "rejected"):
        refused = kyc.decide(application(1, status=status), "approve", "operator:a", None, "t")
        assert isinstance(refused, kyc.Refused)
        assert refused.code == "not_in_review"


def test_the_older_route_needs_two_operators_to_verify() -> None:
    assert kyc.merchant_decision(None, "operator:a") == (False, ["operator:a"])
    refused = kyc.merchant_decision({"approvals": ["operator:a"]}, "operator:a")
    assert isinstance(refused, kyc.Refused)
    assert refused.code == "four_eyes_required"
    assert kyc.merchant_decision({"approvals": ["operator:a"]}, "operator:b") == (
        True,
        ["operator:a", "operator:b"],
    )
