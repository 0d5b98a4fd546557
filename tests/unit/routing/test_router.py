"""Smart routing: candidates from the destination, preferences, failover while a provider is
down, and clear refusals."""

from __future__ import annotations

from routing.router import NoRoute, Preferences, Route, candidates, choose

SAFARICOM = "254712345678"
AIRTEL = "254733123456"
TELKOM = "254771234567"
KES = 100


def _choose(phone: str = "", dest: dict | None = None, amount: int = 500 * KES, **kw) -> Route:
    route = choose(
        kw.pop("requested", "auto"),
        kw.pop("direction", "payout"),
        dest or {},
        phone,
        amount,
        kw.pop("prefs", Preferences()),
        kw.pop("down", ()),
    )
    assert isinstance(route, Route), route
    return route


def test_a_phone_payout_goes_to_its_operators_wallet() -> None:
    assert _choose(SAFARICOM).method == "mpesa_b2c"
    assert _choose(AIRTEL).method == "airtel_payout"
    assert "Safaricom" in _choose(SAFARICOM).reason


def test_a_telkom_number_is_paid_through_the_pesalink_directory() -> None:
    assert _choose(TELKOM).method == "bank_transfer"


def test_collections_follow_the_operator() -> None:
    assert _choose(SAFARICOM, direction="collection").method == "mpesa_stk"
    assert _choose(AIRTEL, direction="collection").method == "airtel_ussd"


def test_bank_and_sacco_destinations() -> None:
    assert _choose(dest={"bank_code": "68", "account_number": "0123456789"}).method == (
        "bank_transfer"
    )
    assert _choose(dest={"sacco_code": "STIMA", "member_number": "1"}).method == "sacco"


def test_failover_while_the_providers_circuit_is_open() -> None:
    route = _choose(SAFARICOM, down={"mpesa"})
    assert route.method == "bank_transfer"
    assert route.reason.startswith("failover:")
    assert "M-Pesa B2C" in route.reason


def test_no_failover_when_the_merchant_turned_it_off() -> None:
    route = _choose(SAFARICOM, down={"mpesa"}, prefs=Preferences(failover=False))
    assert route.method == "mpesa_b2c"
    assert "no failover" in route.reason


def test_collections_have_no_failover_rail() -> None:
    route = _choose(SAFARICOM, direction="collection", down={"mpesa"})
    assert route.method == "mpesa_stk"


def test_preferences_reorder_and_avoid() -> None:
    assert _choose(SAFARICOM, prefs=Preferences(prefer=("bank_transfer",))).method == (
        "bank_transfer"
    )
    assert _choose(SAFARICOM, prefs=Preferences(avoid=frozenset({"mpesa_b2c"}))).method == (
        "bank_transfer"
    )


def test_an_amount_beyond_the_wallet_limit_goes_to_the_bank() -> None:
    assert _choose(SAFARICOM, amount=300_000 * KES).method == "bank_transfer"


def test_an_explicit_method_is_never_switched() -> None:
    route = _choose(SAFARICOM, requested="mpesa_b2c", down={"mpesa"})
    assert route.method == "mpesa_b2c"


def test_refusals_name_the_field() -> None:
    telkom = choose("auto", "collection", {}, TELKOM, 100 * KES, Preferences(), ())
    assert isinstance(telkom, NoRoute)
    assert telkom.field == "phone"
    assert "Telkom" in telkom.reason
    too_big = choose("auto", "payout", {}, SAFARICOM, 2_000_000 * KES, Preferences(), ())
    assert isinstance(too_big, NoRoute)
    assert too_big.field == "amount"


def test_candidates_and_preferences_from_a_document() -> None:
    assert candidates("payout", {}, AIRTEL) == ("airtel_payout", "bank_transfer")
    prefs = Preferences.from_doc({"prefer": ["bank_transfer", "nonsense"], "failover": False})
    assert prefs.prefer == ("bank_transfer",)
    assert prefs.failover is False
