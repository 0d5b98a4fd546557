"""What every connector shares once its wire is read: the access token, the refusal value and the
small readers of wire values (amounts, lifetimes, text). Pure: no I/O, no clock.

Each connector keeps its own wire knowledge (which fields carry a code and a message, which codes
mean what) and maps onto these types, so a gateway reads every provider's refusal the same way.
The readers raise ``ValueError`` with the value in the message; a connector turns that into its
own ``MalformedCallback``-style error where a body breaks the contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, Literal, TypeVar

from connectors.http import HttpResponse

# Kenya is UTC+3 all year (no DST); providers stamp their times in it.
EAT = timezone(timedelta(hours=3), "EAT")

ErrorKind = Literal["invalid_token", "retriable", "rejected", "unknown", "duplicate"]
"""What a refusal lets a gateway do next (connectors.gateway reads it):

* ``invalid_token``: refresh the token and resend; the request was proven not processed.
* ``retriable``: not accepted; may be resent after a backoff.
* ``rejected``: final; nothing happened.
* ``unknown``: the provider MAY have acted; ask for the status, never resend blind.
* ``duplicate``: the provider already holds a request with our id; ask for its status, never
  resend.
"""

K = TypeVar("K", bound=str)


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str
    expires_at: float  # epoch seconds (time.time()), already shortened by a safety margin

    def __repr__(self) -> str:
        # A bearer token is a secret: keep it out of logs and error messages.
        return f"AccessToken(value='***', expires_at={self.expires_at})"

    def is_valid(self, now: float) -> bool:
        return now < self.expires_at

    @classmethod
    def lasting(cls, value: str, lifetime: float, now: float, margin: float) -> AccessToken:
        """A token the provider says lives ``lifetime`` seconds from ``now``, given up ``margin``
        seconds early so a request never reaches the provider with a token its clock calls dead;
        a lifetime shorter than the margin gives a token that is stale at once."""
        return cls(value, now + max(lifetime - margin, 0.0))


@dataclass(frozen=True, slots=True)
class Refusal(Generic[K]):
    """An answer that is not what was asked for, in a provider's ``kind`` vocabulary.

    A provider decline is a value, never an exception.
    """

    kind: K
    code: str  # the provider's code as text, '' when the answer carried none
    message: str  # the provider's text (secrets removed), or a description of the bare answer
    http_status: int


class ProviderError(Refusal[ErrorKind]):
    """A refusal in the vocabulary of :data:`ErrorKind`, the one every payment gateway reads."""

    __slots__ = ()


def describe_bare(resp: HttpResponse) -> str:
    """The message of an answer that carried no readable one of its own."""
    if not resp.body:
        return f"HTTP {resp.status} with an empty body"
    return f"HTTP {resp.status} with an unrecognised body ({len(resp.body)} bytes)"


# --- value readers -------------------------------------------------------------------------------


def text(value: Any) -> str:
    """A string (stripped), or a number as text; '' for anything else.

    Codes and ids arrive as strings in one sample and as numbers in another; a float that is a
    whole number reads as that integer (``1.0`` -> ``'1'``), JSON booleans and null read as ''.
    """
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else str(value)
    return ""


def exact_number(value: Any, *, grouped: bool = False) -> Decimal:
    """A JSON number or a numeric string as an exact, finite Decimal; ValueError otherwise.

    ``grouped``: thousands separators are allowed (``"1,500.00"``), as some providers send them.
    Floats are read through their shortest text, so ``0.1`` is exactly one tenth.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    raw = str(value).strip()
    try:
        exact = Decimal(raw.replace(",", "") if grouped else raw)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not exact.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return exact


def cents(value: Any, *, grouped: bool = False, signed: bool = False) -> int:
    """An amount in major units (``"500.00"``, ``500``, ``500.5``) as integer cents, exactly;
    ValueError beyond two decimals, and for a negative amount unless ``signed``."""
    exact = exact_number(value, grouped=grouped) * 100
    if exact != exact.to_integral_value():
        raise ValueError(f"{value!r} has more than two decimals")
    if exact < 0 and not signed:
        raise ValueError(f"{value!r} is negative")
    return int(exact)


def whole(value: Any) -> int:
    """An exact whole number from a JSON number or numeric string (``1.00`` -> 1)."""
    exact = exact_number(value)
    if exact != exact.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    return int(exact)


def decimal_text(amount_cents: int) -> str:
    """Integer cents as a decimal string with two decimals: 150050 -> ``'1500.50'``."""
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise ValueError("an amount in cents must be an integer")
    sign = "-" if amount_cents < 0 else ""
    major, minor = divmod(abs(amount_cents), 100)
    return f"{sign}{major}.{minor:02d}"


def seconds(value: Any) -> float | None:
    """A lifetime such as ``expires_in`` (``"3599"`` or ``3599``) in seconds; None unless it is a
    finite number >= 0 (an ``"inf"`` would keep a token forever)."""
    try:
        exact = exact_number(value)
    except ValueError:
        return None
    return float(exact) if exact >= 0 else None
