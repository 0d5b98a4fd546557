"""The checks of a KYC application that need no person, and the risk score made of them (pure).

Each check that finds something adds points (0-100 in all, capped); the score decides how many
reviewers the application needs (:data:`switch.kyc.TWO_REVIEWERS_FROM`). No check refuses an
application by itself: a fuzzy sanctions match or a shared director may be innocent, so people
decide, and the checks tell them what to look at.

| factor | points | why |
|---|---|---|
| ``sanctions_hit`` | 70 | a director's name matches the sanctions list |
| ``sanctions_unscreened`` | 30 | no list is configured: nobody was screened |
| ``duplicate_registration_number`` | 40 | another merchant applied with it |
| ``duplicate_kra_pin`` | 40 | another merchant applied with it |
| ``duplicate_director`` | 15 | a director's ID is on another merchant's application |
| ``document_reused`` | 30 | the same file was uploaded for another merchant |
| ``registration_format_unverified`` | 10 | a number shape we could not confirm (switch/kyc.py) |
| ``kra_pin_kind_mismatch`` | 15 | a company or LLP with an individual's PIN (``A...``) |

Directors sharing companies is common, hence the low weight of ``duplicate_director``; a
registration number or PIN is one business's, so another merchant holding it is either a second
account of the same business or a stolen identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from switch.kyc import approvals_needed, registration_format

POINTS: Mapping[str, int] = {
    "sanctions_hit": 70,
    "sanctions_unscreened": 30,
    "duplicate_registration_number": 40,
    "duplicate_kra_pin": 40,
    "duplicate_director": 15,
    "document_reused": 30,
    "registration_format_unverified": 10,
    "kra_pin_kind_mismatch": 15,
}


@dataclass(frozen=True, slots=True)
class Found:
    """What the I/O side found for one application: other merchants' applications sharing its
    identifiers, the sanctions hits per director (None: no list configured), reused files."""

    registration_merchants: Sequence[str] = ()
    pin_merchants: Sequence[str] = ()
    director_merchants: Mapping[int, Sequence[str]] = field(default_factory=dict)
    sanctions: Mapping[int, Sequence[Mapping[str, Any]]] | None = None
    reused_documents: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    score: int
    factors: tuple[dict[str, Any], ...]

    @property
    def approvals_needed(self) -> int:
        return approvals_needed(self.score)

    @property
    def level(self) -> str:
        return "high" if self.approvals_needed > 1 else "low"

    def as_doc(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "level": self.level,
            "approvals_needed": self.approvals_needed,
            "factors": list(self.factors),
        }


def _factor(code: str, message: str, **detail: Any) -> dict[str, Any]:
    return {"code": code, "points": POINTS[code], "message": message, **detail}


def _format_factors(registration_number: str, kra_pin: str) -> list[dict[str, Any]]:
    fmt = registration_format(registration_number)
    out = []
    if not fmt.verified:
        out.append(
            _factor(
                "registration_format_unverified",
                f"{fmt.label} number in a shape not confirmed against BRS documents",
            )
        )
    if fmt.entity in ("company", "llp") and kra_pin.startswith("A"):
        out.append(_factor("kra_pin_kind_mismatch", "a company with an individual's KRA PIN"))
    return out


def _duplicate_factors(found: Found) -> list[dict[str, Any]]:
    out = []
    if found.registration_merchants:
        out.append(
            _factor(
                "duplicate_registration_number",
                "another merchant applied with this registration number",
                merchants=sorted(found.registration_merchants),
            )
        )
    if found.pin_merchants:
        out.append(
            _factor(
                "duplicate_kra_pin",
                "another merchant applied with this KRA PIN",
                merchants=sorted(found.pin_merchants),
            )
        )
    for index, merchants in sorted(found.director_merchants.items()):
        if merchants:
            out.append(
                _factor(
                    "duplicate_director",
                    f"director {index + 1} is on another merchant's application",
                    director=index,
                    merchants=sorted(merchants),
                )
            )
    if found.reused_documents:
        out.append(
            _factor(
                "document_reused",
                "a document was uploaded for another merchant too",
                documents=sorted(found.reused_documents),
            )
        )
    return out


def _sanctions_factors(found: Found) -> list[dict[str, Any]]:
    if found.sanctions is None:
        return [_factor("sanctions_unscreened", "no sanctions list is configured")]
    return [
        _factor(
            "sanctions_hit",
            f"director {index + 1} matches the sanctions list",
            director=index,
            hits=list(hits),
        )
        for index, hits in sorted(found.sanctions.items())
        if hits
    ]


def assess(registration_number: str, kra_pin: str, found: Found) -> Assessment:
    """The checks and the score of one application."""
    factors = [
        *_sanctions_factors(found),
        *_duplicate_factors(found),
        *_format_factors(registration_number, kra_pin),
    ]
    score = min(100, sum(int(f["points"]) for f in factors))
    return Assessment(score, tuple(factors))
