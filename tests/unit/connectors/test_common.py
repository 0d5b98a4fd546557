"""The connectors' shared parts: one token, one refusal value, one set of wire-value readers; and
what each connector's mapping onto them must keep (no endless token, no negative payment)."""

from __future__ import annotations

import pickle
from decimal import Decimal
from typing import Any

import orjson
import pytest

import connectors.airtel as airtel
import connectors.mpesa as mpesa
import connectors.pesalink as pesalink
from connectors import common
from connectors.common import AccessToken, ProviderError, Refusal
from connectors.http import HttpResponse
from connectors.mpesa.c2b import parse_c2b_payment
from connectors.pesalink.connector import DEFAULT_TOKEN_LIFETIME, TOKEN_SAFETY_MARGIN
from connectors.sacco.api import ApiError, SaccoApiConnector, parse_amount
from connectors.sacco.registry import sandbox_registry


def answer(status: int, body: Any) -> HttpResponse:
    return HttpResponse(status, orjson.dumps(body))


# --- one token, one refusal ---------------------------------------------------------------


def test_every_payment_connector_names_the_same_token_and_refusal() -> None:
    assert mpesa.AccessToken is airtel.AccessToken is pesalink.AccessToken is AccessToken
    assert mpesa.ProviderError is airtel.ProviderError is pesalink.ProviderError is ProviderError
    assert mpesa.ErrorKind is airtel.ErrorKind is pesalink.ErrorKind is common.ErrorKind


def test_a_token_hides_its_value_and_lasts_until_its_margin() -> None:
    token = AccessToken.lasting("s3cr3t", lifetime=3599, now=1_000.0, margin=60)
    assert token == AccessToken("s3cr3t", 1_000.0 + 3599 - 60)
    assert "s3cr3t" not in repr(token)
    assert token.is_valid(4_538.9) and not token.is_valid(4_539.0)
    # A lifetime shorter than the margin gives a token that is stale at once, never one that
    # expired before it was issued.
    assert AccessToken.lasting("t", lifetime=30, now=5.0, margin=60).expires_at == 5.0


def test_sacco_refusals_share_the_shape_but_not_the_vocabulary() -> None:
    sacco = ApiError("declined", "error.msg.savingsaccount.dormant", "dormant", 403)
    wallet = ProviderError("rejected", "400.002.02", "Bad Request", 400)
    assert isinstance(sacco, Refusal) and isinstance(wallet, Refusal)
    assert not isinstance(sacco, ProviderError)
    # Equal fields in another vocabulary are another value.
    assert ApiError("unknown", "c", "m", 500) != ProviderError("unknown", "c", "m", 500)
    assert repr(sacco).startswith("ApiError(kind='declined'")


@pytest.mark.parametrize(
    "value",
    [ProviderError("duplicate", "500.002.1001", "dup", 500), ApiError("auth", "http_401", "", 401)],
)
def test_refusals_cross_process_boundaries_intact(value: Refusal[Any]) -> None:
    """Ray pickles what an actor returns."""
    assert pickle.loads(pickle.dumps(value)) == value  # noqa: S301 (our own bytes)


def test_bare_answers_are_described() -> None:
    assert common.describe_bare(HttpResponse(502, b"")) == "HTTP 502 with an empty body"
    assert common.describe_bare(HttpResponse(500, b"<html>")) == (
        "HTTP 500 with an unrecognised body (6 bytes)"
    )


# --- value readers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(" TS ", "TS"), (42, "42"), (7.0, "7"), (1.5, "1.5"), (True, ""), (None, ""), ({}, "")],
)
def test_text(value: Any, expected: str) -> None:
    assert common.text(value) == expected


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        ("500.00", {}, 50_000),
        (500, {}, 50_000),
        (500.5, {}, 50_050),
        (0.1, {}, 10),  # the float's shortest text, not its binary value
        ("1,500.25", {"grouped": True}, 150_025),
        ("-1980.00", {"signed": True}, -198_000),
    ],
)
def test_cents(value: Any, kwargs: dict[str, bool], expected: int) -> None:
    assert common.cents(value, **kwargs) == expected


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        ("1.005", {}, "more than two decimals"),
        ("1,500.00", {}, "not a number"),
        ("-5", {}, "negative"),
        ("Infinity", {}, "not a finite number"),
        ("NaN", {"signed": True}, "not a finite number"),
        (True, {}, "not a number"),
        ("", {}, "not a number"),
    ],
)
def test_cents_refusals(value: Any, kwargs: dict[str, bool], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        common.cents(value, **kwargs)


def test_whole_and_decimal_text() -> None:
    assert common.whole("1.00") == 1
    with pytest.raises(ValueError, match="not a whole number"):
        common.whole(1.5)
    assert common.exact_number(" 3 ") == Decimal(3)
    assert [common.decimal_text(c) for c in (150_050, 5, -150)] == ["1500.50", "0.05", "-1.50"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3599", 3599.0), (180, 180.0), ("inf", None), ("NaN", None), ("-5", None), (True, None)],
)
def test_seconds(value: Any, expected: float | None) -> None:
    assert common.seconds(value) == expected


# --- what the connectors' mappings keep --------------------------------------------------------


@pytest.mark.parametrize("expires_in", ["inf", "Infinity", "nan"])
def test_a_daraja_token_never_lives_forever(expires_in: str) -> None:
    """``float("inf")`` was taken as a lifetime: the token was cached for ever, and every
    request after its real expiry was refused."""
    daraja = mpesa.DarajaConnector(
        mpesa.DarajaAccount("https://sandbox.safaricom.co.ke", "k", "s", "174379", "p")
    )
    parsed = daraja.parse_token(answer(200, {"access_token": "t", "expires_in": expires_in}), 0.0)
    assert isinstance(parsed, ProviderError)
    assert parsed.kind == "retriable"


@pytest.mark.parametrize(("expires_in", "lifetime"), [("inf", None), ("-5", 0.0), (-5, 0.0)])
def test_a_pesalink_token_never_lives_forever(expires_in: Any, lifetime: float | None) -> None:
    bank = pesalink.PesaLinkConnector(
        pesalink.PesaLinkAccount(
            "https://bank.example", "key", "6146647020", "secret", b"pem", "0011", "Jane"
        )
    )
    parsed = bank.parse_token(answer(200, {"accessToken": "t", "expiresIn": expires_in}), 1e9)
    # Not a number: the default lifetime; below zero: stale at once.
    expected = DEFAULT_TOKEN_LIFETIME - TOKEN_SAFETY_MARGIN if lifetime is None else lifetime
    assert parsed == AccessToken("t", 1e9 + expected)


def test_a_c2b_payment_of_a_negative_amount_is_malformed() -> None:
    """A confirmation saying a customer paid -50 shillings is not a payment to record."""
    body = {"TransID": "RKL51ZDR4F", "TransAmount": "-50.00", "OrgAccountBalance": "-25.00"}
    with pytest.raises(mpesa.MalformedC2b, match="TransAmount"):
        parse_c2b_payment(orjson.dumps(body))
    # A balance may be below zero.
    body["TransAmount"] = "50.00"
    assert parse_c2b_payment(orjson.dumps(body)).org_account_balance_cents == -2_500


def test_a_sacco_amount_of_infinity_is_refused_not_a_crash() -> None:
    """``int(Decimal("Infinity"))`` raised OverflowError, which no caller catches."""
    with pytest.raises(ValueError, match="not a finite number"):
        parse_amount("Infinity")
    loan = {"id": 7, "accountNo": "L7", "status": {"active": True}, "loanBalance": "Infinity"}
    connector = SaccoApiConnector(sandbox_registry("https://core.example/api/v1")["STIMA"])
    accounts = connector.parse_accounts(
        answer(200, {"savingsAccounts": [], "loanAccounts": [loan]})
    )
    assert not isinstance(accounts, ApiError)
    assert accounts.loans[0].outstanding_minor is None  # unreadable: the SACCO decides
